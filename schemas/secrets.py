"""Secret fields: sealed for the service that owns them, masked everywhere else.

A field typed ``Secret`` in an event model never leaves the process in clear
text: a plain ``model_dump()`` (logs, dead letters, CLI output) shows ``***``,
and the bus dumps with :func:`seal_context` so the value is encrypted with the
owning service's X25519 public key (a libsodium sealed box) before XADD. Only
the owner, holding the private key, can :func:`unseal` it.
Key material: schemas/keyring.py (re-exported here); masking for display: schemas/masking.py.
"""

from __future__ import annotations

import base64
import binascii
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Union

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from pydantic import BaseModel, Field, PlainSerializer, SecretStr, SerializationInfo

from aiwf.schemas.errors import AiwfError, ConfigError, PermanentError

if TYPE_CHECKING:
    pass

__all__ = [
    "ENV_PREFIX",
    "ENV_PUBLIC_PREFIX",
    "ENV_RETIRED_PREFIX",
    "MASK",
    "MAX_SECRET_BYTES",
    "SEALED_PREFIX",
    "SEAL_CONTEXT_KEY",
    "Keyring",
    "KeyringError",
    "KeyringSettings",
    "Secret",
    "SecretError",
    "SecretTooLarge",
    "SecretUnsealError",
    "default_keyring",
    "dump_sealed",
    "generate",
    "is_sealed",
    "keys_dir",
    "mask",
    "rotate",
    "seal",
    "seal_context",
    "secret_field_names",
    "unseal",
    "unseal_any",
    "unseal_fields",
]

SEALED_PREFIX: Final = "sealed:v1:"
MASK: Final = "***"
#: Plaintext cap; secrets are passwords, tokens and keys, never documents.
MAX_SECRET_BYTES: Final = 16 * 1024
#: Sealed-box overhead (ephemeral public key + MAC) plus base64 growth, with slack.
_MAX_TOKEN_CHARS: Final = len(SEALED_PREFIX) + (MAX_SECRET_BYTES + 48) * 4 // 3 + 8
SEAL_CONTEXT_KEY: Final = "aiwf.seal_for"
#: Bytes of an X25519 key, public or private.
KEY_BYTES: Final = 32


class SecretError(AiwfError):
    """Raised when a secret cannot be sealed, unsealed or keyed; base of this module's errors."""


class SecretUnsealError(SecretError, PermanentError):
    """Raised when a sealed value is malformed, tampered with, or sealed for another key."""


class SecretTooLarge(SecretError, PermanentError):
    """Raised when a plaintext secret exceeds MAX_SECRET_BYTES."""


class KeyringError(SecretError, ConfigError):
    """Raised when a service key is missing, malformed, or a key file would be overwritten."""


def _public(key: PublicKey | bytes) -> PublicKey:
    if isinstance(key, PublicKey):
        return key
    if len(key) != KEY_BYTES:
        msg = f"public key must be {KEY_BYTES} bytes, got {len(key)}"
        raise KeyringError(msg)
    return PublicKey(key)


def _private(key: PrivateKey | bytes) -> PrivateKey:
    if isinstance(key, PrivateKey):
        return key
    if len(key) != KEY_BYTES:
        msg = f"private key must be {KEY_BYTES} bytes, got {len(key)}"
        raise KeyringError(msg)
    return PrivateKey(key)


def seal(plaintext: str, recipient_public_key: PublicKey | bytes) -> str:
    """Encrypt ``plaintext`` so only the holder of the matching private key can read it."""
    data = plaintext.encode()
    if len(data) > MAX_SECRET_BYTES:
        msg = f"secret is {len(data)} bytes; the limit is {MAX_SECRET_BYTES}"
        raise SecretTooLarge(msg)
    box = SealedBox(_public(recipient_public_key))
    return SEALED_PREFIX + base64.b64encode(box.encrypt(data)).decode("ascii")


def unseal(token: str, private_key: PrivateKey | bytes | Sequence[PrivateKey]) -> str:
    """Decrypt a value made by :func:`seal`; raise SecretUnsealError if it is not intact.

    Given several keys (a service's current key, then the retired ones still in their overlap:
    schemas/keyring.py), the first that opens it wins.
    """
    if isinstance(private_key, Sequence) and not isinstance(private_key, bytes):
        return unseal_any(token, private_key)[0]
    if not is_sealed(token):
        msg = f"value is not sealed (expected prefix {SEALED_PREFIX!r})"
        raise SecretUnsealError(msg)
    if len(token) > _MAX_TOKEN_CHARS:
        msg = f"sealed value is {len(token)} chars; the limit is {_MAX_TOKEN_CHARS}"
        raise SecretUnsealError(msg)
    try:
        raw = base64.b64decode(token[len(SEALED_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "sealed value is not valid base64"
        raise SecretUnsealError(msg) from exc
    try:
        data = SealedBox(_private(private_key)).decrypt(raw)
    except CryptoError as exc:
        msg = "sealed value was tampered with or sealed for another key"
        raise SecretUnsealError(msg) from exc
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        msg = "sealed value does not hold UTF-8 text"
        raise SecretUnsealError(msg) from exc


def unseal_any(token: str, keys: Sequence[PrivateKey]) -> tuple[str, int]:
    """The plaintext and the position in `keys` of the key that opened it; SecretUnsealError when none does."""
    failure: SecretUnsealError | None = None
    for position, key in enumerate(keys):
        try:
            return unseal(token, key), position
        except SecretUnsealError as exc:
            failure = exc
            if "tampered" not in str(exc):  # malformed: no other key will do better
                raise
    raise failure or SecretUnsealError("no key to open this sealed value with")


def is_sealed(value: object) -> bool:
    """Tell whether ``value`` is a string produced by :func:`seal` (by its prefix)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def mask(value: object) -> str:
    """Return the display form of any secret: ``***``, never a hint of its length."""
    return MASK


# --------------------------------------------------------------------------- pydantic


class _SecretMarker:
    """Annotation metadata that marks a model field as secret."""

    def __repr__(self) -> str:
        return "SECRET"


_SECRET: Final = _SecretMarker()


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    raw = value.get_secret_value()
    if is_sealed(raw):
        return raw  # ciphertext is safe anywhere; never seal twice
    context = info.context
    if isinstance(context, dict):
        key = context.get(SEAL_CONTEXT_KEY)
        if isinstance(key, PublicKey):
            return seal(raw, key)
    return MASK


Secret = Annotated[
    SecretStr,
    _SECRET,
    PlainSerializer(_serialize_secret, return_type=str, when_used="always"),
    Field(json_schema_extra={"x-aiwf-secret": True}),
]
"""A secret string field: ``***`` in every dump, sealed when dumped with :func:`seal_context`."""


def seal_context(recipient_public_key: PublicKey) -> dict[str, Any]:
    """Serialization context that makes ``Secret`` fields dump as sealed values."""
    return {SEAL_CONTEXT_KEY: recipient_public_key}


def dump_sealed(model: BaseModel, recipient_public_key: PublicKey) -> dict[str, Any]:
    """JSON-mode dump of ``model`` with every ``Secret`` field (at any depth) sealed."""
    return model.model_dump(mode="json", context=seal_context(recipient_public_key))


def _marks_secret(annotation: object, depth: int = 0) -> bool:
    if depth > 8:  # annotations are code, but keep the walk bounded
        return False
    origin = typing.get_origin(annotation)
    if origin is Annotated and any(meta is _SECRET for meta in getattr(annotation, "__metadata__", ())):
        return True
    if origin is Union or origin is types.UnionType or origin is Annotated:
        return any(_marks_secret(arg, depth + 1) for arg in typing.get_args(annotation))
    return False


def secret_field_names(model_cls: type[BaseModel]) -> set[str]:
    """Names of the top-level fields of ``model_cls`` typed ``Secret`` (or ``Secret | None``)."""
    names: set[str] = set()
    for name, info in model_cls.model_fields.items():
        if any(meta is _SECRET for meta in info.metadata) or _marks_secret(info.annotation):
            names.add(name)
    return names


def unseal_fields(
    payload: Mapping[str, Any], names: Iterable[str], private_key: PrivateKey | Sequence[PrivateKey]
) -> dict[str, Any]:
    """Copy of ``payload`` with the named fields unsealed; a named field in clear text is refused."""
    out = dict(payload)
    for name in names:
        value = out.get(name)
        if value is None:
            continue
        if not is_sealed(value):
            msg = f"secret field {name!r} arrived unsealed"
            raise SecretUnsealError(msg)
        out[name] = unseal(value, private_key)
    return out


# Last: schemas/keyring.py imports the names above (schemas/__init__ imports this module first).
from aiwf.schemas.keyring import (  # noqa: E402
    ENV_PREFIX,
    ENV_PUBLIC_PREFIX,
    ENV_RETIRED_PREFIX,
    Keyring,
    KeyringSettings,
    default_keyring,
    generate,
    keys_dir,
    rotate,
)
