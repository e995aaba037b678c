"""POST /api/v1/llm/chat: OpenAI-shaped messages in, `llm.chat.requested` on the bus, the completion out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.gateway.bodies import body_of, exchange
from aiwf.gateway.chatstream import stream_chat
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route, built
from aiwf.gateway.security import User
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import REGISTRY, Envelope
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested
from aiwf.schemas.ids import new_id

__all__ = ["NAME", "route", "router"]

NAME = "llm.chat"
router = APIRouter(prefix="/api/v1/llm", tags=["llm"])

if TYPE_CHECKING:
    from pydantic import BaseModel as ChatBody
else:
    ChatBody = body_of(ChatRequested, "ChatBody", without=frozenset({"request_id"}))


def route(settings: GatewaySettings) -> Route:
    """The chat route with its configured timeout."""
    return Route(
        name=NAME,
        service="llm",
        replies=frozenset({"llm.chat.completed", "llm.chat.failed"}),
        timeout_s=settings.llm_timeout_s,
        render=render,
        offline_message="The language model is temporarily offline",
    )


async def render(env: Envelope) -> Response:
    """An OpenAI-shaped chat completion, or 422 when the backend refused the request."""
    reply = REGISTRY.parse(env.type, env.version, env.payload)
    if isinstance(reply, ChatFailed):
        return problem(422, "llm_failed", reply.reason)
    assert isinstance(reply, ChatCompleted)  # noqa: S101 - type narrowing: the reply union has two members
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": reply.refusal}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return JSONResponse(
        {
            "id": reply.request_id,
            "object": "chat.completion",
            "created": int(env.occurred_at.timestamp()),
            "model": reply.model,
            "backend": reply.backend,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            "usage": reply.usage.model_dump(),
        }
    )


@router.post(
    "/chat",
    summary="Chat completion",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
)
async def chat(
    body: ChatBody,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Run a chat completion through the llm service; 202 with the request's URL past the route's timeout.

    With `"stream": true` the answer is server-sent events in OpenAI's chunk shape, ending in `[DONE]`.
    """
    fields = body.model_dump()
    route_ = gateway.routes[NAME]
    if not fields.get("stream"):
        return await gateway.ask(route_, lambda rid: ChatRequested(request_id=rid, **fields), prefer, owner=user)
    request_id = new_id()
    event = built(lambda rid: ChatRequested(request_id=rid, **fields), request_id)
    refused = await gateway.offline(route_, None)  # a stream is never queued: it would have no one to read it
    return refused or stream_chat(gateway, route_, request_id, event, user)
