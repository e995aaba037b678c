"""POST /api/v1/auth/register|login|refresh|logout: the auth service's requests and outcomes over the bus.

Passwords and refresh tokens are sealed for auth before they reach the stream (their fields are
`Secret`); the tokens auth issues are sealed for the gateway, opened here and handed to the
client. These requests belong to nobody: GET /api/v1/requests/{id} never shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.gateway.bodies import body_of, exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route
from aiwf.gateway.security import current_user
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import REGISTRY, Envelope, Event
from aiwf.schemas.events.auth import (
    LoginFailed,
    LoginRequested,
    LoginSucceeded,
    RegistrationRejected,
    RegistrationRequested,
    TokenRefreshed,
    TokenRefreshFailed,
    TokenRefreshRequested,
    TokenRevocationFailed,
    TokenRevocationRequested,
    TokensRevoked,
    UserRegistered,
)

__all__ = ["ROUTES", "router", "routes"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
OFFLINE = "Sign-in is temporarily offline"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "refused"},
    422: {"description": "invalid body"},
    503: {"description": "auth offline"},
}

if TYPE_CHECKING:
    from pydantic import BaseModel as LoginBody
    from pydantic import BaseModel as LogoutBody
    from pydantic import BaseModel as RefreshBody
    from pydantic import BaseModel as RegisterBody
else:
    RegisterBody = body_of(RegistrationRequested, "RegisterBody", without=frozenset({"user_id"}))
    LoginBody = body_of(LoginRequested, "LoginBody", without=frozenset())
    RefreshBody = body_of(TokenRefreshRequested, "RefreshBody", without=frozenset())
    LogoutBody = body_of(TokenRevocationRequested, "LogoutBody", without=frozenset())


def _parsed(env: Envelope) -> Event:
    return REGISTRY.parse(env.type, env.version, env.payload, reader="gateway")


def _tokens(reply: LoginSucceeded | TokenRefreshed) -> JSONResponse:
    return JSONResponse(
        {
            "token_type": "bearer",
            "user_id": reply.user_id,
            "access_token": reply.access_token.get_secret_value(),
            "refresh_token": reply.refresh_token.get_secret_value(),
            "expires_at": reply.expires_at,
            "refresh_expires_at": reply.refresh_expires_at,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _registered(env: Envelope) -> Response:
    reply = _parsed(env)
    if isinstance(reply, RegistrationRejected):
        status = 409 if reply.reason == "duplicate" else 422
        detail = f": {reply.detail}" if reply.detail else ""
        return problem(status, reply.reason, f"registration refused ({reply.reason}){detail}")
    assert isinstance(reply, UserRegistered)  # noqa: S101 - type narrowing: one of the replies asked for
    return JSONResponse({"user_id": reply.user_id, "username": reply.username}, status_code=201)


async def _logged_in(env: Envelope) -> Response:
    reply = _parsed(env)
    if isinstance(reply, LoginFailed):
        return problem(401, reply.reason, "wrong username or password, or the account is locked for now")
    assert isinstance(reply, LoginSucceeded)  # noqa: S101 - type narrowing: one of the replies asked for
    return _tokens(reply)


async def _refreshed(env: Envelope) -> Response:
    reply = _parsed(env)
    if isinstance(reply, TokenRefreshFailed):
        return problem(401, f"refresh_{reply.reason}", f"the refresh token is refused ({reply.reason}); log in again")
    assert isinstance(reply, TokenRefreshed)  # noqa: S101 - type narrowing: one of the replies asked for
    return _tokens(reply)


async def _logged_out(env: Envelope) -> Response:
    reply = _parsed(env)
    if isinstance(reply, TokenRevocationFailed):
        return problem(401, "refresh_invalid", "the refresh token is refused")
    assert isinstance(reply, TokensRevoked)  # noqa: S101 - type narrowing: one of the replies asked for
    return JSONResponse({"revoked_families": reply.families})


def routes(settings: GatewaySettings) -> list[Route]:
    """The four auth routes with the configured timeout."""
    table: list[tuple[str, set[str], Any]] = [
        ("auth.register", {"auth.user.registered", "auth.registration.rejected"}, _registered),
        ("auth.login", {"auth.login.succeeded", "auth.login.failed"}, _logged_in),
        ("auth.refresh", {"auth.token.refreshed", "auth.token.refresh_failed"}, _refreshed),
        ("auth.logout", {"auth.tokens.revoked", "auth.token.revocation_failed"}, _logged_out),
    ]
    return [Route(n, "auth", frozenset(r), settings.auth_timeout_s, f, OFFLINE) for n, r, f in table]


ROUTES = ("auth.register", "auth.login", "auth.refresh", "auth.logout")


def _fields(body: Any) -> dict[str, Any]:
    """The body's values as given (a Secret stays a SecretStr, sealed when the event is published)."""
    return {name: getattr(body, name) for name in type(body).model_fields}


@router.post("/register", summary="Create an account", status_code=201, responses=ERRORS)
async def register(
    body: RegisterBody, gateway: Annotated[Exchange, Depends(exchange)], prefer: Annotated[str | None, Header()] = None
) -> Response:
    """201 with the new user id; 409 for a taken username, 422 for a weak password or a bad username."""
    fields = _fields(body)
    return await gateway.ask(gateway.routes["auth.register"], lambda _rid: RegistrationRequested(**fields), prefer)


@router.post("/login", summary="Log in: access and refresh tokens", responses=ERRORS)
async def login(
    body: LoginBody, gateway: Annotated[Exchange, Depends(exchange)], prefer: Annotated[str | None, Header()] = None
) -> Response:
    """200 with a bearer access token and a refresh token; 401 for a wrong password (or a locked account)."""
    fields = _fields(body)
    return await gateway.ask(gateway.routes["auth.login"], lambda _rid: LoginRequested(**fields), prefer)


@router.post("/refresh", summary="A new token pair for a refresh token", responses=ERRORS)
async def refresh(
    body: RefreshBody, gateway: Annotated[Exchange, Depends(exchange)], prefer: Annotated[str | None, Header()] = None
) -> Response:
    """200 with a new pair (the old refresh token is spent); 401 for an invalid, expired or reused one."""
    fields = _fields(body)
    return await gateway.ask(gateway.routes["auth.refresh"], lambda _rid: TokenRefreshRequested(**fields), prefer)


@router.post(
    "/logout",
    summary="Revoke a refresh token's login (or every login)",
    responses=ERRORS,
    dependencies=[Depends(current_user)],
)
async def logout(
    body: LogoutBody,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """200 with how many logins were revoked; the bearer token itself expires on its own."""
    fields = _fields(body)
    return await gateway.ask(gateway.routes["auth.logout"], lambda _rid: TokenRevocationRequested(**fields), prefer)
