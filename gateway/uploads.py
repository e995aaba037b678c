"""A document from a request: JSON (`text` or `content_base64`) or a multipart file; large ones become blobs.

The result is the fields of `documents.document.uploaded` without its id, validated by the event
model itself, so a body the documents service would refuse is a 422 here naming the field.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from aiwf.bus.blobs import BlobStore
from aiwf.schemas.events.documents import DocumentUploaded

__all__ = ["UPLOAD_BODY", "DocumentBody", "document_fields"]

#: File bytes sent inline (base64 in the event); a larger file travels as a blob reference.
INLINE_BYTES = 64 * 1024
_FILE_TYPES = frozenset({"text/plain", "text/markdown", "text/html", "application/pdf", "application/octet-stream"})


class DocumentBody(BaseModel):
    """A document as JSON: exactly one of `text` and `content_base64`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: Annotated[str, Field(max_length=255, examples=["notes.md"])] | None = None
    content_type: Annotated[str, Field(max_length=255, examples=["text/markdown"])] | None = None
    text: Annotated[str, Field(max_length=200_000, examples=["# Notes\n\nRedis streams keep events."])] | None = None
    content_base64: Annotated[str, Field(max_length=200_000)] | None = None


#: The OpenAPI request body of the upload routes (parsed by hand: two content types, one route).
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


def _invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": kind}])


async def document_fields(request: Request, blobs: BlobStore) -> dict[str, Any]:
    """The uploaded document's event fields; 415 for another content type, 422 naming a bad field."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        fields = await _from_json(request)
    elif kind == "multipart/form-data":
        fields = await _from_form(request, blobs)
    else:
        raise HTTPException(415, "send the document as application/json or multipart/form-data (field 'file')")
    try:
        DocumentUploaded(document_id="check", **fields)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return fields


async def _from_json(request: Request) -> dict[str, Any]:
    try:
        raw = json.loads(await request.body())
    except ValueError as exc:
        raise _invalid("body", f"not valid JSON: {exc}", "json_invalid") from None
    try:
        body = DocumentBody.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    if body.content_base64 is not None:
        try:
            base64.b64decode(body.content_base64, validate=True)
        except ValueError:
            raise _invalid("content_base64", "not valid base64") from None
    return body.model_dump(exclude_none=True)


async def _from_form(request: Request, blobs: BlobStore) -> dict[str, Any]:
    try:
        form = await request.form(max_files=1, max_fields=4)
    except (HTTPException, ValueError) as exc:
        raise _invalid("file", f"unreadable multipart body: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _invalid("file", "Field required", "missing")
    data = await upload.read()
    if not data:
        raise _invalid("file", "the file is empty")
    content_type = (upload.content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
    if content_type not in _FILE_TYPES:
        raise HTTPException(415, f"file type {content_type!r} is not one the documents service reads")
    fields: dict[str, Any] = {"filename": (upload.filename or "upload")[:255], "content_type": content_type}
    if len(data) <= INLINE_BYTES:
        fields["content_base64"] = base64.b64encode(data).decode()
    else:
        fields["blob"] = await asyncio.to_thread(blobs.put, data, content_type)
    return fields
