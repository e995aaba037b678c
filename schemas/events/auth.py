"""auth: registration, login, token refresh and revocation, password change, signing keys.

Requests and outcomes travel on the `auth` stream. Passwords are `Secret` fields sealed for
`auth`; issued tokens are sealed for `gateway` (`secret_recipient`), the only service that
hands them to clients. Outcomes name no password and give no hint whether a user exists.

The `auth.history.*`, `auth.username.claimed`, `auth.refresh_family.opened` and
`auth.signing_keys.rotated` models are the auth service's own event-store records (streams
`user-<id>`, `username-<hash>`, `refresh-<family>`, `authkeys-ring`): they hold hashes and
sealed key material, never a password or a token, and are never published on a bus stream.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from aiwf.schemas.base import Event
from aiwf.schemas.registry import event
from aiwf.schemas.secrets import Secret

#: A sealed secret is about 4/3 of its plaintext plus 70 characters: room for an 8 KiB token.
SECRET_CHARS = 12_000
Username = Annotated[str, Field(min_length=1, max_length=254)]
UserId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
FamilyId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PasswordHash = Annotated[str, Field(min_length=1, max_length=512)]
Password = Annotated[Secret, Field(max_length=SECRET_CHARS)]
Token = Annotated[Secret, Field(max_length=SECRET_CHARS)]
Seconds = Annotated[float, Field(ge=0, le=1e11)]
Detail = Annotated[str, Field(max_length=500)]
Jti = Annotated[str, Field(min_length=1, max_length=64)]

# ------------------------------------------------------------------------------ requests


@event("auth.registration.requested", version=1)
class RegistrationRequested(Event):
    """Create an account; `user_id` is derived from the request's event id when not given."""

    username: Username
    password: Password
    user_id: UserId | None = None


@event("auth.login.requested", version=1)
class LoginRequested(Event):
    """Check a password and, if it matches, issue an access and a refresh token."""

    username: Username
    password: Password


@event("auth.token.refresh_requested", version=1)
class TokenRefreshRequested(Event):
    """Exchange the current refresh token of a login for a new pair."""

    refresh_token: Token


@event("auth.token.revocation_requested", version=1)
class TokenRevocationRequested(Event):
    """Log out: revoke the refresh token's family, or with `everywhere` every family of its user."""

    refresh_token: Token
    everywhere: bool = False


@event("auth.password.change_requested", version=1)
class PasswordChangeRequested(Event):
    """Replace a user's password after checking the current one; every login is revoked."""

    user_id: UserId
    current_password: Password
    new_password: Password


# ------------------------------------------------------------------------------ outcomes


@event("auth.user.registered", version=1)
class UserRegistered(Event):
    """An account exists."""

    user_id: UserId
    username: Username


@event("auth.registration.rejected", version=1)
class RegistrationRejected(Event):
    """No account was created; `detail` says which password or username rule failed."""

    username: Username
    reason: Literal["duplicate", "weak_password", "invalid_username"]
    detail: Detail = ""


@event("auth.login.succeeded", version=1)
class LoginSucceeded(Event):
    """Tokens for the client, sealed for the gateway; `expires_at` is the access token's expiry."""

    secret_recipient: ClassVar[str | None] = "gateway"  # noqa: S105 - a service name, not a password

    user_id: UserId
    access_token: Token
    refresh_token: Token
    expires_at: Seconds
    refresh_expires_at: Seconds


@event("auth.login.failed", version=1)
class LoginFailed(Event):
    """No tokens. One reason for an unknown user, a wrong password and a locked account alike.

    `retry` means a crashed attempt already recorded this login and its tokens are lost: log in again.
    """

    reason: Literal["invalid_credentials", "retry"]


@event("auth.account.locked", version=1)
class AccountLocked(Event):
    """Too many failed logins in the window: logins are refused until `until` (for alerts and e-mail)."""

    user_id: UserId
    until: Seconds


@event("auth.token.refreshed", version=1)
class TokenRefreshed(Event):
    """A new token pair, sealed for the gateway; the presented refresh token is now used."""

    secret_recipient: ClassVar[str | None] = "gateway"  # noqa: S105 - a service name, not a password

    user_id: UserId
    access_token: Token
    refresh_token: Token
    expires_at: Seconds
    refresh_expires_at: Seconds


@event("auth.token.refresh_failed", version=1)
class TokenRefreshFailed(Event):
    """No new tokens: the token is unknown or revoked, its login expired, or it was used before (family revoked)."""

    reason: Literal["invalid", "expired", "reused", "retry"]


@event("auth.tokens.revoked", version=1)
class TokensRevoked(Event):
    """Refresh-token families of a user were revoked; their access tokens expire on their own."""

    user_id: UserId
    families: Annotated[int, Field(ge=0, le=10_000)]
    reason: Annotated[str, Field(max_length=64)]


@event("auth.token.revocation_failed", version=1)
class TokenRevocationFailed(Event):
    """Nothing was revoked: the refresh token is not a live token of any login."""

    reason: Literal["invalid"]


@event("auth.password.changed", version=1)
class PasswordChanged(Event):
    """The password was replaced; every refresh family of the user is revoked."""

    user_id: UserId


@event("auth.password.change_failed", version=1)
class PasswordChangeFailed(Event):
    """The password was kept: wrong current password (or locked, or no such user), or a weak new one."""

    user_id: UserId
    reason: Literal["invalid_credentials", "weak_password"]
    detail: Detail = ""


@event("auth.keys.published", version=1)
class KeysPublished(Event):
    """The public signing keys (a JWKS) that verify access tokens; sent on every rotation."""

    issuer: Annotated[str, Field(max_length=200)]
    audience: Annotated[str, Field(max_length=200)]
    jwks: dict[str, Any]


# ------------------------------------------------------------------ event-store records


@event("auth.history.registered", version=1)
class HistoryRegistered(Event):
    """Stored: the account was created with this Argon2id hash."""

    at: Seconds
    user_id: UserId
    username: Username
    password_hash: PasswordHash


@event("auth.history.password_changed", version=1)
class HistoryPasswordChanged(Event):
    """Stored: the password hash was replaced (`reason`: user or rehash)."""

    at: Seconds
    password_hash: PasswordHash
    reason: Annotated[str, Field(max_length=64)] = "user"


@event("auth.history.login_succeeded", version=1)
class HistoryLoginSucceeded(Event):
    """Stored: a login opened a refresh family; only the refresh token's SHA-256 is kept."""

    at: Seconds
    family_id: FamilyId
    refresh_hash: Sha256Hex
    refresh_expires_at: Seconds
    access_jti: Jti


@event("auth.history.login_failed", version=1)
class HistoryLoginFailed(Event):
    """Stored: a wrong password was presented."""

    at: Seconds


@event("auth.history.locked", version=1)
class HistoryLocked(Event):
    """Stored: logins are refused until `until`."""

    at: Seconds
    until: Seconds


@event("auth.history.refresh_rotated", version=1)
class HistoryRefreshRotated(Event):
    """Stored: a family's current refresh token was exchanged for a new one."""

    at: Seconds
    family_id: FamilyId
    used_hash: Sha256Hex
    new_hash: Sha256Hex
    access_jti: Jti


@event("auth.history.tokens_revoked", version=1)
class HistoryTokensRevoked(Event):
    """Stored: these refresh families were revoked."""

    at: Seconds
    family_ids: Annotated[list[FamilyId], Field(max_length=10_000)]
    reason: Annotated[str, Field(max_length=64)]


@event("auth.username.claimed", version=1)
class UsernameClaimed(Event):
    """Stored as the first and only event of `username-<hash>`: this name belongs to `user_id`."""

    username: Username
    user_id: UserId


@event("auth.refresh_family.opened", version=1)
class RefreshFamilyOpened(Event):
    """Stored as the first event of `refresh-<family_id>`: whose login this family is."""

    family_id: FamilyId
    user_id: UserId


@event("auth.signing_keys.rotated", version=1)
class SigningKeysRotated(Event):
    """Stored: the whole signing key ring (private keys, sealed for auth) and its public JWKS."""

    at: Seconds
    ring: Annotated[Secret, Field(max_length=60_000)]
    jwks: dict[str, Any]
