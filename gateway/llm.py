"""POST /api/v1/llm/chat: OpenAI-shaped messages in, `llm.chat.requested` on the bus, the completion out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.gateway.bodies import body_of, exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route
from aiwf.gateway.security import User
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import REGISTRY, Envelope
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested

__all__ = ["NAME", "route", "router"]

NAME = "llm.chat"
router = APIRouter(prefix="/api/v1/llm", tags=["llm"])

if TYPE_CHECKING:
    from pydantic import BaseModel as ChatBody
else:  # streaming (`stream: true`, server-sent events) is not served yet: the field is refused
    ChatBody = body_of(ChatRequested, "ChatBody", without=frozenset({"request_id", "stream"}))


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


@router.post("/chat", summary="Chat completion")
async def chat(
    body: ChatBody,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Run a chat completion through the llm service; 202 with the request's URL past the route's timeout."""
    fields = body.model_dump()
    return await gateway.ask(
        gateway.routes[NAME], lambda rid: ChatRequested(request_id=rid, **fields), prefer, owner=user
    )
