"""GET /health (the gateway itself), GET /api/v1/status (every service), GET /api/v1/requests/{id}."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.responses import Response

from aiwf.bus.alerts import evaluate
from aiwf.dlq.incidents import alert_summary, open_incidents
from aiwf.gateway.bodies import exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, accepted
from aiwf.gateway.services import status

__all__ = ["router"]

router = APIRouter()
#: Request ids are the UUIDv7 event ids the gateway made; anything else names no request.
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEALTH_TIMEOUT_S = 1.0


@router.get("/health", tags=["system"], summary="Whether the gateway reaches Redis")
async def health(gateway: Annotated[Exchange, Depends(exchange)]) -> JSONResponse:
    """200 while Redis answers a PING within a second, else 503."""
    try:
        await asyncio.wait_for(gateway.client.ping(), HEALTH_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        body = {"status": "unhealthy", "redis": False, "reason": f"redis unreachable: {type(exc).__name__}"}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "redis": True, "in_flight": gateway.replies.in_flight})


@router.get("/api/v1/status", tags=["system"], summary="Every service's state")
async def service_status(gateway: Annotated[Exchange, Depends(exchange)]) -> dict[str, Any]:
    """Each service: state, online, instances, backlog, pending, dead letters, last error, alarms; then the
    alerts that hold now (`aiwf alerts`) and the open incidents (`aiwf incidents`)."""
    alerts = await evaluate(gateway.client, gateway.config.alerts)
    found = await open_incidents(gateway.client)
    return {
        "services": await status(gateway.client),
        "alerts": [a.as_json() for a in alerts],
        "incidents": [alert_summary(a) for a in alerts if a.firing] + [i.summary() for i in found],
    }


@router.get("/api/v1/requests/{request_id}", tags=["requests"], summary="A request's result")
async def request_result(
    request_id: Annotated[str, Path(max_length=64)], gateway: Annotated[Exchange, Depends(exchange)]
) -> Response:
    """The result as its route answers it once it exists; 202 while it is pending; 404 for an unknown id."""
    found = await gateway.lookup(request_id) if REQUEST_ID.fullmatch(request_id) else None
    if found is None:
        return problem(404, "not_found", "no such request (or it is older than AIWF_GATEWAY_REQUEST_TTL)")
    route, reply = found
    return accepted(request_id) if reply is None else await route.render(reply)
