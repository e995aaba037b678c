"""The User aggregate: commands return events, state is rebuilt from them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiwf.workers.auth.errors import AlreadyRegistered, InvalidUserEvent, InvalidUsername, NotRegistered, WeakPassword
from aiwf.workers.auth.lockout import LockoutPolicy
from aiwf.workers.auth.passwords import PasswordHasher
from aiwf.workers.auth.tokens import KeyRing, verify_access_token
from aiwf.workers.auth.user import AuthContext, AuthSettings, Outcome, Rejection, User

NOW = 1_700_000_000.0
PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "Tr0ub4dor&3-but-longer"
SETTINGS = AuthSettings(issuer="https://auth.aiwf.test", audience="aiwf", max_families=3)


@pytest.fixture(scope="module")
def ctx() -> AuthContext:
    """Default hasher (OWASP parameters) and a fresh signing key ring."""
    return AuthContext(settings=SETTINGS, keys=KeyRing.generate(NOW), hasher=PasswordHasher())


def _commit(user: User, outcome: Outcome) -> Outcome:
    """Stand-in for the event store: apply what a command returned (JSON round trip as storage would)."""
    user.apply_all(json.loads(json.dumps(outcome.events)))
    return outcome


def _registered(ctx: AuthContext) -> User:
    user = User()
    _commit(user, user.register("u-1", "  Ada  ", PASSWORD, ctx=ctx, now=NOW))
    return user


def _types(outcome: Outcome) -> list[Any]:
    return [e["type"] for e in outcome.events]


def test_register_returns_event_and_leaves_state_alone(ctx: AuthContext) -> None:
    """register returns a 'registered' event with a hash; the user changes only once it is applied."""
    user = User()
    outcome = user.register("u-1", "Ada", PASSWORD, ctx=ctx, now=NOW)
    assert _types(outcome) == ["registered"]
    assert not user.registered
    assert user.version == 0
    assert outcome.events[0]["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in json.dumps(outcome.events)
    user.apply_all(outcome.events)
    assert user.registered
    assert user.version == 1


def test_register_validates(ctx: AuthContext) -> None:
    """A weak password, a bad username or a second registration is refused with a typed error."""
    with pytest.raises(WeakPassword):
        User().register("u-1", "ada", "short", ctx=ctx, now=NOW)
    with pytest.raises(InvalidUsername):
        User().register("u-1", "ada\x00", PASSWORD, ctx=ctx, now=NOW)
    with pytest.raises(AlreadyRegistered):
        _registered(ctx).register("u-1", "ada", PASSWORD, ctx=ctx, now=NOW)
    with pytest.raises(NotRegistered):
        User().login(PASSWORD, ctx=ctx, now=NOW)


def test_login_issues_tokens_verifiable_with_jwks(ctx: AuthContext) -> None:
    """A correct login returns tokens; the access token verifies with the public JWKS and names the user."""
    user = _registered(ctx)
    outcome = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW + 1))
    assert outcome.ok
    assert _types(outcome) == ["login_succeeded"]
    assert outcome.tokens is not None
    claims = verify_access_token(
        outcome.tokens.access_token,
        ctx.keys.public_jwks(NOW),
        issuer=SETTINGS.issuer,
        audience=SETTINGS.audience,
        now=NOW + 2,
    )
    assert claims["sub"] == "u-1"
    assert claims["jti"] == outcome.events[0]["access_jti"]
    stored = json.dumps(outcome.events)
    assert outcome.tokens.refresh_token not in stored
    assert outcome.tokens.access_token not in stored
    assert outcome.tokens.refresh_token not in repr(outcome)


def test_wrong_password_is_recorded(ctx: AuthContext) -> None:
    """A wrong password is refused as BAD_CREDENTIALS and returns a login_failed event, no tokens."""
    user = _registered(ctx)
    outcome = user.login("wrong-password-123", ctx=ctx, now=NOW + 1)
    assert outcome.rejected is Rejection.BAD_CREDENTIALS
    assert outcome.tokens is None
    assert _types(outcome) == ["login_failed"]


def test_lockout_after_failures_and_unlock_after_cooldown(ctx: AuthContext) -> None:
    """Five failures in the window lock the account, even for the right password, until the cooldown ends."""
    user = _registered(ctx)
    for i in range(4):
        assert _types(_commit(user, user.login("wrong-password-123", ctx=ctx, now=NOW + i))) == ["login_failed"]
    fifth = _commit(user, user.login("wrong-password-123", ctx=ctx, now=NOW + 4))
    assert _types(fifth) == ["login_failed", "locked"]
    assert fifth.locked_until == NOW + 4 + 900

    locked = user.login(PASSWORD, ctx=ctx, now=NOW + 100)
    assert locked.rejected is Rejection.LOCKED
    assert locked.events == []
    assert locked.locked_until == NOW + 904

    unlocked = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW + 905))
    assert unlocked.ok


def test_failures_outside_window_do_not_lock(ctx: AuthContext) -> None:
    """Failures spread wider than the window never lock."""
    user = _registered(ctx)
    for i in range(6):
        outcome = _commit(user, user.login("wrong-password-123", ctx=ctx, now=NOW + i * 400))
        assert "locked" not in _types(outcome)


def test_refresh_rotation_and_reuse_revokes_family(ctx: AuthContext) -> None:
    """Each refresh returns a new token; presenting a used one revokes the whole family."""
    user = _registered(ctx)
    login = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW))
    assert login.tokens is not None
    first = login.tokens.refresh_token

    r1 = _commit(user, user.refresh(first, ctx=ctx, now=NOW + 60))
    assert r1.ok
    assert r1.tokens is not None
    assert _types(r1) == ["refresh_rotated"]
    second = r1.tokens.refresh_token
    assert second != first
    assert r1.tokens.family_id == login.tokens.family_id

    r2 = _commit(user, user.refresh(second, ctx=ctx, now=NOW + 120))
    assert r2.tokens is not None
    third = r2.tokens.refresh_token

    reuse = _commit(user, user.refresh(first, ctx=ctx, now=NOW + 180))
    assert reuse.rejected is Rejection.REFRESH_REUSED
    assert reuse.events[0]["type"] == "tokens_revoked"
    assert reuse.events[0]["family_ids"] == [login.tokens.family_id]

    after = user.refresh(third, ctx=ctx, now=NOW + 240)
    assert after.rejected is Rejection.REFRESH_INVALID
    assert after.events == []


def test_refresh_rejects_garbage_and_expired(ctx: AuthContext) -> None:
    """A malformed or foreign refresh token is invalid; one past the family lifetime is expired."""
    user = _registered(ctx)
    login = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW))
    assert login.tokens is not None
    assert user.refresh("garbage", ctx=ctx, now=NOW).rejected is Rejection.REFRESH_INVALID
    forged = login.tokens.refresh_token[:-4] + "AAAA"
    assert user.refresh(forged, ctx=ctx, now=NOW).rejected is Rejection.REFRESH_INVALID
    late = user.refresh(login.tokens.refresh_token, ctx=ctx, now=NOW + SETTINGS.refresh_ttl_s)
    assert late.rejected is Rejection.REFRESH_EXPIRED


def test_revoke_one_family_or_all(ctx: AuthContext) -> None:
    """revoke(token) ends that login only; revoke() ends every login."""
    user = _registered(ctx)
    a = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW)).tokens
    b = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW + 1)).tokens
    assert a is not None
    assert b is not None
    _commit(user, user.revoke(a.refresh_token, now=NOW + 2))
    assert user.refresh(a.refresh_token, ctx=ctx, now=NOW + 3).rejected is Rejection.REFRESH_INVALID
    assert user.refresh(b.refresh_token, ctx=ctx, now=NOW + 3).ok
    everything = _commit(user, user.revoke(now=NOW + 4))
    assert everything.events[0]["family_ids"] == [b.family_id]
    assert user.families == {}
    assert user.revoke(now=NOW + 5).events == []


def test_family_limit_evicts_oldest_login(ctx: AuthContext) -> None:
    """Past max_families concurrent logins the oldest family is revoked."""
    user = _registered(ctx)
    tokens = [_commit(user, user.login(PASSWORD, ctx=ctx, now=NOW + i)).tokens for i in range(4)]
    assert len(user.families) == 3
    assert tokens[0] is not None
    assert tokens[0].family_id not in user.families


def test_change_password_revokes_tokens(ctx: AuthContext) -> None:
    """Changing the password needs the current one, revokes every family, and swaps which password works."""
    user = _registered(ctx)
    login = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW))
    assert login.tokens is not None
    wrong = user.change_password("not-the-password-1", NEW_PASSWORD, ctx=ctx, now=NOW + 1)
    assert wrong.rejected is Rejection.BAD_CREDENTIALS
    with pytest.raises(WeakPassword, match="equals"):
        user.change_password(PASSWORD, PASSWORD, ctx=ctx, now=NOW + 1)
    changed = _commit(user, user.change_password(PASSWORD, NEW_PASSWORD, ctx=ctx, now=NOW + 2))
    assert _types(changed) == ["password_changed", "tokens_revoked"]
    assert user.refresh(login.tokens.refresh_token, ctx=ctx, now=NOW + 3).rejected is Rejection.REFRESH_INVALID
    assert user.login(PASSWORD, ctx=ctx, now=NOW + 4).rejected is Rejection.BAD_CREDENTIALS
    assert user.login(NEW_PASSWORD, ctx=ctx, now=NOW + 5).ok


def test_login_rehashes_outdated_hash(ctx: AuthContext) -> None:
    """A login against a hash with old parameters also returns password_changed with a current hash."""
    legacy = AuthContext(settings=SETTINGS, keys=ctx.keys, hasher=PasswordHasher(memory_kib=1024, time_cost=1))
    user = User()
    _commit(user, user.register("u-2", "bob", PASSWORD, ctx=legacy, now=NOW))
    outcome = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW + 1))
    assert _types(outcome) == ["password_changed", "login_succeeded"]
    assert outcome.events[0]["reason"] == "rehash"
    assert user.password_hash is not None
    assert not ctx.hasher.needs_rehash(user.password_hash)


def test_state_rebuilt_from_history(ctx: AuthContext) -> None:
    """Replaying the stored events gives the same state and version as applying them live."""
    user = _registered(ctx)
    history: list[dict[str, Any]] = []
    history += User().register("u-1", "Ada", PASSWORD, ctx=ctx, now=NOW).events
    replay = User.from_events(history)
    login = replay.login(PASSWORD, ctx=ctx, now=NOW + 1)
    history += login.events
    replay.apply_all(login.events)
    rebuilt = User.from_events(history)
    assert rebuilt.version == replay.version == 2
    assert rebuilt.families.keys() == replay.families.keys()
    assert user.version == 1


def test_apply_refuses_corrupt_history() -> None:
    """Unknown, out-of-order or incomplete events raise InvalidUserEvent."""
    with pytest.raises(InvalidUserEvent, match="unknown"):
        User().apply({"type": "exploded", "at": NOW})
    with pytest.raises(InvalidUserEvent, match="out of order"):
        User().apply({"type": "login_failed", "at": NOW})
    with pytest.raises(InvalidUserEvent, match="password_hash"):
        User().apply({"type": "registered", "at": NOW, "user_id": "u", "username": "a"})
    with pytest.raises(InvalidUserEvent, match="'at'"):
        User().apply({"type": "registered"})


def test_lockout_policy_from_settings(ctx: AuthContext) -> None:
    """A stricter LockoutPolicy in the settings locks after fewer failures."""
    strict = AuthContext(
        settings=AuthSettings(issuer="i", audience="a", lockout=LockoutPolicy(max_failures=2)),
        keys=ctx.keys,
        hasher=ctx.hasher,
    )
    user = _registered(ctx)
    _commit(user, user.login("wrong-password-123", ctx=strict, now=NOW))
    second = user.login("wrong-password-123", ctx=strict, now=NOW + 1)
    assert _types(second) == ["login_failed", "locked"]


def test_snapshot_round_trip(ctx: AuthContext) -> None:
    """A restored snapshot behaves like the original: same version, and its refresh token still rotates."""
    user = _registered(ctx)
    login = _commit(user, user.login(PASSWORD, ctx=ctx, now=NOW))
    assert login.tokens is not None
    _commit(user, user.login("wrong-password-123", ctx=ctx, now=NOW + 1))
    restored = User()
    restored.restore_state(json.loads(json.dumps(user.snapshot_state())))
    assert restored.version == user.version == 3
    assert restored.failures == (NOW + 1,)
    assert restored.refresh(login.tokens.refresh_token, ctx=ctx, now=NOW + 2).ok
    with pytest.raises(InvalidUserEvent, match="snapshot"):
        restored.restore_state({"version": 1})
    assert restored.version == 3
