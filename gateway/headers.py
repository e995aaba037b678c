"""Security headers on every response, and the content types a request body may have (else 415).

Pure ASGI, so streamed responses (server-sent events, audio) pass untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiwf.gateway.errors import problem

__all__ = ["SECURITY_HEADERS", "EdgeHeaders"]

#: Sent with every response: no sniffing, no framing, no referrer, the page's own origin only.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}
#: Body types the API reads: JSON everywhere, multipart where a file is uploaded.
BODY_TYPES = frozenset({"application/json", "multipart/form-data"})


class EdgeHeaders:
    """Adds SECURITY_HEADERS to every response; 415 for an /api/ request body of another type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if scope["path"].startswith("/api/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower().decode("latin-1")
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        writes = scope["method"] in {"POST", "PUT", "PATCH"} and has_body
        if writes and scope["path"].startswith("/api/") and kind not in BODY_TYPES:
            message = f"content type {kind or 'none'!r} is not accepted; send application/json"
            await problem(415, "unsupported_media_type", message)(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)
