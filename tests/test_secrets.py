"""Secret sealing: round trips, tamper and wrong-key refusal, masking, keyring loading."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from pydantic import BaseModel, SecretStr

from aiwf.schemas.masking import mask_fields
from aiwf.schemas.secrets import (
    MASK,
    SEALED_PREFIX,
    Keyring,
    KeyringError,
    Secret,
    SecretTooLarge,
    SecretUnsealError,
    dump_sealed,
    generate,
    is_sealed,
    mask,
    seal,
    secret_field_names,
    unseal,
    unseal_fields,
)


class LoginRequested(BaseModel):
    """A sample event with one required and one optional secret."""

    username: str
    password: Secret
    api_key: Secret | None = None


PLAINTEXT = "correct horse battery staple"


def test_round_trip() -> None:
    """A sealed value unseals to the original text with the recipient's private key."""
    key = PrivateKey.generate()
    token = seal(PLAINTEXT, key.public_key)
    assert token.startswith(SEALED_PREFIX)
    assert unseal(token, key) == PLAINTEXT


def test_round_trip_unicode_and_raw_bytes_keys() -> None:
    """Non-ASCII secrets survive, and raw 32-byte keys work as well as key objects."""
    key = PrivateKey.generate()
    token = seal("pässwörd-🔑", bytes(key.public_key))
    assert unseal(token, bytes(key)) == "pässwörd-🔑"


def test_sealing_is_randomised() -> None:
    """Two seals of the same text differ, so equal secrets cannot be spotted in a stream."""
    key = PrivateKey.generate()
    assert seal(PLAINTEXT, key.public_key) != seal(PLAINTEXT, key.public_key)


def test_no_plaintext_in_sealed_output() -> None:
    """Neither the plaintext nor its base64 appears in the sealed value."""
    key = PrivateKey.generate()
    token = seal(PLAINTEXT, key.public_key)
    assert PLAINTEXT not in token
    assert base64.b64encode(PLAINTEXT.encode()).decode() not in token
    assert "horse" not in token


def test_tamper_detected() -> None:
    """Flipping one ciphertext byte makes unseal raise SecretUnsealError."""
    key = PrivateKey.generate()
    token = seal(PLAINTEXT, key.public_key)
    raw = bytearray(base64.b64decode(token[len(SEALED_PREFIX) :]))
    raw[-1] ^= 0x01
    tampered = SEALED_PREFIX + base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SecretUnsealError, match="tampered"):
        unseal(tampered, key)


def test_truncated_and_garbage_refused() -> None:
    """Truncated, non-base64 or unprefixed values are refused with SecretUnsealError."""
    key = PrivateKey.generate()
    token = seal(PLAINTEXT, key.public_key)
    with pytest.raises(SecretUnsealError):
        unseal(token[:-8], key)
    with pytest.raises(SecretUnsealError, match="base64"):
        unseal(SEALED_PREFIX + "!!!not base64!!!", key)
    with pytest.raises(SecretUnsealError, match="not sealed"):
        unseal(PLAINTEXT, key)
    with pytest.raises(SecretUnsealError, match="limit"):
        unseal(SEALED_PREFIX + "A" * 100_000, key)


def test_wrong_key_refused() -> None:
    """A value sealed for one service cannot be unsealed with another service's key."""
    owner, other = PrivateKey.generate(), PrivateKey.generate()
    token = seal(PLAINTEXT, owner.public_key)
    with pytest.raises(SecretUnsealError):
        unseal(token, other)


def test_oversized_secret_refused() -> None:
    """Sealing more than MAX_SECRET_BYTES raises SecretTooLarge."""
    key = PrivateKey.generate()
    with pytest.raises(SecretTooLarge):
        seal("x" * (16 * 1024 + 1), key.public_key)


def test_is_sealed_and_mask() -> None:
    """is_sealed recognises sealed strings only; mask always returns *** whatever the input."""
    key = PrivateKey.generate()
    assert is_sealed(seal("a", key.public_key))
    assert not is_sealed("plain")
    assert not is_sealed(None)
    assert mask("short") == mask("a much longer secret value") == mask(None) == "***"


def test_model_dump_masks_secret_fields() -> None:
    """A plain dump, JSON dump and repr of an event never show the secret's text."""
    ev = LoginRequested(username="ada", password=SecretStr(PLAINTEXT), api_key=SecretStr("sk-123"))
    assert ev.model_dump()["password"] == MASK
    dumped = ev.model_dump_json()
    assert PLAINTEXT not in dumped
    assert "sk-123" not in dumped
    assert PLAINTEXT not in repr(ev)
    assert json.loads(dumped) == {"username": "ada", "password": MASK, "api_key": MASK}


def test_dump_sealed_encrypts_for_owner() -> None:
    """dump_sealed seals every Secret field so only the owner's key recovers it."""
    owner = PrivateKey.generate()
    ev = LoginRequested(username="ada", password=SecretStr(PLAINTEXT))
    payload = dump_sealed(ev, owner.public_key)
    assert payload["username"] == "ada"
    assert payload["api_key"] is None
    assert is_sealed(payload["password"])
    assert PLAINTEXT not in json.dumps(payload)
    clear = unseal_fields(payload, secret_field_names(LoginRequested), owner)
    assert clear["password"] == PLAINTEXT
    again = LoginRequested.model_validate(clear)
    assert again.password.get_secret_value() == PLAINTEXT


def test_sealed_value_passes_through_unchanged() -> None:
    """A model holding an already-sealed value dumps it as is and is never sealed twice."""
    owner = PrivateKey.generate()
    token = seal(PLAINTEXT, owner.public_key)
    ev = LoginRequested(username="ada", password=SecretStr(token))
    assert ev.model_dump()["password"] == token
    assert dump_sealed(ev, PrivateKey.generate().public_key)["password"] == token


def test_secret_field_names() -> None:
    """secret_field_names finds Secret and Secret | None fields and nothing else."""
    assert secret_field_names(LoginRequested) == {"password", "api_key"}

    class Plain(BaseModel):
        name: str
        token: SecretStr

    assert secret_field_names(Plain) == set()


def test_unseal_fields_refuses_clear_text_secret() -> None:
    """A secret field that arrives in clear text is refused rather than passed on."""
    owner = PrivateKey.generate()
    with pytest.raises(SecretUnsealError, match="arrived unsealed"):
        unseal_fields({"password": PLAINTEXT}, {"password"}, owner)


def test_mask_fields() -> None:
    """mask_fields hides the named fields and keeps the others and missing ones as they are."""
    shown = mask_fields({"username": "ada", "password": "sealed:v1:abc", "api_key": None}, {"password", "api_key"})
    assert shown == {"username": "ada", "password": MASK, "api_key": None}


def test_generate_and_load_from_dir(tmp_path: Path) -> None:
    """generate writes 0600 private keys that from_dir loads back to the same keypairs."""
    ring = generate(tmp_path, ["auth", "calendar"])
    key_file = tmp_path / "auth.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    loaded = Keyring.from_dir(tmp_path)
    assert loaded.services() == {"auth", "calendar"}
    token = ring.seal_for("auth", PLAINTEXT)
    assert loaded.unseal_for("auth", token) == PLAINTEXT
    with pytest.raises(SecretUnsealError):
        loaded.unseal_for("calendar", token)
    with pytest.raises(KeyringError, match="already exists"):
        generate(tmp_path, ["auth"])


def test_public_only_keyring_can_seal_not_unseal(tmp_path: Path) -> None:
    """A producer holding only a .pub file can seal for a service but cannot unseal."""
    generate(tmp_path, ["llm"])
    (tmp_path / "llm.key").unlink()
    producer = Keyring.from_dir(tmp_path)
    token = producer.seal_for("llm", "sk-live")
    with pytest.raises(KeyringError, match="AIWF_SECRET_KEY_LLM"):
        producer.unseal_for("llm", token)


def test_load_from_env_overrides_dir(tmp_path: Path) -> None:
    """Keys from AIWF_SECRET_KEY_<SERVICE> load, and win over a keys directory."""
    generate(tmp_path, ["auth"])
    env_ring = Keyring(private={"auth": PrivateKey.generate()})
    environ = {**env_ring.env("auth"), "UNRELATED": "x"}
    ring = Keyring.load(tmp_path, environ)
    token = env_ring.seal_for("auth", PLAINTEXT)
    assert ring.unseal_for("auth", token) == PLAINTEXT
    assert "auth" in repr(ring)
    assert environ["AIWF_SECRET_KEY_AUTH"] not in repr(ring)


def test_bad_env_key_refused() -> None:
    """A malformed key in the environment raises KeyringError naming the variable."""
    with pytest.raises(KeyringError, match="AIWF_SECRET_KEY_AUTH"):
        Keyring.from_env({"AIWF_SECRET_KEY_AUTH": "bm90IGEga2V5"})
    with pytest.raises(KeyringError, match="no public key"):
        Keyring().public_key("tts")
