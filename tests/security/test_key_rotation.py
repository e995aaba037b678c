"""`aiwf keys rotate SERVICE --overlap`: the new key seals, the old one still opens until the overlap ends."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from aiwf.bus import Publisher, codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.store import EventStore
from aiwf.bus.testing import wait_until
from aiwf.schemas.events.auth import LoginRequested, RegistrationRequested, SigningKeysRotated
from aiwf.schemas.secretfile import SecretFileError
from aiwf.schemas.secrets import Keyring, SecretUnsealError, default_keyring, generate, rotate, unseal
from aiwf.workers import load
from aiwf.workers.auth.signing import RING_STREAM
from tests.worker_support import serving

PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealing keys for auth and gateway, the process default."""
    root = tmp_path / "keys"
    generate(root, ["auth", "gateway"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(root))
    return root


def test_sealed_before_opens_after_and_sealed_after_needs_the_new_key(keys_dir: Path) -> None:
    """Sealed before: opens during the overlap, not after it. Sealed after: the old key alone cannot open it."""
    before = Keyring.from_dir(keys_dir)
    old_private = before.private_key("auth")
    sealed_before = before.seal_for("auth", "sealed before")
    now = time.time()
    rotate(keys_dir, "auth", overlap_s=3600, now=now)
    after = Keyring.from_dir(keys_dir)
    assert after.private_key("auth") != old_private
    assert after.unseal_for("auth", sealed_before) == "sealed before"  # the retired key still opens
    assert not after.opens_with_current("auth", sealed_before)

    sealed_after = after.seal_for("auth", "sealed after")
    assert after.opens_with_current("auth", sealed_after)
    with pytest.raises(SecretUnsealError):
        unseal(sealed_after, old_private)  # the old key alone cannot open what the new one sealed

    past_overlap = after.opening_keys("auth", now=now + 3601)
    assert past_overlap == [after.private_key("auth")]
    with pytest.raises(SecretUnsealError):
        unseal(sealed_before, past_overlap)


def test_rotation_keeps_a_key_file_at_every_moment_and_prunes_ended_overlaps(keys_dir: Path) -> None:
    """Two rotations: the first retired key is deleted once its overlap has ended; the newer one stays."""
    _, first = rotate(keys_dir, "auth", overlap_s=10, now=100.0)
    _, second = rotate(keys_dir, "auth", overlap_s=10, now=200.0)
    assert not first.exists()
    assert second.exists()
    assert (keys_dir / "auth.key").exists()
    assert sorted(p.name for p in keys_dir.glob("auth.retired-*.key")) == ["auth.retired-210.key"]


def test_a_key_file_readable_by_others_is_refused(keys_dir: Path) -> None:
    """auth.key with mode 0644 is refused with one line naming the file and the mode; 0440 is accepted."""
    key = keys_dir / "auth.key"
    key.chmod(0o440)
    Keyring.from_dir(keys_dir)
    key.chmod(0o644)
    with pytest.raises(SecretFileError, match=r"auth.key has mode 0644; a secret file may be at most 0440"):
        Keyring.from_dir(keys_dir)


def test_retired_keys_from_the_environment_open_too(keys_dir: Path) -> None:
    """AIWF_SECRET_RETIRED_AUTH=<base64>@<until> opens what the old key sealed, like a retired key file."""
    old = Keyring.from_dir(keys_dir)
    sealed = old.seal_for("auth", "env")
    (env_key,) = old.env("auth").values()
    fresh = Keyring.from_env(
        {
            "AIWF_SECRET_KEY_AUTH": Keyring.from_dir(_fresh(keys_dir)).env("auth")["AIWF_SECRET_KEY_AUTH"],
            "AIWF_SECRET_RETIRED_AUTH": f"{env_key}@{int(time.time()) + 60}",
        }
    )
    assert fresh.unseal_for("auth", sealed) == "env"


def _fresh(keys_dir: Path) -> Path:
    other = keys_dir.parent / "other-keys"
    generate(other, ["auth"])
    return other


async def auth_events(client: aioredis.Redis, type_: str) -> list[dict[bytes, bytes]]:
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(keys.stream("auth")))
    return [f for _, f in rows if codec.decode(f, 1_000_000).type == type_]


async def test_auth_opens_requests_sealed_before_a_rotation_and_reseals_its_signing_keys(
    client: aioredis.Redis, config: BusConfig, keys_dir: Path
) -> None:
    """A registration sealed before `keys rotate auth` is served after it; the signing ring is stored again under
    the new key, so auth still starts once the old key is gone."""
    publisher = Publisher(client, config)
    async with serving(load("auth"), config):  # the ring is made and sealed with the first key
        pass
    await publisher.publish(RegistrationRequested(username="ada@example.org", password=SecretStr(PASSWORD)))
    rotate(keys_dir, "auth", overlap_s=3600)

    async with serving(load("auth"), config):

        async def registered() -> bool:
            return bool(await auth_events(client, "auth.user.registered"))

        await wait_until(registered, 30, "the pre-rotation registration to be served")
        await publisher.publish(LoginRequested(username="ada@example.org", password=SecretStr(PASSWORD)))

        async def logged_in() -> bool:
            return bool(await auth_events(client, "auth.login.succeeded"))

        await wait_until(logged_in, 30, "a login sealed with the new key")

    rings = [r.event for r in await EventStore(client, config).read(RING_STREAM)]
    newest = rings[-1]
    assert isinstance(newest, SigningKeysRotated)
    assert default_keyring().opens_with_current("auth", newest.ring.get_secret_value())
    assert len(rings) >= 2  # the re-sealed copy came after the original

    for retired in await asyncio.to_thread(lambda: list(keys_dir.glob("auth.retired-*.key"))):
        retired.unlink()  # the overlap is over
    async with serving(load("auth"), config):
        pass  # starts: its newest ring opens with the current key


def test_aiwf_keys_rotate_cli(tmp_path: Path) -> None:
    """`aiwf keys rotate auth --overlap 2h` prints the new public key file; an unknown service is one line, exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    env["AIWF_KEYS_DIR"] = str(tmp_path / "keys")
    aiwf = str(Path(sys.executable).parent / "aiwf")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([aiwf, *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    assert run("keys", "generate", "auth").returncode == 0
    done = run("keys", "rotate", "auth", "--overlap", "2h")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "keys" / "auth.pub")
    (retired,) = (tmp_path / "keys").glob("auth.retired-*.key")
    until = int(retired.stem.rsplit("-", 1)[1])
    assert abs(until - (time.time() + 7200)) < 60
    assert stat.S_IMODE(retired.stat().st_mode) & 0o077 == 0
    missing = run("keys", "rotate", "tts")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"aiwf: {tmp_path / 'keys' / 'tts.key'} does not exist; make it with: aiwf keys generate tts"
    ]
    assert shutil.which(aiwf)
