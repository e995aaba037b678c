"""POST /api/v1/documents (JSON or a multipart file) -> `documents.document.uploaded`; GET /api/v1/documents/{id}.

The document id is the request id. The answer is the processed document's outline (kind,
characters, chunks), or 422 `document_rejected` with the documents service's reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.bus.blobs import BlobStore
from aiwf.gateway.bodies import exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route, accepted
from aiwf.gateway.security import User
from aiwf.gateway.settings import GatewaySettings
from aiwf.gateway.uploads import UPLOAD_BODY, document_fields
from aiwf.schemas import REGISTRY, Envelope
from aiwf.schemas.events.documents import DocumentProcessed, DocumentRejected, DocumentUploaded

__all__ = ["NAME", "route", "router"]

NAME = "documents.upload"
router = APIRouter(prefix="/api/v1/documents", tags=["documents"])
NOT_FOUND = "no such document of yours (or it is older than AIWF_GATEWAY_REQUEST_TTL)"


async def render(env: Envelope) -> Response:
    """The processed document's outline, or 422 with the reason it was rejected."""
    reply = REGISTRY.parse(env.type, env.version, env.payload)
    if isinstance(reply, DocumentRejected):
        return problem(422, "document_rejected", f"{reply.code}: {reply.reason}")
    assert isinstance(reply, DocumentProcessed)  # noqa: S101 - type narrowing: one of the replies asked for
    outline = {"id": reply.document_id, "status": "processed", "kind": reply.kind, "chars": reply.chars}
    return JSONResponse({**outline, "chunk_count": reply.chunk_count})


def route(settings: GatewaySettings) -> Route:
    """The upload route with its configured timeout."""
    return Route(
        name=NAME,
        service="documents",
        replies=frozenset({"documents.document.processed", "documents.document.rejected"}),
        timeout_s=settings.documents_timeout_s,
        render=render,
        offline_message="Document processing is temporarily offline",
    )


@router.post("", summary="Upload a document to be processed", openapi_extra=UPLOAD_BODY)
async def upload(
    request: Request,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Processed: its kind, characters and chunk count; 202 with its URL past the route's timeout."""
    blobs: BlobStore = request.app.state.blobs
    fields = await document_fields(request, blobs)
    ask = gateway.routes[NAME]
    return await gateway.ask(ask, lambda rid: DocumentUploaded(document_id=rid, **fields), prefer, owner=user)


@router.get("/{document_id}", summary="A document's processing result")
async def document(
    document_id: Annotated[str, Path(max_length=64)], user: User, gateway: Annotated[Exchange, Depends(exchange)]
) -> Response:
    """The outline once processed; 202 while it is being processed; 404 for an unknown id or another user's."""
    found = await gateway.lookup(document_id, user)
    if found is None or found[0].name != NAME:
        return problem(404, "not_found", NOT_FOUND)
    route_, reply = found
    return accepted(document_id) if reply is None else await route_.render(reply)
