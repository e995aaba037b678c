"""The FastAPI app: its lifespan (Redis client, reply reader, exchange), middleware and routers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from aiwf.bus import keys
from aiwf.bus.blobs import store_for
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import check_access, connect
from aiwf.gateway import accounts, calendars, documents, errors, llm, page, summaries, system, tts
from aiwf.gateway.exchange import Exchange
from aiwf.gateway.headers import EdgeHeaders
from aiwf.gateway.limits import BodyGuard
from aiwf.gateway.ratelimit import RateLimits, limit_address
from aiwf.gateway.replies import Replies
from aiwf.gateway.security import Jwks
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas.events.llm import DELTA_STREAM

__all__ = ["create_app"]

#: Every domain stream the gateway follows: replies come from some, a run's events from all.
FOLLOWED = ("auth", "calendar", "documents", "llm", "tts", "pipeline", DELTA_STREAM)
DESCRIPTION = """HTTP in front of the aiwf event bus: every route publishes a request event and answers
with its reply event. Sign in with POST /api/v1/auth/login and send `Authorization: Bearer <access_token>`.
Errors are `{"error": code, "message": text}`."""


def create_app(config: BusConfig, settings: GatewaySettings, url: str) -> FastAPI:
    """The gateway on Redis at `url`; connections are made when the app starts, closed when it stops."""
    blobs = store_for(config)
    routes = [
        llm.route(settings),
        tts.route(settings, blobs),
        documents.route(settings),
        calendars.route(settings),
        *accounts.routes(settings),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import aiwf.schemas.events  # noqa: F401, PLC0415 - the event models the replies are read with

        client = connect(url, config)
        await check_access(client, url, config)  # wrong credentials stop the gateway at start, naming the user
        types = [t for r in routes for t in r.replies]
        replies = Replies(url, config, [keys.stream(d) for d in FOLLOWED], types)
        await replies.start()
        app.state.exchange = Exchange(client, config, settings, replies, routes)
        app.state.jwks = Jwks(client, settings.audience)
        app.state.limits = RateLimits(url, config, settings.rate_limit_address, settings.rate_limit_user)
        app.state.blobs = blobs
        try:
            yield
        finally:
            await replies.stop()
            await client.aclose()

    app = FastAPI(title="aiwf gateway", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(BodyGuard, limit=settings.max_body_bytes)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # closed by default: no CORS headers at all, so browsers refuse other origins
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(EdgeHeaders)
    errors.install(app)
    app.include_router(system.router)
    for module in (llm, tts, documents, summaries, calendars, accounts):
        app.include_router(module.router, dependencies=[Depends(limit_address)])
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    return app
