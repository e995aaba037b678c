"""`stream: true` on POST /api/v1/llm/chat: the completion's text as server-sent events, OpenAI's chunk shape.

The llm service publishes `llm.chat.streamed` deltas on their own stream while a streaming
backend answers (workers/llm/deltas.py), then `llm.chat.completed` with the whole text. This
process's reply reader hands both to a watcher of the request's correlation id:

    data: {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "..."}}], ...}
    ...   (the deltas of the newest attempt, in order; a backend that does not stream sends none)
    data: {... "delta": {"content": <the rest of the completed text>}, "finish_reason": "stop"}
    data: [DONE]

`llm.chat.failed` ends the stream with `event: error`; past the route's timeout it ends with
`event: pending` and the request's URL, where the completion will be.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from aiwf.gateway.exchange import Exchange, Route
from aiwf.schemas import Event

__all__ = ["stream_chat"]


def _chunk(request_id: str, content: str, finish: str | None = None) -> str:
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "choices": [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


def stream_chat(gateway: Exchange, route: Route, request_id: str, event: Event, owner: str) -> StreamingResponse:
    """Publish the chat request and stream its text as it arrives, until it completes, fails or times out."""

    async def chunks() -> AsyncIterator[str]:
        with gateway.replies.watching(request_id) as live:  # before publishing: nothing is missed
            await gateway.send(route, request_id, event, owner)
            sent, attempt = "", 0
            deadline = time.monotonic() + route.timeout_s
            while (left := deadline - time.monotonic()) > 0:
                try:
                    env = await asyncio.wait_for(live.get(), left)
                except TimeoutError:
                    break
                if env.type == "llm.chat.streamed" and int(env.payload.get("attempt", 0)) >= attempt:
                    if int(env.payload["attempt"]) > attempt and sent:
                        continue  # a redelivered request streams again; its completion settles the text
                    attempt = int(env.payload["attempt"])
                    text = str(env.payload.get("text", ""))
                    sent += text
                    yield _chunk(request_id, text)
                elif env.type == "llm.chat.completed":
                    whole = str(env.payload.get("text", ""))
                    rest = whole[len(sent) :] if whole.startswith(sent) else ""
                    yield _chunk(request_id, rest, str(env.payload.get("finish_reason") or "stop"))
                    yield "data: [DONE]\n\n"
                    return
                elif env.type == "llm.chat.failed":
                    error = {"error": "llm_failed", "message": str(env.payload.get("reason", ""))}
                    yield f"event: error\ndata: {json.dumps(error)}\n\n"
                    return
            pending = {"id": request_id, "status": "pending", "url": f"/api/v1/requests/{request_id}"}
            yield f"event: pending\ndata: {json.dumps(pending)}\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
