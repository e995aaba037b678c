"""GET /health, /api/v1/status (+ its live feed), /api/v1/requests/{id} and its events (SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, StreamingResponse
from redis.exceptions import RedisError
from starlette.responses import Response

from aiwf.bus.alerts import Alert, evaluate
from aiwf.dlq.incidents import alert_summary, open_incidents
from aiwf.gateway.bodies import exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, accepted
from aiwf.gateway.ratelimit import limit_address
from aiwf.gateway.security import User, current_user
from aiwf.gateway.services import status
from aiwf.gateway.summaries import KIND as SUMMARY
from aiwf.gateway.summaries import TERMINAL as SUMMARY_ENDS
from aiwf.schemas import Envelope
from aiwf.schemas.masking import mask_payload

__all__ = ["router"]

router = APIRouter()
HEALTH_TIMEOUT_S = 1.0
#: How often the live status feed looks at the heartbeats, and how often an idle SSE stream sends a comment.
STATUS_EVERY_S = 1.0
KEEPALIVE_S = 15.0
SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}
}
NOT_FOUND = "no such request of yours (or it is older than AIWF_GATEWAY_REQUEST_TTL)"


@router.get("/health", tags=["system"], summary="Whether the gateway reaches Redis")
async def health(gateway: Annotated[Exchange, Depends(exchange)]) -> JSONResponse:
    """200 while Redis answers a PING within a second, else 503."""
    try:
        await asyncio.wait_for(gateway.client.ping(), HEALTH_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        body = {"status": "unhealthy", "redis": False, "reason": f"redis unreachable: {type(exc).__name__}"}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "redis": True, "in_flight": gateway.replies.in_flight})


async def _status(gateway: Exchange) -> tuple[dict[str, Any], list[Alert]]:
    """The board the page shows live: services, alarms, alerts (incidents, which read every letter, are not)."""
    rows = await status(gateway.client)
    alarms = [f"{r['service']}: {a}" for r in rows for a in r["alarms"]]
    alerts = await evaluate(gateway.client, gateway.config.alerts)
    return {"services": rows, "alarms": alarms, "alerts": [a.as_json() for a in alerts]}, alerts


@router.get(
    "/api/v1/status",
    tags=["system"],
    summary="Every service's state",
    dependencies=[Depends(limit_address), Depends(current_user)],
)
async def service_status(gateway: Annotated[Exchange, Depends(exchange)]) -> dict[str, Any]:
    """Each service: state, online, instances, backlog, pending, dead letters, last error, alarms; all alarms;
    then the alerts that hold now (`aiwf alerts`) and the open incidents (`aiwf incidents`)."""
    board, alerts = await _status(gateway)
    found = await open_incidents(gateway.client)
    firing = [a for a in alerts if a.firing]
    return board | {"incidents": [alert_summary(a) for a in firing] + [i.summary() for i in found]}


def _sse(event: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@router.get(
    "/api/v1/status/events",
    tags=["system"],
    summary="Every service's state, live (SSE)",
    response_class=StreamingResponse,
    responses=SSE,
    dependencies=[Depends(limit_address), Depends(current_user)],
)
async def status_feed(gateway: Annotated[Exchange, Depends(exchange)]) -> StreamingResponse:
    """An `event: status` with the whole board at once and whenever any service's row changes."""

    async def feed() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        quiet = 0.0
        while True:
            try:
                board = (await _status(gateway))[0]
            except (RedisError, OSError) as exc:
                board = {"services": [], "alarms": [f"gateway: redis unreachable ({type(exc).__name__})"]}
            if board != last:
                yield _sse("status", board)
                last, quiet = board, 0.0
            elif quiet >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await asyncio.sleep(STATUS_EVERY_S)
            quiet += STATUS_EVERY_S

    return StreamingResponse(feed(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get(
    "/api/v1/requests/{request_id}",
    tags=["requests"],
    summary="A request's result",
    dependencies=[Depends(limit_address)],
)
async def request_result(
    request_id: Annotated[str, Path(max_length=64)], user: User, gateway: Annotated[Exchange, Depends(exchange)]
) -> Response:
    """The result as its route answers it once it exists; 202 while pending; 404 for an unknown id or another user's."""
    found = await gateway.lookup(request_id, user)
    if found is None:
        return problem(404, "not_found", NOT_FOUND)
    route, reply = found
    return accepted(request_id) if reply is None else await route.render(reply)


def _shown(env: Envelope) -> dict[str, Any]:
    """An event as a client sees it: secrets masked whatever the schema's version."""
    return {
        "id": env.id,
        "type": env.type,
        "producer": env.producer,
        "occurred_at": env.occurred_at.isoformat(),
        "causation_id": env.causation_id,
        "payload": mask_payload(env.type, env.payload),
    }


@router.get(
    "/api/v1/requests/{request_id}/events",
    tags=["requests"],
    summary="Every event of a request's correlation id (SSE)",
    response_class=StreamingResponse,
    responses={**SSE, 404: {"description": "no such request of yours"}},
    dependencies=[Depends(limit_address)],
)
async def request_events(
    request_id: Annotated[str, Path(max_length=64)], user: User, gateway: Annotated[Exchange, Depends(exchange)]
) -> Response:
    """Past events first, then each as it happens; the stream ends after the request's final event."""
    record = await gateway.record(request_id, user)
    if record is None:
        return problem(404, "not_found", NOT_FOUND)
    route = gateway.routes.get(record.get("route", ""))
    final = SUMMARY_ENDS if record.get("route") == SUMMARY else (route.replies if route else frozenset())

    async def events() -> AsyncIterator[str]:
        # Watch before reading the past: an event lands in one or both, never in neither.
        with gateway.replies.watching(request_id) as live:
            seen: set[str] = set()
            for env in await gateway.history(request_id, record):
                seen.add(env.id)
                yield _sse(env.type, _shown(env), env.id)
                if env.type in final:
                    return
            while True:
                try:
                    env = await asyncio.wait_for(live.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if env.id in seen:
                    continue
                seen.add(env.id)
                yield _sse(env.type, _shown(env), env.id)
                if env.type in final:
                    return

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
