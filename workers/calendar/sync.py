"""calendar.sync.requested -> occurrence added/updated/removed + calendar.sync.completed | calendar.sync.rejected.

One event's path: load the calendar (its held occurrences), parse and expand the document off
the event loop, compare (occurrences.py), and return a Decision: the changes and the marker as
output events and, staged with expected version = the version loaded, as the calendar's new
events. The bus commits both with the request's marker and ack, all or nothing; a commit
refused because another sync of the same calendar came first re-runs this on fresh state.
Nothing changed: nothing is staged, and only a zero-count `sync.completed` is returned.

A malformed, hostile or oversized document is a `calendar.sync.rejected` (never a retry: the
engine bounds size, rule work and time). The window defaults are counted from the request's
`occurred_at`, not the clock, so a re-run expands the same window. A request older than the
calendar's last stored sync is rejected as `StaleSync`, so feeds delivered out of order cannot
roll a calendar back. A request whose sync is already stored (run again after its commit)
returns the stored events and stages nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Final

from pydantic import ValidationError

from aiwf.bus import Context, Decision, PermanentError
from aiwf.bus.blobs import BlobError
from aiwf.schemas import Envelope, Event
from aiwf.schemas.events.calendar import SyncRequested
from aiwf.workers.calendar.aggregate import CalendarAggregate, SyncProgress
from aiwf.workers.calendar.errors import CalendarError, CalendarTooLarge
from aiwf.workers.calendar.expand import Occurrence, OccurrenceKey, expand
from aiwf.workers.calendar.ics import Feed, read_feed
from aiwf.workers.calendar.occurrences import changes, completed, rejected
from aiwf.workers.calendar.runtime import CalendarDeps

__all__ = ["on_sync_requested"]

UTC: Final = dt.UTC
Window = tuple[dt.datetime, dt.datetime]
"""[start, end) of one expansion."""


async def on_sync_requested(event: SyncRequested, ctx: Context) -> Decision | list[Event]:
    """Expand the document and decide what changed since the calendar's last sync."""
    deps = ctx.dep(CalendarDeps)
    cause, sync_id = ctx.envelope, ctx.envelope.id
    agg = await deps.calendars.load(event.calendar_id)
    if agg.sync.sync_id == sync_id and agg.sync.done:
        return await _stored_sync(deps, agg)
    try:
        window = _window(event, cause.occurred_at, deps)
        # Parsing and expansion are blocking CPU work: off the loop, so leases keep renewing.
        found, feed = await asyncio.to_thread(_expanded, event, window, deps)
    except CalendarError as exc:
        return [rejected(event, sync_id, type(exc).__name__, str(exc))]
    return _decided(deps, agg, event, cause, window, found, feed)


def _decided(
    deps: CalendarDeps,
    agg: CalendarAggregate,
    event: SyncRequested,
    cause: Envelope,
    window: Window,
    found: dict[OccurrenceKey, Occurrence],
    feed: Feed,
) -> Decision | list[Event]:
    """The changes from `agg`'s state to `found` and the marker, as outputs and as the calendar's new events."""
    sync_id = cause.id
    if agg.requested_at is not None and cause.occurred_at < agg.requested_at:
        reason = f"requested at {cause.occurred_at.isoformat()}, before the last sync ({agg.requested_at.isoformat()})"
        return [rejected(event, sync_id, "StaleSync", reason)]
    try:
        changed = changes(agg.held, found, event.calendar_id, sync_id)
    except ValidationError as exc:
        return [rejected(event, sync_id, "InvalidCalendar", f"an occurrence cannot be described: {exc}")]
    if not changed:
        return [completed(event, sync_id, window, cause.occurred_at, SyncProgress(), len(found), feed)]
    for change in changed:
        agg.record(change)
    marker = completed(event, sync_id, window, cause.occurred_at, agg.sync, len(agg.held), feed)
    agg.record(marker)
    return Decision(events=[*changed, marker], appends=deps.calendars.stage(agg, cause=cause))


async def _stored_sync(deps: CalendarDeps, agg: CalendarAggregate) -> list[Event]:
    """The events the calendar's last sync stored, its marker last."""
    records = await deps.store.read(agg.stream_id, from_version=agg.sync.first_version)
    return [r.event for r in records if r.version <= agg.sync.last_version]


def _window(event: SyncRequested, requested_at: dt.datetime, deps: CalendarDeps) -> Window:
    """The request's window, or the defaults around the UTC day it was requested on."""
    day = requested_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = event.window_start or day - dt.timedelta(days=deps.settings.past_days)
    end = event.window_end or day + dt.timedelta(days=deps.settings.future_days)
    return start, end


def _expanded(event: SyncRequested, window: Window, deps: CalendarDeps) -> tuple[dict[OccurrenceKey, Occurrence], Feed]:
    settings = deps.settings
    feed = read_feed(_document(event, deps), max_bytes=settings.max_ics_bytes, unknown_tzid=settings.unknown_tzid)
    return expand(feed.calendar, window[0], window[1], settings.options(event.default_tz)), feed


def _document(event: SyncRequested, deps: CalendarDeps) -> bytes:
    if event.ics is not None:
        return event.ics.encode()
    assert event.blob is not None  # noqa: S101 - type narrowing: the model guarantees exactly one source
    limit = deps.settings.max_ics_bytes
    if event.blob.size > limit:
        raise CalendarTooLarge(f"calendar is {event.blob.size} bytes; the limit is {limit}")
    try:
        return deps.blobs.get(event.blob)
    except BlobError as exc:
        raise PermanentError(f"calendar blob unreadable: {exc}") from None
