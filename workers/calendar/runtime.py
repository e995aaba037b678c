"""What the calendar handler gets from the service's lifespan (`ctx.dep(CalendarDeps)`): settings, store, blobs.

Settings (workers/calendar/settings.py documents each): AIWF_CALENDAR_PAST_DAYS (30) and
AIWF_CALENDAR_FUTURE_DAYS (365) around the request's UTC day make the default window (at most
400 days together), AIWF_CALENDAR_DEFAULT_TZ (UTC) reads floating times and all-day dates,
AIWF_CALENDAR_MAX_ICS_BYTES (1 MiB), AIWF_CALENDAR_MAX_OCCURRENCES (10000),
AIWF_CALENDAR_MAX_SECONDS (3: expansion time budget), AIWF_CALENDAR_SNAPSHOT_EVERY (200 events),
AIWF_CALENDAR_UNKNOWN_TZID (reject | utc | floating). Read once, when the worker starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiwf.bus.blobs import FileBlobStore, store_for
from aiwf.bus.store import EventStore, Repository
from aiwf.bus.worker import Startup
from aiwf.workers.calendar.aggregate import CalendarAggregate
from aiwf.workers.calendar.settings import CalendarSettings

__all__ = ["CalendarDeps", "lifespan"]


@dataclass(frozen=True)
class CalendarDeps:
    """The settings, the event store and the calendar repository (reads; writes go through a Decision), blobs."""

    settings: CalendarSettings
    store: EventStore
    calendars: Repository[CalendarAggregate]
    blobs: FileBlobStore


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[CalendarDeps]:
    """Settings read and the store wired on the worker's client, before the first event."""
    settings = CalendarSettings.from_env()
    store = startup.event_store()
    calendars = Repository(store, CalendarAggregate, snapshot_every=settings.snapshot_every)
    yield CalendarDeps(settings, store, calendars, store_for(startup.config))
