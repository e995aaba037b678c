"""After a whole auth flow, no password, token or private signing key sits in clear anywhere in Redis or the logs."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from auth_support import NEW_PASSWORD, PASSWORD, auth_flow, auth_settings, gateway_secret, make_keys
from pydantic import SecretStr
from service_support import dead_letters

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.store import EventStore
from aiwf.schemas import Envelope
from aiwf.schemas.events.auth import (
    LoginRequested,
    PasswordChangeRequested,
    SigningKeysRotated,
    TokenRefreshRequested,
    TokenRevocationRequested,
)
from aiwf.schemas.secrets import Keyring, default_keyring, unseal
from aiwf.workers.auth.tokens import KeyRing
from tests.replies import Entries, Fields

WRONG_PASSWORD = "Guessing-Attempt-99"
STRAY_PASSWORD = "Sealed-For-The-Wrong-Service-1"


async def everything_in_redis(client: aioredis.Redis) -> bytes:
    """Every key name and value of every type (streams entry by entry), dead letters and store streams included."""
    blob = bytearray()
    async for key in client.scan_iter(match="*", count=500):
        kind = cast("bytes", await client.type(key)).decode()
        blob += key
        if kind == "stream":
            for entry_id, fields in cast("Entries", await client.xrange(key)):
                blob += entry_id + b"".join(k + v for k, v in fields.items())
        elif kind == "string":
            blob += cast("bytes | None", await client.get(key)) or b""
        elif kind == "hash":
            blob += b"".join(k + v for k, v in cast("Fields", await client.hgetall(key)).items())
        elif kind in {"set", "zset", "list"}:
            members = (
                await client.smembers(key)
                if kind == "set"
                else await client.zrange(key, 0, -1)
                if kind == "zset"
                else await client.lrange(key, 0, -1)
            )
            blob += b"".join(cast("Iterable[bytes]", members))
    return bytes(blob)


def forms(secret: str) -> list[bytes]:
    """The plaintext and its obvious encodings (a base64 or JSON-escaped copy is a leak too)."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="), json.dumps(secret).encode()[1:-1]]


async def test_no_plaintext_secret_in_any_stream_key_or_log(
    client: aioredis.Redis,
    config: BusConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole flow (failures, refresh, reuse, revocation, password change, a dead letter), then a hunt for secrets."""
    caplog.set_level(logging.DEBUG)
    make_keys(tmp_path, monkeypatch)
    auth_settings(monkeypatch, snapshot_every="2")  # snapshots too must hold no secret
    tokens: list[str] = []
    async with auth_flow(client, config) as flow:
        user_id = await flow.register("ada@example.org")
        await flow.one(LoginRequested(username="ada@example.org", password=SecretStr(WRONG_PASSWORD)))
        login = await flow.login("ada@example.org")
        tokens += [gateway_secret(login, "access_token"), gateway_secret(login, "refresh_token")]
        refreshed = (await flow.one(TokenRefreshRequested(refresh_token=SecretStr(tokens[1]))))[0][1]
        tokens += [gateway_secret(refreshed, "access_token"), gateway_secret(refreshed, "refresh_token")]
        await flow.one(TokenRefreshRequested(refresh_token=SecretStr(tokens[1])))  # reuse: family revoked
        again = await flow.login("ada@example.org")
        tokens += [gateway_secret(again, "access_token"), gateway_secret(again, "refresh_token")]
        await flow.one(TokenRevocationRequested(refresh_token=SecretStr(tokens[-1])))
        await flow.one(
            PasswordChangeRequested(
                user_id=user_id, current_password=SecretStr(PASSWORD), new_password=SecretStr(NEW_PASSWORD)
            )
        )
        # A request sealed for the wrong service cannot be opened by auth: it is dead-lettered, still sealed.
        monkeypatch.setattr(LoginRequested, "secret_recipient", "gateway")
        stray = Envelope.wrap(LoginRequested(username="ada", password=SecretStr(STRAY_PASSWORD)), producer="tests")
        monkeypatch.setattr(LoginRequested, "secret_recipient", None)
        await Publisher(client, config).publish_envelope(stray)
        await flow.send()

    assert len(tokens) == 6
    letters = await dead_letters(client)
    assert sum(len(v) for v in letters.values()) == 1, letters
    assert await client.get("aiwf:snap:{es-user}:" + user_id) is not None

    ring_events = await EventStore(client, config).read("authkeys-ring")
    rotated = ring_events[-1].event
    assert isinstance(rotated, SigningKeysRotated)
    ring = KeyRing.from_json(default_keyring().unseal_for("auth", rotated.ring.get_secret_value()))
    private_keys = [k.private_key.private_bytes_raw() for k in ring.keys]
    private_jwk_d = [base64.urlsafe_b64encode(d).rstrip(b"=").decode() for d in private_keys]
    sealing_keys = [Keyring.from_dir(tmp_path / "keys").env(s) for s in ("auth", "gateway")]

    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        WRONG_PASSWORD,
        STRAY_PASSWORD,
        *tokens,
        *private_jwk_d,
        *(v for env in sealing_keys for v in env.values()),
    ]
    # A JWT's signature alone is as good as a leak of the token: hunt it separately.
    secrets += [t.rsplit(".", 1)[1] for t in tokens if t.count(".") == 2 and not t.startswith("rt1.")]
    # A refresh token's random part alone is the secret (its family id is stored on purpose).
    secrets += [t.rsplit(".", 1)[1] for t in tokens if t.startswith("rt1.")]

    stored = await everything_in_redis(client)
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records).encode()
    assert stored, "the flow wrote nothing?"
    for secret in secrets:
        for form in forms(secret):
            assert form not in stored, f"a secret ({len(secret)} chars) is in Redis in clear"
            assert form not in logs, f"a secret ({len(secret)} chars) is in the captured logs"

    # The tokens are really there, sealed for the gateway: the hunt looked at the right data.
    assert b"sealed:v1:" in stored
    sealed_access = json.loads(await client.get("aiwf:auth:jwks") or b"{}")["keys"]
    assert sealed_access, "no JWKS published"
    assert unseal(login["access_token"], default_keyring().private_key("gateway")) == tokens[0]
