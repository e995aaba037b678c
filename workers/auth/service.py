"""The auth service: registration, login, refresh, revocation and password change on the event store.

    auth.registration.requested     -> registration.py  auth.user.registered | auth.registration.rejected
    auth.login.requested            -> login.py         auth.login.succeeded | auth.login.failed (+ account.locked)
    auth.token.refresh_requested    -> login.py         auth.token.refreshed | auth.token.refresh_failed
    auth.token.revocation_requested -> revocation.py    auth.tokens.revoked | auth.token.revocation_failed
    auth.password.change_requested  -> revocation.py    auth.password.changed | auth.password.change_failed

One event's path: the lifespan (runtime.py) built the deps once; the handler reads current
state (lookup.py: the user by name or refresh token, from the store), lets the engine decide
(user.py), and returns a Decision: the outcome events, the user's new events and any index
entry (a username claim, a refresh family's owner), staged with expected version = the version
loaded. The bus commits all of it with the request's processed-marker and ack in one step, or
refuses all of it when another change to the same stream came first; then the handler runs
again on fresh state. Nothing is ever half-written, and no token leaves without its hash stored.

Passwords arrive unsealed only here; tokens leave sealed for the gateway.
"""

from __future__ import annotations

from aiwf.bus import Subscription
from aiwf.bus.worker import Service
from aiwf.schemas.events.auth import (
    LoginRequested,
    PasswordChangeRequested,
    RegistrationRequested,
    TokenRefreshRequested,
    TokenRevocationRequested,
)
from aiwf.workers.auth.login import on_login, on_refresh
from aiwf.workers.auth.registration import on_registration
from aiwf.workers.auth.revocation import on_password_change, on_revocation
from aiwf.workers.auth.runtime import lifespan

__all__ = ["SERVICE", "auth"]

auth = Subscription(stream="auth", group="auth", batch=16, concurrency=8)
auth.on(RegistrationRequested, on_registration)
auth.on(LoginRequested, on_login)
auth.on(TokenRefreshRequested, on_refresh)
auth.on(TokenRevocationRequested, on_revocation)
auth.on(PasswordChangeRequested, on_password_change)

SERVICE = Service(name="auth", subscriptions=[auth], lifespan=lifespan)
