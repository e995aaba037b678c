"""The FastAPI app: its lifespan (Redis client, reply reader, exchange), middleware and routers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from aiwf.bus.blobs import store_for
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import check_access, connect
from aiwf.gateway import errors, llm, system, tts
from aiwf.gateway.exchange import Exchange
from aiwf.gateway.limits import BodyGuard
from aiwf.gateway.replies import Replies
from aiwf.gateway.settings import GatewaySettings

__all__ = ["create_app"]


def create_app(config: BusConfig, settings: GatewaySettings, url: str) -> FastAPI:
    """The gateway on Redis at `url`; connections are made when the app starts, closed when it stops."""
    routes = [llm.route(settings), tts.route(settings, store_for(config))]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import aiwf.schemas.events  # noqa: F401, PLC0415 - the event models the replies are read with

        client = connect(url, config)
        await check_access(client, url, config)  # wrong credentials stop the gateway at start, naming the user
        replies = Replies(url, config, [r.stream for r in routes], [t for r in routes for t in r.replies])
        await replies.start()
        app.state.exchange = Exchange(client, config, settings, replies, routes)
        try:
            yield
        finally:
            await replies.stop()
            await client.aclose()

    app = FastAPI(title="aiwf gateway", version="1", lifespan=lifespan)
    app.add_middleware(BodyGuard, limit=settings.max_body_bytes)
    errors.install(app)
    for module in (system, llm, tts):
        app.include_router(module.router)
    return app
