"""The body guard: no handler reads a body over the size limit, or JSON nested deeper than the bus accepts.

Pure ASGI, so it runs before FastAPI parses anything: a Content-Length over the limit is
refused unread; a chunked body is counted as it arrives; a JSON body is depth-checked with
the codec's own cap (the stdlib parser FastAPI uses would recurse into a JSON bomb).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiwf.bus.codec import check_depth
from aiwf.gateway.errors import problem
from aiwf.schemas import MalformedEvent

__all__ = ["BodyGuard"]


class BodyGuard:
    """413 for a body over `limit` bytes, 400 for a JSON body nested too deep; the rest passes through."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit():
            await problem(400, "bad_request", "Content-Length must be a number")(scope, receive, send)
            return
        if int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body and its disconnect
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._too_large(scope, receive, send)
                return
        if b"json" in headers.get(b"content-type", b""):
            try:
                check_depth(bytes(body))
            except MalformedEvent as exc:
                await problem(400, "bad_request", str(exc))(scope, receive, send)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body is over the {self.limit}-byte limit (AIWF_GATEWAY_MAX_BODY_BYTES)"
        await problem(413, "too_large", message)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's later messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
