"""Secret fields are sealed before XADD, opened only by their recipient, masked everywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from aiwf.bus import Context, Publisher, PublishRefused, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.schemas import Event
from aiwf.schemas.secrets import default_keyring, generate, is_sealed, unseal
from tests.contract.harness import drain, running
from tests.events import LoginAttempted, SessionOpened
from tests.replies import Entries

PASSWORD = "correct horse battery staple"
TOKEN = "tok-7f3a9c1e-secret"


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keys directory holding keys for `tests` and `gateway`."""
    generate(tmp_path / "keys", ["tests", "gateway"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


async def all_stream_bytes(client: aioredis.Redis) -> bytes:
    """Every field of every entry of every stream in the database, concatenated."""
    blob = b""
    async for key in client.scan_iter(match="aiwf:*"):
        if await client.type(key) == b"stream":
            for _, fields in cast("Entries", await client.xrange(key)):
                blob += b"".join(k + v for k, v in fields.items())
    return blob


async def test_recipient_reads_the_secret_and_no_stream_holds_it(
    client: aioredis.Redis, config: BusConfig, keys_dir: Path
) -> None:
    """The recipient sees the password in clear, its output token is sealed for the gateway, no stream holds either."""
    seen: list[str] = []
    sub = Subscription(stream="testing", group="login")

    @sub.handler
    async def login(event: LoginAttempted, ctx: Context) -> list[Event]:
        seen.append(event.password.get_secret_value())
        return [SessionOpened(user=event.user, token=SecretStr(TOKEN))]

    await Publisher(client, config).publish(LoginAttempted(user="ada", password=SecretStr(PASSWORD)))
    async with running(sub, config, service="tests"):
        await drain(client, sub)
    assert seen == [PASSWORD]
    wire = await all_stream_bytes(client)
    assert PASSWORD.encode() not in wire
    assert TOKEN.encode() not in wire
    import orjson

    outputs = [
        orjson.loads(f[b"body"])
        for _, f in cast("Entries", await client.xrange(keys.stream("testing")))
        if f[b"type"] == b"testing.session.opened"
    ]
    sealed = outputs[0]["payload"]["token"]
    assert is_sealed(sealed)
    assert unseal(sealed, default_keyring().private_key("gateway")) == TOKEN


async def test_other_services_get_only_sealed_text(client: aioredis.Redis, config: BusConfig, keys_dir: Path) -> None:
    """A handler of another service receives the sealed string, never the plaintext."""
    seen: list[str] = []
    sub = Subscription(stream="testing", group="snoop")

    @sub.handler
    async def snoop(event: LoginAttempted, ctx: Context) -> list[Event]:
        seen.append(event.password.get_secret_value())
        return []

    await Publisher(client, config).publish(LoginAttempted(user="ada", password=SecretStr(PASSWORD)))
    async with running(sub, config, service="snoop"):
        await drain(client, sub)
    assert len(seen) == 1
    assert is_sealed(seen[0])
    assert PASSWORD not in seen[0]


async def test_publish_without_a_key_is_refused_at_the_edge(
    client: aioredis.Redis, config: BusConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no key for the recipient, publish refuses with a readable error and writes nothing."""
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "no-keys"))
    with pytest.raises(PublishRefused, match="no public key for service 'tests'"):
        await Publisher(client, config).publish(LoginAttempted(user="ada", password=SecretStr(PASSWORD)))
    assert await client.xlen(keys.stream("testing")) == 0


def test_a_secret_dumps_as_mask_outside_the_bus() -> None:
    """Logging or printing an event never shows the secret."""
    event = LoginAttempted(user="ada", password=SecretStr(PASSWORD))
    assert PASSWORD not in repr(event)
    assert event.model_dump(mode="json")["password"] == "***"
