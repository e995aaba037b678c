"""POST /api/v1/calendar/sync -> `calendar.sync.requested`; GET /api/v1/calendar/{id}/agenda?from&to.

A user's calendar `work` is the calendar service's `<user id>:work`: users never see, sync or
read each other's calendars. The agenda is read from the calendar service's agenda projection
(workers/calendar/agenda.py), the read model its syncs keep. A sync answers once that projection
has applied it (within the route's timeout), so the agenda read right after shows it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiwf.gateway.bodies import body_of, exchange
from aiwf.gateway.errors import problem
from aiwf.gateway.exchange import Exchange, Route
from aiwf.gateway.security import User
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import REGISTRY, Envelope
from aiwf.schemas.events.calendar import SyncCompleted, SyncRejected, SyncRequested
from aiwf.workers.calendar.agenda import AGENDA
from aiwf.workers.calendar.agenda import agenda as read_agenda
from aiwf.workers.calendar.errors import InvalidWindow

__all__ = ["NAME", "route", "router"]

NAME = "calendar.sync"
router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
CALENDAR = r"^[A-Za-z0-9._-]{1,64}$"
#: The calendar service's id limit, which `<user id>:<name>` must keep within.
MAX_CALENDAR_ID = 128
CalendarName = Annotated[str, Path(pattern=CALENDAR, description="your calendar's name")]

if TYPE_CHECKING:
    from pydantic import BaseModel as SyncBody
else:
    SyncBody = body_of(SyncRequested, "SyncBody", without=frozenset({"blob"}))


def _own(user: str, calendar: str) -> str:
    return f"{user}:{calendar}"


async def render(env: Envelope) -> Response:
    """The sync's counts and notes, or 422 with the reason the document can never be synced."""
    reply = REGISTRY.parse(env.type, env.version, env.payload)
    if isinstance(reply, SyncRejected):
        return problem(422, "calendar_rejected", f"{reply.code}: {reply.reason}")
    assert isinstance(reply, SyncCompleted)  # noqa: S101 - type narrowing: one of the replies asked for
    body = reply.model_dump(mode="json")
    body["calendar_id"] = reply.calendar_id.split(":", 1)[-1]
    return JSONResponse(body)


def route(settings: GatewaySettings) -> Route:
    """The sync route with its configured timeout."""
    return Route(
        name=NAME,
        service="calendar",
        replies=frozenset({"calendar.sync.completed", "calendar.sync.rejected"}),
        timeout_s=settings.calendar_timeout_s,
        render=render,
        offline_message="Calendar sync is temporarily offline",
    )


@router.post("/sync", summary="Sync one of your calendars from an iCalendar document")
async def sync(
    body: SyncBody,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Added, updated and removed occurrences in the window; 422 for a document that can never be read."""
    fields: dict[str, Any] = body.model_dump()
    name = str(fields["calendar_id"])
    if ":" in name or len(_own(user, name)) > MAX_CALENDAR_ID:
        return problem(422, "invalid_request", f"calendar_id: must match {CALENDAR}")
    fields["calendar_id"] = _own(user, name)
    route = gateway.routes[NAME]
    answer = await gateway.ask(route, lambda _rid: SyncRequested(**fields), prefer, owner=user)
    if answer.status_code == 200:
        # The sync's events are committed; the agenda is their projection, a moment behind.
        current = await AGENDA.settled(gateway.client, timeout_s=route.timeout_s)
        answer.headers["X-Aiwf-Agenda"] = "current" if current else "behind"
    return answer


@router.get("/{calendar_id}/agenda", summary="What is on one of your calendars between two instants")
async def agenda(
    calendar_id: CalendarName,
    user: User,
    gateway: Annotated[Exchange, Depends(exchange)],
    start: Annotated[dt.datetime, Query(alias="from", description="ISO 8601 with a time zone")],
    end: Annotated[dt.datetime, Query(alias="to", description="ISO 8601 with a time zone, after `from`")],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """The occurrences overlapping [from, to), by start; an unknown calendar has an empty agenda."""
    try:
        items = await read_agenda(gateway.client, _own(user, calendar_id), start, end, limit=limit)
    except InvalidWindow as exc:
        return problem(422, "invalid_request", f"from: {exc}")
    return JSONResponse({"calendar_id": calendar_id, "items": [dataclasses.asdict(i) for i in items]})
