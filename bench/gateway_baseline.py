"""The bench's baseline: a bare FastAPI endpoint doing the gateway's round trip by hand.

    POST /chat {"messages": [...], "max_tokens": N}
      -> note the llm stream's end, XADD llm.chat.requested (Publisher, event id = request id)
      -> XREAD BLOCK the llm stream from there until the reply caused by it, per request

No token, no rate limit, no request record, no heartbeat check, no shared reply reader:
what is left is the XADD and the wait. Run by gateway_bench.py with uvicorn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import FastAPI, Request

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.publish import Publisher
from aiwf.schemas.events.llm import ChatRequested
from aiwf.schemas.ids import new_id

STREAM = keys.stream("llm")
REPLIES = {b"llm.chat.completed", b"llm.chat.failed"}
Reply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    config = BusConfig.from_env(producer="baseline")
    url = os.environ["REDIS_URL"]
    blocking = config.model_copy(update={"socket_timeout_s": config.socket_timeout_s + 2})
    app.state.client = connect(url, blocking)
    app.state.publisher = Publisher(app.state.client, config)
    app.state.config = config
    yield
    await app.state.client.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/chat")
async def chat(request: Request) -> dict[str, Any]:
    body = await request.json()
    client, config = request.app.state.client, request.app.state.config
    request_id = new_id()
    newest = cast("list[tuple[bytes, object]]", await client.xrevrange(STREAM, count=1))
    position = newest[0][0].decode() if newest else "0-0"
    event = ChatRequested(request_id=request_id, messages=body["messages"], max_tokens=body.get("max_tokens", 512))
    await request.app.state.publisher.publish(event, event_id=request_id, correlation_id=request_id)
    wanted = request_id.encode()
    while True:
        batch = cast("Reply", await client.xread({STREAM: position}, count=100, block=1000))
        for _, entries in batch or []:
            position = entries[-1][0].decode()
            for _, fields in entries:
                if fields.get(b"type") in REPLIES and wanted in fields[b"body"]:
                    env = codec.decode(fields, config.max_event_bytes)
                    if env.causation_id == request_id:
                        return {"id": request_id, "text": env.payload.get("text", "")}
