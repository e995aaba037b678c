"""Every error the gateway answers has one shape: `{"error": code, "message": words for a person}`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["install", "problem"]

#: The code of an HTTPException by its status, for errors FastAPI raises itself (404, 405, ...).
_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def problem(status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "messages", 0, "role")` -> `messages.0.role`: the field as the client wrote it."""
    parts = [str(p) for p in loc]
    return ".".join(parts[1:] if parts and parts[0] in {"body", "query", "path", "header"} else parts) or "body"


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - type narrowing: registered for this type only
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    body = {
        "error": "invalid_request",
        "message": f"{field_path(first['loc'])}: {first['msg']}",
        "detail": jsonable_encoder([{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]),
    }
    return JSONResponse(body, status_code=422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - type narrowing: registered for this type only
    code = _CODES.get(exc.status_code, "error")
    return problem(exc.status_code, code, str(exc.detail), exc.headers)


def install(app: FastAPI) -> None:
    """Answer validation and HTTP errors in the one shape."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
