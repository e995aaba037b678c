"""POST /api/v1/tts/synthesize: text in, `tts.speech.requested` on the bus, the WAV out (audio/wav)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header
from starlette.responses import Response

from aiwf.bus.blobs import BlobError, BlobStore
from aiwf.gateway.bodies import body_of, exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route
from aiwf.gateway.security import User
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import REGISTRY, Envelope
from aiwf.schemas.events.tts import SpeechRejected, SpeechRequested, SpeechSynthesized

__all__ = ["NAME", "route", "router"]

NAME = "tts.synthesize"
router = APIRouter(prefix="/api/v1/tts", tags=["tts"])

if TYPE_CHECKING:
    from pydantic import BaseModel as SpeechBody
else:
    SpeechBody = body_of(SpeechRequested, "SpeechBody", without=frozenset({"request_id"}))


def route(settings: GatewaySettings, blobs: BlobStore) -> Route:
    """The speech route with its configured timeout, reading the audio from `blobs`."""

    async def render(env: Envelope) -> Response:
        reply = REGISTRY.parse(env.type, env.version, env.payload)
        if isinstance(reply, SpeechRejected):
            return problem(422, "tts_rejected", reply.reason)
        assert isinstance(reply, SpeechSynthesized)  # noqa: S101 - type narrowing: the reply union has two members
        try:
            wav = await asyncio.to_thread(blobs.get, reply.audio)
        except BlobError as exc:
            return problem(502, "tts_audio_missing", f"the synthesized audio cannot be read: {exc}")
        headers = {"X-Duration-Seconds": f"{reply.duration_s:.3f}", "X-Request-Id": reply.request_id}
        return Response(wav, media_type="audio/wav", headers=headers)

    return Route(
        name=NAME,
        service="tts",
        replies=frozenset({"tts.speech.synthesized", "tts.speech.rejected"}),
        timeout_s=settings.tts_timeout_s,
        render=render,
        offline_message="Text-to-speech is temporarily offline",
    )


@router.post(
    "/synthesize",
    summary="Speak text into a WAV",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}},
)
async def synthesize(
    body: SpeechBody,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Speak the text through the tts service; 202 with the request's URL past the route's timeout."""
    fields = body.model_dump()
    return await gateway.ask(
        gateway.routes[NAME], lambda rid: SpeechRequested(request_id=rid, **fields), prefer, owner=user
    )
