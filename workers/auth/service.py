"""The auth service: registration, login, refresh, revocation and password change on the event store.

    auth.registration.requested     -> auth.user.registered | auth.registration.rejected
    auth.login.requested            -> auth.login.succeeded | auth.login.failed (+ auth.account.locked)
    auth.token.refresh_requested    -> auth.token.refreshed | auth.token.refresh_failed (+ auth.tokens.revoked)
    auth.token.revocation_requested -> auth.tokens.revoked | auth.token.revocation_failed
    auth.password.change_requested  -> auth.password.changed (+ auth.tokens.revoked) | auth.password.change_failed

Each handler loads the aggregates it needs, lets the engine (workers.auth.user) decide, saves
the decided events with expected version = the version loaded, and returns the outcome. A
save that loses a race (ConcurrencyError) is redone on fresh state a few times, then left to
the bus's retry. Event ids are derived from the request, so a redelivered request whose
decision is already stored saves nothing twice; if that decision issued tokens, they are lost
with the crashed attempt and the outcome says `retry` (log in again).

Passwords arrive unsealed only here; tokens leave sealed for the gateway. Unknown users,
wrong passwords and locked accounts cost one Argon2 verify each and fail alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final, TypeVar

from pydantic import SecretStr

from aiwf.bus import ConfigError, Context, Subscription
from aiwf.bus.resources import PerLoop
from aiwf.bus.store import Aggregate, ConcurrencyError, IdempotencyConflict, Repository
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Envelope, Event
from aiwf.schemas.events.auth import (
    AccountLocked,
    LoginFailed,
    LoginRequested,
    LoginSucceeded,
    PasswordChanged,
    PasswordChangeFailed,
    PasswordChangeRequested,
    RefreshFamilyOpened,
    RegistrationRejected,
    RegistrationRequested,
    TokenRefreshed,
    TokenRefreshFailed,
    TokenRefreshRequested,
    TokenRevocationFailed,
    TokenRevocationRequested,
    TokensRevoked,
    UsernameClaimed,
    UserRegistered,
)
from aiwf.schemas.secrets import KeyringError, default_keyring, keys_dir
from aiwf.workers.auth.errors import InvalidUsername, WeakPassword
from aiwf.workers.auth.refresh import parse_refresh_token
from aiwf.workers.auth.runtime import Runtime, Settings
from aiwf.workers.auth.store import FamilyIndex, UserAggregate, UsernameIndex, username_key
from aiwf.workers.auth.user import DomainEvent, Outcome, Rejection

#: Decisions redone on fresh state after losing a save race, before the bus retries the event.
SAVE_ATTEMPTS: Final = 3
#: user ids derived from a registration request's event id (uuid5), so a redelivery picks the same one.
USER_IDS: Final = uuid.UUID("1d0c5a52-3c1e-4d55-9a6e-2b7f0c8e9a41")

auth = Subscription(stream="auth", group="auth", batch=16, concurrency=8)
SETTINGS = Settings.from_env()
runtimes: PerLoop[Runtime] = PerLoop("auth", lambda client, config: Runtime(client, config, SETTINGS))
T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)


async def _redone(decide: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(SAVE_ATTEMPTS):
        try:
            return await decide()
        except ConcurrencyError:
            if attempt == SAVE_ATTEMPTS - 1:
                raise  # a TransientError: the bus retries the event later
    raise AssertionError("unreachable")  # pragma: no cover


async def _saved(repo: Repository[A], agg: A, cause: Envelope) -> bool:
    """Save; False when an earlier delivery of this request had already stored its decision."""
    before, count = agg.version, len(agg.pending)
    try:
        version = await repo.save(agg, cause=cause)
    except IdempotencyConflict:
        return False
    return version == before + count


def _announced(user_id: str, events: Sequence[DomainEvent]) -> list[Event]:
    """The public side effects among the stored events: locks and revocations."""
    out: list[Event] = []
    for event in events:
        if event["type"] == "locked":
            out.append(AccountLocked(user_id=user_id, until=event["until"]))
        elif event["type"] == "tokens_revoked":
            out.append(TokensRevoked(user_id=user_id, families=len(event["family_ids"]), reason=event["reason"]))
    return out


async def _user_by_name(rt: Runtime, username: str) -> UserAggregate | None:
    """The registered user holding `username`, or None (the user's own name must match the claim)."""
    key = username_key(username)
    claim = await rt.names.load(key)
    if claim.user_id is None:
        return None
    agg = await rt.users.load(claim.user_id)
    name = agg.user.username
    return agg if name is not None and username_key(name) == key else None


async def _user_by_token(rt: Runtime, token: str) -> UserAggregate | None:
    """The user whose refresh family `token` names, or None for a malformed or unknown token."""
    parsed = parse_refresh_token(token)
    if parsed is None:
        return None
    family = await rt.families.load(parsed[0])
    if family.user_id is None:
        return None
    agg = await rt.users.load(family.user_id)
    return agg if agg.user.registered else None


# ------------------------------------------------------------------------------ registration


@auth.handler
async def on_registration(event: RegistrationRequested, ctx: Context) -> list[Event]:
    """Claim the username (expected version 0: one winner), then store the new user."""
    rt = await runtimes.get()
    user_id = event.user_id or str(uuid.uuid5(USER_IDS, ctx.envelope.id))
    agg = await rt.users.load(user_id)
    if agg.user.registered:
        claim = await rt.names.load(username_key(event.username))
        if claim.user_id == user_id and agg.user.username is not None:  # this request, delivered again
            return [UserRegistered(user_id=user_id, username=agg.user.username)]
        return [RegistrationRejected(username=event.username, reason="duplicate")]
    password = event.password.get_secret_value()
    try:
        outcome = await asyncio.to_thread(
            agg.user.register, user_id, event.username, password, ctx=rt.unsigned(), now=time.time()
        )
    except WeakPassword as exc:
        return [RegistrationRejected(username=event.username, reason="weak_password", detail=exc.reason)]
    except InvalidUsername as exc:
        return [RegistrationRejected(username=event.username, reason="invalid_username", detail=str(exc))]
    claim = UsernameIndex(username_key(event.username))
    claim.record(UsernameClaimed(username=event.username, user_id=user_id))
    try:
        await rt.names.save(claim, cause=ctx.envelope)  # version 0 -> the stream must not exist yet
    except (ConcurrencyError, IdempotencyConflict):
        return [RegistrationRejected(username=event.username, reason="duplicate")]
    agg.record_all(outcome.events)
    try:
        await rt.users.save(agg, cause=ctx.envelope)
    except ConcurrencyError:  # a client-chosen user_id registered meanwhile under another name
        return [RegistrationRejected(username=event.username, reason="duplicate")]
    return [UserRegistered(user_id=user_id, username=outcome.events[0]["username"])]


# ------------------------------------------------------------------------------------ login


@auth.handler
async def on_login(event: LoginRequested, ctx: Context) -> list[Event]:
    """Verify the password; tokens on success, a lock after too many failures."""
    rt = await runtimes.get()
    password = event.password.get_secret_value()

    async def decide() -> list[Event]:
        agg = await _user_by_name(rt, event.username)
        if agg is None:
            await asyncio.to_thread(rt.hasher.dummy_verify, password)
            return [LoginFailed(reason="invalid_credentials")]
        now = time.time()
        engine = await rt.context(now)
        outcome = await asyncio.to_thread(agg.user.login, password, ctx=engine, now=now)
        if outcome.rejected is Rejection.LOCKED:
            await asyncio.to_thread(rt.hasher.dummy_verify, password)
        return await _login_outcome(rt, agg, outcome, ctx.envelope)

    return await _redone(decide)


async def _login_outcome(rt: Runtime, agg: UserAggregate, outcome: Outcome, cause: Envelope) -> list[Event]:
    user_id = agg.id
    tokens = outcome.tokens
    if tokens is not None:
        family = FamilyIndex(tokens.family_id)
        family.record(RefreshFamilyOpened(family_id=tokens.family_id, user_id=user_id))
        await rt.families.save(family, cause=cause)
    agg.record_all(outcome.events)
    fresh = await _saved(rt.users, agg, cause)
    announced = _announced(user_id, outcome.events)
    if tokens is None:
        return [*announced, LoginFailed(reason="invalid_credentials")]
    if not fresh:
        return [LoginFailed(reason="retry")]
    return [
        *announced,
        LoginSucceeded(
            user_id=user_id,
            access_token=SecretStr(tokens.access_token),
            refresh_token=SecretStr(tokens.refresh_token),
            expires_at=tokens.access_expires_at,
            refresh_expires_at=tokens.refresh_expires_at,
        ),
    ]


# ---------------------------------------------------------------------------------- refresh


_REFRESH_REASONS: Final = {
    Rejection.REFRESH_INVALID: "invalid",
    Rejection.REFRESH_EXPIRED: "expired",
    Rejection.REFRESH_REUSED: "reused",
}


@auth.handler
async def on_refresh(event: TokenRefreshRequested, ctx: Context) -> list[Event]:
    """Rotate the family's current token; a used token revokes its whole family."""
    rt = await runtimes.get()
    token = event.refresh_token.get_secret_value()

    async def decide() -> list[Event]:
        agg = await _user_by_token(rt, token)
        if agg is None:
            return [TokenRefreshFailed(reason="invalid")]
        now = time.time()
        outcome = agg.user.refresh(token, ctx=await rt.context(now), now=now)
        agg.record_all(outcome.events)
        fresh = await _saved(rt.users, agg, ctx.envelope)
        announced = _announced(agg.id, outcome.events)
        if outcome.rejected is not None or outcome.tokens is None:
            reason = _REFRESH_REASONS.get(outcome.rejected or Rejection.REFRESH_INVALID, "invalid")
            return [*announced, TokenRefreshFailed(reason=reason)]
        if not fresh:
            return [TokenRefreshFailed(reason="retry")]
        return [
            TokenRefreshed(
                user_id=agg.id,
                access_token=SecretStr(outcome.tokens.access_token),
                refresh_token=SecretStr(outcome.tokens.refresh_token),
                expires_at=outcome.tokens.access_expires_at,
                refresh_expires_at=outcome.tokens.refresh_expires_at,
            )
        ]

    return await _redone(decide)


# ------------------------------------------------------------------------------- revocation


@auth.handler
async def on_revocation(event: TokenRevocationRequested, ctx: Context) -> list[Event]:
    """Revoke the token's family, or every family of its user; a token of no login is refused."""
    rt = await runtimes.get()
    token = event.refresh_token.get_secret_value()

    async def decide() -> list[Event]:
        agg = await _user_by_token(rt, token)
        now = time.time()
        checked = agg.user.revoke(token, now=now) if agg else None
        if agg is None or checked is None or not checked.ok:
            return [TokenRevocationFailed(reason="invalid")]
        outcome = agg.user.revoke(None, now=now) if event.everywhere else checked
        agg.record_all(outcome.events)
        await _saved(rt.users, agg, ctx.envelope)
        return _announced(agg.id, outcome.events) or [TokensRevoked(user_id=agg.id, families=0, reason="logout")]

    return await _redone(decide)


# -------------------------------------------------------------------------- password change


@auth.handler
async def on_password_change(event: PasswordChangeRequested, ctx: Context) -> list[Event]:
    """Check the current password, store the new hash, revoke every login."""
    rt = await runtimes.get()
    current = event.current_password.get_secret_value()
    new = event.new_password.get_secret_value()
    refused = PasswordChangeFailed(user_id=event.user_id, reason="invalid_credentials")

    async def decide() -> list[Event]:
        agg = await rt.users.load(event.user_id)
        if not agg.user.registered:
            await asyncio.to_thread(rt.hasher.dummy_verify, current)
            return [refused]
        now = time.time()
        try:
            outcome = await asyncio.to_thread(agg.user.change_password, current, new, ctx=rt.unsigned(), now=now)
        except WeakPassword as exc:
            return [PasswordChangeFailed(user_id=event.user_id, reason="weak_password", detail=exc.reason)]
        if outcome.rejected is Rejection.LOCKED:
            await asyncio.to_thread(rt.hasher.dummy_verify, current)
        agg.record_all(outcome.events)
        await _saved(rt.users, agg, ctx.envelope)
        announced = _announced(agg.id, outcome.events)
        if not outcome.ok:
            return [*announced, refused]
        return [PasswordChanged(user_id=agg.id), *announced]

    return await _redone(decide)


# ---------------------------------------------------------------------------------- service


def check_sealing_keys() -> None:
    """ConfigError unless auth can open its requests (auth's private key) and seal tokens (gateway's public key)."""
    ring = default_keyring()
    missing = []
    for need in (lambda: ring.private_key("auth"), lambda: ring.public_key("gateway")):
        try:
            need()
        except KeyringError as exc:
            missing.append(str(exc))
    if missing:
        raise ConfigError(
            f"auth cannot start: {'; '.join(missing)} (or key files in {keys_dir()}). Make them once with: "
            f"python -c \"from schemas.secrets import generate; generate('{keys_dir()}', ['auth', 'gateway'])\""
        )


async def startup() -> None:
    """Check the sealing keys, connect, then load (or create, or rotate) the signing keys and publish the JWKS."""
    check_sealing_keys()
    rt = await runtimes.get()
    await rt.keys.current(time.time())


@contextlib.asynccontextmanager
async def lifespan(_: Startup) -> AsyncIterator[None]:
    """Keys checked and the JWKS published before the first event; the store client closed after the last."""
    await startup()
    try:
        yield None
    finally:
        await runtimes.close()


SERVICE = Service(name="auth", subscriptions=[auth], lifespan=lifespan)
