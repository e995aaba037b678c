"""A real auth worker SIGKILLed at random moments while registrations and logins flow: no half-written user.

Each request's decision (its outcome event, the user's events, the username claim, a login's
refresh family) is committed in one step with the request's marker and ack, so whatever moment
the worker dies at, every user is whole or absent, and each request has exactly one outcome.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import cast

import orjson
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.store import EventStore
from aiwf.bus.testing import wait_until
from aiwf.cli.supervise import child_env
from aiwf.schemas import Envelope
from aiwf.schemas.events.auth import LoginRequested, RegistrationRequested
from aiwf.schemas.secrets import default_keyring, generate, unseal
from aiwf.workers.auth.refresh import parse_refresh_token
from aiwf.workers.auth.store import username_key

pytestmark = [pytest.mark.fault, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-Battery-42"
USERS = 32
KILLS = 4


@pytest.fixture
def worker_env(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Sealing keys for auth and gateway (here and in the worker), fast reclaim of a killed worker's entries."""
    generate(tmp_path / "keys", ["auth", "gateway"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "keys"))
    env: dict[str, str] = child_env(redis_url)
    return env | {
        "AIWF_KEYS_DIR": str(tmp_path / "keys"),
        "AIWF_DATA_DIR": str(tmp_path / "data"),
        "AIWF_RECLAIM_IDLE": "1",
        "AIWF_DRAIN_TIMEOUT": "5",
        "AIWF_LOG_LEVEL": "ERROR",
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`aiwf worker auth` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiwf.cli", "worker", "auth"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )


async def outcomes(client: aioredis.Redis) -> dict[str, list[Envelope]]:
    """The auth service's output events by the request that caused them."""
    found: dict[str, list[Envelope]] = {}
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(keys.stream("auth")))
    for _, fields in rows:
        env = Envelope.model_validate(orjson.loads(fields[b"body"]))
        if env.causation_id is not None:
            found.setdefault(env.causation_id, []).append(env)
    return found


async def settled(client: aioredis.Redis, requests: set[str]) -> bool:
    """Every request has an outcome and the auth group holds nothing pending."""
    if not requests <= set(await outcomes(client)):
        return False
    return int((await client.xpending(keys.stream("auth"), "auth"))["pending"]) == 0


async def working(client: aioredis.Redis, requests: set[str]) -> None:
    """Return once a just-started worker has committed something (or nothing is left to do)."""
    before = len(await outcomes(client))

    async def progressed() -> bool:
        return len(await outcomes(client)) > before or await settled(client, requests)

    await wait_until(progressed, 60, "the worker to commit something")


async def test_a_sigkilled_auth_worker_never_leaves_a_half_written_user(
    client: aioredis.Redis, config: BusConfig, worker_env: dict[str, str]
) -> None:
    """Registrations and logins under repeated SIGKILLs, then a clean run: one outcome per request, users whole."""
    pub, rng = Publisher(client, config), random.Random(9)
    names = [f"user{n}@example.org" for n in range(USERS)]
    regs = await pub.publish_many([RegistrationRequested(username=u, password=SecretStr(PASSWORD)) for u in names])
    logins: list[str] = []
    mid_work = 0  # kills that hit a worker with requests still open
    for kill in range(KILLS):
        if kill == KILLS // 2:  # a second wave while the worker keeps dying
            logins = await pub.publish_many([LoginRequested(username=u, password=SecretStr(PASSWORD)) for u in names])
        victim = start_worker(worker_env)
        await working(client, {*regs, *logins})
        await asyncio.sleep(rng.uniform(0.0, 0.6))
        mid_work += not await settled(client, {*regs, *logins})
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert mid_work >= KILLS // 2, "the kills should land while work is in flight"
    survivor = start_worker(worker_env)
    try:
        await wait_until(lambda: settled(client, {*regs, *logins}), 90, "every request to have its outcome")
    finally:
        survivor.terminate()
        survivor.wait(15)
    await assert_whole(client, config, names, regs, logins)


async def assert_whole(
    client: aioredis.Redis, config: BusConfig, names: list[str], regs: list[str], logins: list[str]
) -> None:
    """Exactly one outcome per request; each registered user's stream, claim and each login's family stored once."""
    out, store = await outcomes(client), EventStore(client, config)
    assert not [k async for k in client.scan_iter(match=keys.DEAD_LETTER_PATTERN)]
    assert [len(out[r]) for r in regs] == [1] * USERS
    assert [out[r][0].type for r in regs] == ["auth.user.registered"] * USERS
    user_ids = [str(out[r][0].payload["user_id"]) for r in regs]
    for name, user_id in zip(names, user_ids, strict=True):
        history = await store.read(f"user-{user_id}")
        assert history[0].event.event_type == "auth.history.registered"
        claim = await store.read(f"username-{username_key(name)}")
        assert [r.event.model_dump()["user_id"] for r in claim] == [user_id]
    assert [len(out[r]) for r in logins] == [1] * USERS  # succeeded, or failed when it ran before its registration
    gateway = default_keyring().private_key("gateway")
    won = [e for r in logins for e in out[r] if e.type == "auth.login.succeeded"]
    families: Counter[str] = Counter()
    for env in won:
        parsed = parse_refresh_token(unseal(env.payload["refresh_token"], gateway))
        assert parsed is not None
        families[parsed[0]] += 1
        owner = await store.read(f"refresh-{parsed[0]}")
        assert [r.event.model_dump()["user_id"] for r in owner] == [env.payload["user_id"]]
    stored = await store.read_category("user", limit=10_000)
    assert len({r.stream_id for r in stored}) == USERS  # no user without its registration outcome
    logged_in = [r.event.model_dump()["family_id"] for r in stored if r.event.event_type.endswith("login_succeeded")]
    assert Counter(logged_in) == families  # each handed-out token's family is stored, and nothing else
    assert len(await store.read_category("refresh", limit=10_000)) == len(won)
    assert len(await store.read_category("username", limit=10_000)) == USERS
