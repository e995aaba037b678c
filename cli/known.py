"""Unknown names at the edge: the stream, group, dead letter or event type closest to a typo.

Each check raises the error the command would have raised anyway, with `; did you mean ...?`
appended when a known name is close (difflib), so a typo costs one more command, not a search.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, cast

from aiwf.bus import keys
from aiwf.bus.codec import loads
from aiwf.bus.connection import Redis
from aiwf.cli.support import fail, load_events, nearest, suggest
from aiwf.dlq.errors import UnknownStream
from aiwf.dlq.letters import parse_ref
from aiwf.schemas import REGISTRY

T = TypeVar("T")
#: How many dead letters of a domain are compared with a mistyped id (the newest ones).
LETTERS_COMPARED = 1000
#: How many of the newest calendar events are read for the calendar ids they name.
CALENDARS_SCANNED = 2000


def require_type(event_type: str) -> None:
    """Exit 1 with the three closest registered types when `event_type` is not registered."""
    load_events()
    if event_type not in REGISTRY.types():
        fail(f"unknown event type {event_type!r}{suggest(event_type, REGISTRY.types()) or '; see `aiwf schemas ls`'}")


async def streams(client: Redis) -> list[str]:
    """Every event stream's domain in Redis, and every domain a registered event type writes to."""
    load_events()
    found = {keys.domain_of(t) for t in REGISTRY.types()}
    async for key in client.scan_iter(match=keys.STREAM_PATTERN, count=500, _type="stream"):
        if (domain := keys.stream_domain(key.decode())) is not None:
            found.add(domain)
    return sorted(found)


async def require_stream(client: Redis, name: str, key: str) -> None:
    """UnknownStream with the closest known domains unless `key` exists or `name` is a registered domain."""
    if await client.exists(key):
        return
    known = await streams(client)
    if name not in known:
        hint = _closest_stream(key, known)
        raise UnknownStream(f"no stream {name!r}{hint}")


def _closest_stream(key: str, domains: list[str]) -> str:
    """Domains are compared, not keys: every key shares the `aiwf:ev:{` prefix that would make all of them close."""
    if (domain := keys.stream_domain(key)) is not None:
        return nearest(domain, domains, "streams")
    return suggest(key, [keys.stream(d) for d in domains]) or nearest(key, domains, "streams")


async def stream_hint(client: Redis, key: str, group: str | None) -> str:
    """Closest known names for a missing stream `key`, or for a missing `group` on it."""
    if not await client.exists(key):
        return _closest_stream(key, await streams(client))
    if group is None:
        return ""
    rows = cast("list[dict[Any, Any]]", await client.xinfo_groups(key))
    names = [r["name"].decode() if isinstance(r["name"], bytes) else str(r["name"]) for r in rows]
    return suggest(group, names)


async def letter_hint(client: Redis, ref: str) -> str:
    """Closest dead-letter ids to a mistyped `ref`: in its domain, or the domains that have letters."""
    domain, _ = parse_ref(ref)
    letters = cast("list[tuple[bytes, Any]]", await client.xrevrange(keys.dead_letters(domain), count=LETTERS_COMPARED))
    if letters:
        return suggest(ref, [f"{domain}/{entry.decode()}" for entry, _ in letters])
    found = [keys.dead_letter_domain(k.decode()) async for k in client.scan_iter(match=keys.DEAD_LETTER_PATTERN)]
    domains = [d for d in found if d is not None]
    return suggest(domain, domains)


async def calendars(client: Redis, max_event_bytes: int) -> set[str]:
    """Calendars with an agenda, and those named by the newest CALENDARS_SCANNED calendar events."""
    from aiwf.workers.calendar.agenda import AGENDA  # noqa: PLC0415 - the calendar worker only for `calendar`

    prefix = AGENDA.key("start", "")
    found = {k.decode()[len(prefix) :] async for k in client.scan_iter(match=f"{prefix}*", count=500)}
    recent = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]",
        await client.xrevrange(keys.stream("calendar"), count=CALENDARS_SCANNED),
    )
    for _, fields in recent:
        try:
            calendar_id = loads(fields[b"body"], max_event_bytes).payload.get("calendar_id")
        except Exception:  # noqa: BLE001, S112 - an unreadable entry names no calendar
            continue
        if isinstance(calendar_id, str):
            found.add(calendar_id)
    return found


async def require_calendar(client: Redis, calendar_id: str, max_event_bytes: int) -> None:
    """Exit 1 naming the closest known calendars unless `calendar_id` has an agenda or calendar events."""
    known = await calendars(client, max_event_bytes)
    if calendar_id not in known:
        hint = nearest(calendar_id, known, "calendars") or "; no calendar has been synced yet"
        fail(f"unknown calendar {calendar_id!r}{hint}")


async def hinted(client: Redis, call: Awaitable[T], key: str, group: str | None = None) -> T:
    """The result of `call`; its UnknownStream (stream or group missing) with the closest known names."""
    try:
        return await call
    except UnknownStream as exc:
        raise UnknownStream(f"{exc}{await stream_hint(client, key, group)}") from None
