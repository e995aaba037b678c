"""The auth service in-process on a real Redis, with real Argon2id and EdDSA JWTs."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
import redis.asyncio as aioredis
from auth_support import NEW_PASSWORD, PASSWORD, auth_flow, auth_settings, gateway_secret, make_keys
from pydantic import SecretStr
from service_support import commit, envelopes
from typer.testing import CliRunner

from aiwf.bus import ConfigError, Context, Decision, Nack
from aiwf.bus.commit import COMMITTED, CONFLICT
from aiwf.bus.config import BusConfig
from aiwf.bus.decision import Result
from aiwf.bus.store import EventStore
from aiwf.bus.testing import wait_until
from aiwf.cli.auth import register
from aiwf.schemas import Envelope, Event, new_id
from aiwf.schemas.events.auth import (
    LoginRequested,
    PasswordChangeRequested,
    RegistrationRequested,
    TokenRefreshRequested,
    TokenRevocationRequested,
    UserRegistered,
)
from aiwf.workers.auth.errors import TokenInvalid
from aiwf.workers.auth.login import on_login
from aiwf.workers.auth.passwords import PasswordHasher
from aiwf.workers.auth.refresh import parse_refresh_token
from aiwf.workers.auth.registration import on_registration
from aiwf.workers.auth.runtime import AuthDeps
from aiwf.workers.auth.service import SERVICE
from aiwf.workers.auth.service import auth as auth_subscription
from aiwf.workers.auth.signing import JWKS_KEY
from aiwf.workers.auth.store import username_key
from aiwf.workers.auth.verify import verify
from tests.contract.harness import drain


@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> None:
    """Keys for auth and gateway, and settings locking after 3 failures for 1.5 s (read when the service starts)."""
    monkeypatch.setenv("REDIS_URL", redis_url)  # for the CLI
    make_keys(tmp_path, monkeypatch)
    auth_settings(monkeypatch, lockout_failures="3", lockout_window="60", lockout_cooldown="1.5")


@pytest.fixture
async def deps(client: aioredis.Redis, config: BusConfig, auth: None) -> AsyncIterator[AuthDeps]:
    """What the service's lifespan yields, for calling handlers directly."""
    async with SERVICE.started(client, config) as started:
        assert isinstance(started, AuthDeps)
        yield started


async def published_jwks(client: aioredis.Redis) -> dict[str, object]:
    """The JWKS the service published in Redis."""
    raw = await client.get(JWKS_KEY)
    assert raw is not None
    doc: dict[str, object] = json.loads(raw)
    return doc


async def test_register_login_refresh_reuse_and_password_change(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """A user registers, logs in, refreshes; replaying a used refresh token revokes the family; a new password works."""
    async with auth_flow(client, config) as flow:
        user_id = await flow.register("ada@example.org")
        login = await flow.login("ADA@example.org ")  # same name, other case and spacing
        assert login["user_id"] == user_id
        access = gateway_secret(login, "access_token")
        claims = verify(access, await published_jwks(client))
        assert claims["sub"] == user_id
        assert claims["exp"] == login["expires_at"]

        first_refresh = gateway_secret(login, "refresh_token")
        out = await flow.one(TokenRefreshRequested(refresh_token=SecretStr(first_refresh)))
        assert [t for t, _ in out] == ["auth.token.refreshed"]
        second_refresh = gateway_secret(out[0][1], "refresh_token")
        assert second_refresh != first_refresh
        assert verify(gateway_secret(out[0][1], "access_token"), await published_jwks(client))["sub"] == user_id

        out = await flow.one(TokenRefreshRequested(refresh_token=SecretStr(first_refresh)))  # stolen copy
        assert out == [
            ("auth.tokens.revoked", {"user_id": user_id, "families": 1, "reason": "refresh_reuse"}),
            ("auth.token.refresh_failed", {"reason": "reused"}),
        ]
        out = await flow.one(TokenRefreshRequested(refresh_token=SecretStr(second_refresh)))
        assert out == [("auth.token.refresh_failed", {"reason": "invalid"})]  # the family is gone

        live = gateway_secret(await flow.login("ada@example.org"), "refresh_token")
        out = await flow.one(
            PasswordChangeRequested(
                user_id=user_id, current_password=SecretStr(PASSWORD), new_password=SecretStr(NEW_PASSWORD)
            )
        )
        assert out == [
            ("auth.password.changed", {"user_id": user_id}),
            ("auth.tokens.revoked", {"user_id": user_id, "families": 1, "reason": "password_changed"}),
        ]
        out = await flow.one(TokenRefreshRequested(refresh_token=SecretStr(live)))
        assert out == [("auth.token.refresh_failed", {"reason": "invalid"})]
        out = await flow.one(LoginRequested(username="ada@example.org", password=SecretStr(PASSWORD)))
        assert out == [("auth.login.failed", {"reason": "invalid_credentials"})]
        assert (await flow.login("ada@example.org", NEW_PASSWORD))["user_id"] == user_id


async def test_lockout_after_failures_then_unlock_after_cooldown(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """Three wrong passwords lock the account (even the right one fails), and the lock lifts after the cool-down."""
    async with auth_flow(client, config) as flow:
        user_id = await flow.register("grace")
        wrong = LoginRequested(username="grace", password=SecretStr("Wrong-Password-123"))
        outcomes = [await flow.one(wrong) for _ in range(3)]
        assert outcomes[0] == outcomes[1] == [("auth.login.failed", {"reason": "invalid_credentials"})]
        assert [t for t, _ in outcomes[2]] == ["auth.account.locked", "auth.login.failed"]
        until = outcomes[2][0][1]["until"]
        assert outcomes[2][0][1]["user_id"] == user_id
        assert time.time() < until <= time.time() + 1.5

        right = LoginRequested(username="grace", password=SecretStr(PASSWORD))
        assert await flow.one(right) == [("auth.login.failed", {"reason": "invalid_credentials"})]
        await asyncio.sleep(max(0.0, until - time.time()) + 0.05)
        assert (await flow.login("grace"))["user_id"] == user_id


async def test_unknown_user_and_wrong_password_fail_alike(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """A login for a name nobody registered gives exactly the outcome of a wrong password."""
    async with auth_flow(client, config) as flow:
        await flow.register("known")
        wrong = await flow.one(LoginRequested(username="known", password=SecretStr("Not-The-Password-1")))
        unknown = await flow.one(LoginRequested(username="nobody", password=SecretStr("Not-The-Password-1")))
    assert wrong == unknown == [("auth.login.failed", {"reason": "invalid_credentials"})]


async def test_weak_password_and_bad_username_are_rejected(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """A short password and a control character in a name are refused with the rule, and nothing is claimed."""
    async with auth_flow(client, config) as flow:
        weak = await flow.one(RegistrationRequested(username="bob", password=SecretStr("short")))
        bad = await flow.one(RegistrationRequested(username="bo\x00b", password=SecretStr(PASSWORD)))
    assert weak[0][0] == "auth.registration.rejected"
    assert weak[0][1]["reason"] == "weak_password"
    assert "shorter than 12" in weak[0][1]["detail"]
    assert bad[0][1]["reason"] == "invalid_username"
    assert await EventStore(client, config).version(f"username-{username_key('bob')}") == 0


async def test_racing_registrations_of_one_name_register_exactly_one(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """Two registrations of one name handled at the same time: the store's expected version lets exactly one win."""
    async with auth_flow(client, config) as flow:
        out = await flow.send(
            RegistrationRequested(username="eve@example.org", password=SecretStr(PASSWORD)),
            RegistrationRequested(username="Eve@Example.org", password=SecretStr(NEW_PASSWORD)),
        )
    assert sorted(e.type for e in out) == ["auth.registration.rejected", "auth.user.registered"]
    rejected = next(e for e in out if e.type == "auth.registration.rejected")
    assert rejected.payload["reason"] == "duplicate"
    store = EventStore(client, config)
    assert await store.version(f"username-{username_key('eve@example.org')}") == 1
    users = {r.stream_id for r in await store.read_category("user")}
    assert len(users) == 1


async def test_racing_handlers_called_directly_register_exactly_one(
    client: aioredis.Redis, config: BusConfig, deps: AuthDeps
) -> None:
    """Eight concurrent runs of the registration handler for one name all decide to register; the commit takes the
    first and refuses seven, whose re-runs on fresh state are duplicates: one registered, seven rejected."""
    events = [RegistrationRequested(username="mallory", password=SecretStr(PASSWORD)) for _ in range(8)]
    contexts = [Context(Envelope.wrap(e, producer="tests"), 1, "c", "auth", "auth", deps) for e in events]
    decided = await asyncio.gather(*(on_registration(e, c) for e, c in zip(events, contexts, strict=True)))
    codes = [await commit(client, config, c.envelope, d, "auth") for c, d in zip(contexts, decided, strict=True)]
    assert codes == [COMMITTED] + [CONFLICT] * 7
    reruns = [await on_registration(e, c) for e, c in zip(events[1:], contexts[1:], strict=True)]
    for c, r in zip(contexts[1:], reruns, strict=True):
        assert await commit(client, config, c.envelope, r, "auth") == COMMITTED
    kinds = sorted(outputs(r)[0].event_type for r in [decided[0], *reruns])
    assert kinds == ["auth.registration.rejected"] * 7 + ["auth.user.registered"]
    assert len({r.stream_id for r in await EventStore(client, config).read_category("user")}) == 1


def outputs(result: Result) -> list[Event]:
    """The output events of a handler's result."""
    assert not isinstance(result, Nack)
    return list(result.events if isinstance(result, Decision) else result)


async def test_a_redelivered_request_is_not_decided_twice(
    client: aioredis.Redis, config: BusConfig, deps: AuthDeps
) -> None:
    """A request run again after its decision was committed stores nothing new; a login's lost tokens say `retry`."""
    register_event = RegistrationRequested(username="rita", password=SecretStr(PASSWORD))
    ctx = Context(Envelope.wrap(register_event, producer="tests"), 1, "c", "auth", "auth", deps)
    first = await on_registration(register_event, ctx)
    assert await commit(client, config, ctx.envelope, first, "auth") == COMMITTED
    again = await on_registration(register_event, ctx)
    assert outputs(first) == outputs(again)
    assert not isinstance(again, Decision) or not again.appends
    registered = outputs(first)[0]
    assert isinstance(registered, UserRegistered)

    login_event = LoginRequested(username="rita", password=SecretStr(PASSWORD))
    ctx = Context(Envelope.wrap(login_event, producer="tests"), 1, "c", "auth", "auth", deps)
    login = await on_login(login_event, ctx)
    assert outputs(login)[-1].event_type == "auth.login.succeeded"
    assert await commit(client, config, ctx.envelope, login, "auth") == COMMITTED
    retried = await on_login(login_event, ctx)
    assert [(e.event_type, e.model_dump()) for e in outputs(retried)] == [("auth.login.failed", {"reason": "retry"})]
    history = await EventStore(client, config).read(f"user-{registered.user_id}")
    assert [r.event.event_type for r in history] == ["auth.history.registered", "auth.history.login_succeeded"]


async def test_the_same_request_delivered_twice_through_the_bus_has_one_outcome(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """A registration and a login published twice under one event id: each decided and answered once."""
    async with auth_flow(client, config) as flow:
        publish = flow.publisher.publish
        reg = RegistrationRequested(username="twice", password=SecretStr(PASSWORD))
        reg_id = await publish(reg, event_id=new_id())
        await publish(reg, event_id=reg_id)
        await drain(client, auth_subscription)  # registered before the login is read
        login_id = await publish(LoginRequested(username="twice", password=SecretStr(PASSWORD)), event_id=new_id())
        await publish(LoginRequested(username="twice", password=SecretStr(PASSWORD)), event_id=login_id)
        await drain(client, auth_subscription)
    out = await envelopes(client, "auth")
    assert [e.type for e in out if e.causation_id == reg_id] == ["auth.user.registered"]
    assert [e.type for e in out if e.causation_id == login_id] == ["auth.login.succeeded"]
    user_id = next(e.payload["user_id"] for e in out if e.causation_id == reg_id)
    history = await EventStore(client, config).read(f"user-{user_id}")
    assert [r.event.event_type for r in history] == ["auth.history.registered", "auth.history.login_succeeded"]


async def test_revocation_logs_out_one_login_or_everywhere(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """Revoking a refresh token kills its family; `everywhere` kills every family; a bogus token is refused."""
    async with auth_flow(client, config) as flow:
        user_id = await flow.register("lin")
        one, two, three = [gateway_secret(await flow.login("lin"), "refresh_token") for _ in range(3)]
        out = await flow.one(TokenRevocationRequested(refresh_token=SecretStr(one)))
        assert out == [("auth.tokens.revoked", {"user_id": user_id, "families": 1, "reason": "logout"})]
        out = await flow.one(TokenRevocationRequested(refresh_token=SecretStr(two), everywhere=True))
        assert out == [("auth.tokens.revoked", {"user_id": user_id, "families": 2, "reason": "logout"})]
        out = await flow.one(TokenRefreshRequested(refresh_token=SecretStr(three)))
        assert out == [("auth.token.refresh_failed", {"reason": "invalid"})]
        out = await flow.one(TokenRevocationRequested(refresh_token=SecretStr("rt1.not-a-token")))
        assert out == [("auth.token.revocation_failed", {"reason": "invalid"})]


async def test_key_rotation_keeps_old_tokens_valid_until_their_key_retires(
    client: aioredis.Redis, config: BusConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a 1 s rotation interval a later login is signed by a new key; the old key verifies until it retires."""
    make_keys(tmp_path, monkeypatch)
    auth_settings(monkeypatch, key_rotate="1", key_grace="30")
    async with auth_flow(client, config) as flow:
        await flow.register("kim")
        old = gateway_secret(await flow.login("kim"), "access_token")

        async def rotated() -> bool:  # the lifespan rotates on the schedule, outside any handler
            return len((await published_jwks(client))["keys"]) == 2  # type: ignore[arg-type]

        await wait_until(rotated, 10, "the signing key to rotate")
        new = gateway_secret(await flow.login("kim"), "access_token")
        deps = flow.consumer.dispatcher.deps
        assert isinstance(deps, AuthDeps)
        ring = await deps.keys.current(time.time())
    old_kid, new_kid = jwt.get_unverified_header(old)["kid"], jwt.get_unverified_header(new)["kid"]
    assert old_kid != new_kid
    jwks = await published_jwks(client)
    assert verify(old, jwks)["sub"] == verify(new, jwks)["sub"]

    retired = next(k for k in ring.keys if k.kid == old_kid)
    assert retired.retire_at is not None
    after = retired.retire_at + 1
    later = ring.public_jwks(after)
    assert verify(new, later, now=after)["sub"]
    with pytest.raises(TokenInvalid, match="unknown or retired signing key"):
        verify(old, later, now=after)
    stored = await EventStore(client, config).read("authkeys-ring")
    assert len(stored) >= 2  # created at startup, rotated once or more (every second)
    assert all(r.envelope.payload["ring"].startswith("sealed:v1:") for r in stored)


async def test_aiwf_auth_verify_cli(client: aioredis.Redis, config: BusConfig, auth: None, tmp_path: Path) -> None:
    """`aiwf auth verify` prints the claims of a good token (from a JWKS file or Redis) and refuses a forged one."""
    import typer

    async with auth_flow(client, config) as flow:
        user_id = await flow.register("cli")
        token = gateway_secret(await flow.login("cli"), "access_token")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(await published_jwks(client)))
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    runner = CliRunner()

    ok = runner.invoke(app, ["auth", "verify", token, "--json", "--jwks", str(jwks_file)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["claims"]["sub"] == user_id
    from_redis = await asyncio.to_thread(runner.invoke, app, ["auth", "verify", "-", "--json"], input=token + "\n")
    assert from_redis.exit_code == 0, from_redis.output
    assert json.loads(from_redis.stdout)["valid"] is True

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = runner.invoke(app, ["auth", "verify", forged, "--jwks", str(jwks_file)])
    assert bad.exit_code == 1
    assert "token refused" in bad.output


async def test_worker_startup_publishes_the_jwks(client: aioredis.Redis, config: BusConfig, auth: None) -> None:
    """Run as a Worker, auth creates its signing key at startup and publishes the JWKS before any login."""
    from aiwf.bus.worker import Worker

    worker = Worker(SERVICE, client, config)
    task = asyncio.create_task(worker.run())

    async def published() -> bool:
        return bool(await client.exists(JWKS_KEY))

    try:
        await wait_until(published, 10, "the JWKS to be published")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 15)
    jwks = await published_jwks(client)
    assert jwks["issuer"] == "aiwf"
    assert len(jwks["keys"]) == 1  # type: ignore[arg-type]


async def test_startup_without_sealing_keys_says_how_to_make_them(
    client: aioredis.Redis, config: BusConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no auth private key and no gateway public key, startup refuses with the command that makes them."""
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match=r"no private key for service 'auth'.*no public key for service 'gateway'"):
        async with SERVICE.started(client, config):
            pass


class BarrierHasher(PasswordHasher):
    """Holds the first `parties` password checks until all have started: their handlers loaded one user version."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)
        self._calls = itertools.count()

    def verify(self, password_hash: str, password: str) -> bool:
        if next(self._calls) < self.barrier.parties:
            self.barrier.wait()  # BrokenBarrierError after 10 s: the logins did not run side by side
        return super().verify(password_hash, password)


async def test_two_concurrent_logins_of_one_user_conflict_and_the_rerun_sees_the_first(
    client: aioredis.Redis, config: BusConfig, auth: None
) -> None:
    """Two logins decided on one user version: the second commit is refused, re-run on fresh state; both stored."""
    async with auth_flow(client, config) as flow:
        user_id = await flow.register("twin")
        deps = flow.consumer.dispatcher.deps
        assert isinstance(deps, AuthDeps)
        hasher = BarrierHasher(2)
        flow.consumer.dispatcher.deps = dataclasses.replace(deps, hasher=hasher)
        out = await flow.send(*[LoginRequested(username="twin", password=SecretStr(PASSWORD)) for _ in range(2)])
        assert flow.consumer.stats.conflicts == 1
    assert hasher.barrier.broken is False
    assert [e.type for e in out] == ["auth.login.succeeded"] * 2
    families = {parse_family(gateway_secret(e.payload, "refresh_token")) for e in out}
    history = await EventStore(client, config).read(f"user-{user_id}")
    logins = [r.event for r in history if r.event.event_type == "auth.history.login_succeeded"]
    assert {e.model_dump()["family_id"] for e in logins} == families  # each output's tokens are stored, once
    assert len(families) == 2
    for family in families:
        assert await EventStore(client, config).version(f"refresh-{family}") == 1


def parse_family(refresh_token: str) -> str:
    """The family id a refresh token names."""
    parsed = parse_refresh_token(refresh_token)
    assert parsed is not None
    return parsed[0]
