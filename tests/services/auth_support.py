"""Helpers for the auth service tests: keys, settings, the running service, and request -> outcome round trips."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from service_support import envelopes, serving

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.consume import Consumer
from aiwf.bus.worker import Worker
from aiwf.schemas import Envelope, Event
from aiwf.schemas.events.auth import LoginRequested, RegistrationRequested
from aiwf.schemas.secrets import default_keyring, generate, unseal
from aiwf.workers.auth.service import SERVICE, auth
from tests.contract.harness import drain

PASSWORD = "Correct-Horse-Battery-42"
NEW_PASSWORD = "Another-Long-Secret-77"


def make_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealing keys for auth and gateway under tmp_path, made the process default."""
    root = tmp_path / "keys"
    generate(root, ["auth", "gateway"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(root))
    return root


def auth_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """AIWF_AUTH_* overrides (e.g. lockout_failures="3") for the next lifespan, which reads them when it starts."""
    for key in [k for k in os.environ if k.startswith("AIWF_AUTH_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(f"AIWF_AUTH_{key.upper()}", value)


def gateway_secret(payload: dict[str, Any], field: str) -> str:
    """Open a token sealed for the gateway, as the gateway would."""
    return unseal(payload[field], default_keyring().private_key("gateway"))


@dataclass
class Flow:
    """Publishes auth requests and returns the outcomes the running service caused."""

    client: aioredis.Redis
    worker: Worker
    publisher: Publisher

    @property
    def consumer(self) -> Consumer:
        """The consumer of the auth subscription."""
        return self.worker.consumers[0]

    async def send(self, *events: Event) -> list[Envelope]:
        """Publish, wait until the auth group drained the stream, return the outcomes of these requests."""
        ids = await self.publisher.publish_many(list(events))
        await drain(self.client, auth)
        return [e for e in await envelopes(self.client, "auth") if e.causation_id in ids]

    async def one(self, event: Event) -> list[tuple[str, dict[str, Any]]]:
        """Send one request; its outcomes as (type, payload) pairs."""
        return [(e.type, e.payload) for e in await self.send(event)]

    async def register(self, username: str, password: str = PASSWORD) -> str:
        """Register and return the new user id (fails the test otherwise)."""
        out = await self.one(RegistrationRequested(username=username, password=SecretStr(password)))
        assert [t for t, _ in out] == ["auth.user.registered"], out
        return str(out[0][1]["user_id"])

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in and return the login.succeeded payload (fails the test otherwise)."""
        out = await self.one(LoginRequested(username=username, password=SecretStr(password)))
        assert [t for t, _ in out] == ["auth.login.succeeded"], out
        return out[0][1]


@contextlib.asynccontextmanager
async def auth_flow(client: aioredis.Redis, config: BusConfig) -> AsyncIterator[Flow]:
    """The auth service running as its worker runs it (lifespan, deps), so it may open auth's secrets."""
    async with serving(SERVICE, config) as worker:
        assert worker.consumers[0].service == "auth"
        yield Flow(client, worker, Publisher(client, config))
