"""POST /api/v1/summaries: a document -> summary -> speech run; GET its steps, its summary and its audio.

A run is the pipeline's choreography (workers/pipeline) started by one `documents.document.uploaded`
whose event id, document id and correlation id are the run's id. Its state is read back from
the run's own events on the streams (any replica can answer), each step one of:

    pending | running | done | failed | waiting: <service> offline

`waiting: tts offline` is a speech step asked for while tts has no live instance: the summary
is already there, and the run completes by itself when tts returns (the request waits in its
stream). The audio is served from the blob `pipeline.summary.completed` names.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.bus.blobs import BlobError, BlobStore
from aiwf.gateway.bodies import exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange
from aiwf.gateway.security import User
from aiwf.gateway.uploads import UPLOAD_BODY, document_fields
from aiwf.schemas import Envelope
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.documents import DocumentUploaded

__all__ = ["KIND", "TERMINAL", "router", "steps_of"]

KIND = "summary"
TERMINAL = frozenset({"pipeline.summary.completed", "pipeline.summary.failed"})
router = APIRouter(prefix="/api/v1/summaries", tags=["summaries"])
NOT_FOUND = "no such summary of yours (or it is older than AIWF_GATEWAY_REQUEST_TTL)"
#: step -> (service, the event that asks for it, the event that ends it well, the one that fails it).
STEPS = (
    (
        "documents",
        "documents",
        "documents.document.uploaded",
        "documents.document.processed",
        "documents.document.rejected",
    ),
    ("summary", "llm", "llm.chat.requested", "llm.chat.completed", "llm.chat.failed"),
    ("speech", "tts", "tts.speech.requested", "tts.speech.synthesized", "tts.speech.rejected"),
)


def urls(run_id: str) -> dict[str, str]:
    """Where a run's state, events and audio are."""
    base = f"/api/v1/summaries/{run_id}"
    return {"url": base, "events": f"/api/v1/requests/{run_id}/events", "audio": f"{base}/audio"}


def steps_of(events: list[Envelope], online: dict[str, bool]) -> list[dict[str, Any]]:
    """Each step's state from the run's events and which services are up now."""
    seen = {e.type: e for e in events}
    ended = seen.get("pipeline.summary.failed")
    out = []
    for name, service, asked, done, failed in STEPS:
        state, detail = "pending", ""
        if done in seen:
            state = "done"
        elif failed in seen or (ended is not None and ended.payload.get("step") == service):
            state, detail = "failed", str((seen.get(failed) or ended).payload.get("reason", ""))  # type: ignore[union-attr]
        elif asked in seen:
            state = "running" if online.get(service, False) else f"waiting: {service} offline"
        out.append({"name": name, "service": service, "state": state, "detail": detail})
    return out


def view(run_id: str, events: list[Envelope], online: dict[str, bool]) -> dict[str, Any]:
    """The run as GET /api/v1/summaries/{id} answers it."""
    seen = {e.type: e for e in events}
    status = "running"
    if "pipeline.summary.completed" in seen:
        status = "completed"
    elif "pipeline.summary.failed" in seen:
        status = "failed"
    completed = seen.get("llm.chat.completed")
    body: dict[str, Any] = {"id": run_id, "status": status, "steps": steps_of(events, online)}
    body["summary"] = str(completed.payload.get("text", "")) if completed else None
    body.update(urls(run_id))
    if status != "completed":
        body["audio"] = None
    return body


@router.post("", summary="Summarize a document and speak the summary", status_code=202, openapi_extra=UPLOAD_BODY)
async def start(request: Request, user: User, gateway: Annotated[Exchange, Depends(exchange)]) -> JSONResponse:
    """202 at once: the run goes on through documents, llm and tts; follow it at `url` or `events`."""
    blobs: BlobStore = request.app.state.blobs
    fields = await document_fields(request, blobs)
    run_id = await gateway.start(KIND, lambda rid: DocumentUploaded(document_id=rid, **fields), user)
    body = {"id": run_id, "status": "running", **urls(run_id)}
    return JSONResponse(body, status_code=202, headers={"Location": body["url"]})


async def _run(run_id: str, user: str, gateway: Exchange) -> list[Envelope] | None:
    record = await gateway.record(run_id, user)
    if record is None or record.get("route") != KIND:
        return None
    return await gateway.history(run_id, record)


@router.get("/{run_id}", summary="A summary run: each step's state, the summary, the audio's URL")
async def summary(
    run_id: Annotated[str, Path(max_length=64)], user: User, gateway: Annotated[Exchange, Depends(exchange)]
) -> Response:
    """Status running | completed | failed, the steps, the summary once written, the audio URL once spoken."""
    events = await _run(run_id, user, gateway)
    if events is None:
        return problem(404, "not_found", NOT_FOUND)
    online = {s: await gateway.states.online(s) for s in ("documents", "llm", "tts")}
    return JSONResponse(view(run_id, events, online))


@router.get(
    "/{run_id}/audio",
    summary="The spoken summary (WAV)",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}, 404: {"description": "no such run, or no audio yet"}},
)
async def audio(
    run_id: Annotated[str, Path(max_length=64)],
    request: Request,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
) -> Response:
    """The WAV once the run completed; 404 before."""
    events = await _run(run_id, user, gateway)
    done = next((e for e in events or [] if e.type == "pipeline.summary.completed"), None)
    if done is None:
        return problem(404, "not_found", "no audio for this summary (yet)")
    blobs: BlobStore = request.app.state.blobs
    try:
        wav = await asyncio.to_thread(blobs.get, BlobRef.model_validate(done.payload["audio"]))
    except BlobError as exc:
        return problem(502, "audio_missing", f"the spoken summary cannot be read: {exc}")
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})
