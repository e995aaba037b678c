"""A worker's health port: GET /health (alive and well: 200, else 503 with the reason), GET /ready,
GET /metrics (Prometheus' text format); other paths 404. What it says comes from the Heartbeat.

A dozen lines of asyncio instead of an HTTP framework: three read-only endpoints for container
health checks and scrapers do not justify a web server dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aiwf.bus.codec import to_json
from aiwf.bus.metrics.registry import CONTENT_TYPE

if TYPE_CHECKING:
    from aiwf.bus.heartbeat import Heartbeat

__all__ = ["serve"]

JSON = b"application/json"


async def serve(heartbeat: Heartbeat, port: int) -> asyncio.Server:
    """Listen on `port` (every interface: containers probe it) until the returned server is closed."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            request = await asyncio.wait_for(reader.readline(), 2)
            status, content_type, body = await _answer(heartbeat, request)
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + content_type
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "0.0.0.0", port)  # noqa: S104 - containers probe it


async def _answer(heartbeat: Heartbeat, request: bytes) -> tuple[bytes, bytes, bytes]:
    parts = request.split()
    path = parts[1] if len(parts) > 1 else b""
    if path == b"/metrics":
        return b"200 OK", CONTENT_TYPE, heartbeat.metrics.exposition()
    if path not in (b"/health", b"/ready"):
        return b"404 Not Found", JSON, b'{"error":"not found"}'
    snap = heartbeat.snapshot()
    why = await heartbeat.problem()
    redis_ok = why != "redis unreachable"
    if path == b"/ready" and not why and snap["state"] != "running":
        why = f"not taking work: {snap['state']}"
    status = b"503 Service Unavailable" if why else b"200 OK"
    return status, JSON, to_json({**snap, "redis": redis_ok, "unhealthy": why or ""})
