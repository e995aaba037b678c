"""The calendar service on a real Redis with real icalendar: sync, re-sync, hostile feeds, the agenda."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
import typer
from service_support import commit, dead_letters, envelopes, serving
from typer.testing import CliRunner

from aiwf.bus import Context, Decision, Nack, Publisher, keys, markers
from aiwf.bus.blobs import FileBlobStore
from aiwf.bus.commit import COMMITTED, CONFLICT
from aiwf.bus.config import BusConfig
from aiwf.bus.decision import Result
from aiwf.bus.errors import ConfigError
from aiwf.bus.store import EventStore
from aiwf.bus.store.aggregate import CAUSED_IDS
from aiwf.bus.worker import Worker
from aiwf.cli.calendar import register
from aiwf.schemas import Envelope, Event
from aiwf.schemas.events.calendar import SyncRequested
from aiwf.workers.calendar import service as calendar_service
from aiwf.workers.calendar.agenda import agenda
from aiwf.workers.calendar.runtime import CalendarDeps
from aiwf.workers.calendar.service import SERVICE
from aiwf.workers.calendar.sync import on_sync_requested
from tests.contract.harness import drain
from tests.replies import Entries

SAMPLES = Path(__file__).resolve().parents[2] / "workers" / "calendar" / "samples"
UTC = dt.UTC
START, END = dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
STANDUP = "standup-7f3a@aiwf.test"
CHANGES = ("calendar.occurrence.added", "calendar.occurrence.updated", "calendar.occurrence.removed")


def sample(name: str) -> str:
    """A sample feed's text."""
    return (SAMPLES / name).read_text()


def request(calendar_id: str, ics: str, **extra: Any) -> SyncRequested:
    """A sync of `ics` over 2025."""
    return SyncRequested(calendar_id=calendar_id, ics=ics, window_start=START, window_end=END, **extra)


def at(day: int, month: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A UTC instant in 2025."""
    return dt.datetime(2025, month, day, hour, minute, tzinfo=UTC)


def calendar_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """AIWF_CALENDAR_* for the next lifespan (which reads them when it starts): a 1 s budget, else `env`."""
    for key in [k for k in os.environ if k.startswith("AIWF_CALENDAR_")]:
        monkeypatch.delenv(key)
    for key, value in {"max_seconds": "1", **env}.items():
        monkeypatch.setenv(f"AIWF_CALENDAR_{key.upper()}", value)


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path, config: BusConfig) -> BusConfig:
    """The service's settings (a 1 s expansion budget) and a bus config with its blobs under tmp_path."""
    monkeypatch.setenv("REDIS_URL", redis_url)  # for the CLI
    calendar_env(monkeypatch)
    return config.model_copy(update={"blob_dir": tmp_path / "blobs"})


@pytest.fixture
async def deps(client: aioredis.Redis, service: BusConfig) -> AsyncIterator[CalendarDeps]:
    """What the service's lifespan yields, for calling the handler directly."""
    async with SERVICE.started(client, service) as started:
        assert isinstance(started, CalendarDeps)
        yield started


@dataclass
class Calendars:
    """Publishes sync requests to the running service; returns what each caused."""

    client: aioredis.Redis
    worker: Worker
    publisher: Publisher

    async def send(self, *events: SyncRequested) -> list[Envelope]:
        """Publish, wait until the service and its agenda drained their streams, return the outcomes."""
        ids = await self.publisher.publish_many(list(events))
        await drain(self.client, calendar_service.calendar)
        if await self.client.exists(keys.stream("es-calendar")):
            await drain(self.client, calendar_service.agenda)
        return [e for e in await envelopes(self.client, "calendar") if e.causation_id in ids]

    async def sync(self, event: SyncRequested) -> dict[str, list[dict[str, Any]]]:
        """One request's outcomes: payloads by event type."""
        out: dict[str, list[dict[str, Any]]] = {}
        for env in await self.send(event):
            out.setdefault(env.type, []).append(env.payload)
        return out


@contextlib.asynccontextmanager
async def calendars(client: aioredis.Redis, config: BusConfig) -> AsyncIterator[Calendars]:
    """Both subscriptions of the calendar service running, as its worker runs them (lifespan, deps)."""
    async with serving(SERVICE, config) as worker:
        yield Calendars(client, worker, Publisher(client, config))


def keyed(payloads: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Occurrence payloads by (uid, recurrence_id)."""
    return {(p["uid"], p["recurrence_id"]): p for p in payloads}


async def test_real_world_samples_sync_to_their_occurrences(
    client: aioredis.Redis, config: BusConfig, service: None
) -> None:
    """Recurring with EXDATE and a moved instance, all-day, Berlin across DST and floating feeds become added events."""
    async with calendars(client, config) as cal:
        weekly = await cal.sync(request("weekly", sample("weekly_exceptions.ics")))
        all_day = await cal.sync(request("holidays", sample("all_day.ics")))
        berlin = await cal.sync(request("berlin", sample("berlin_dst.ics")))
        floating = await cal.sync(request("floating", sample("floating.ics"), default_tz="America/New_York"))

    standups = keyed(weekly["calendar.occurrence.added"])
    assert sorted(k[1] for k in standups) == [
        "2025-03-03T08:30:00Z",
        "2025-03-10T08:30:00Z",
        "2025-03-24T08:30:00Z",
        "2025-03-31T07:30:00Z",
        "2025-04-07T07:30:00Z",
        "2025-04-14T07:30:00Z",
        "2025-04-21T07:30:00Z",
        "2025-04-28T07:30:00Z",
    ]  # 17 March is an EXDATE; from 31 March Berlin is on summer time
    moved = standups[(STANDUP, "2025-04-07T07:30:00Z")]
    assert (moved["start"], moved["summary"], moved["sequence"]) == (
        "2025-04-07T09:00:00Z",
        "Team standup (moved for the offsite)",
        1,
    )
    assert (moved["tz"], moved["local_start"]) == ("Europe/Berlin", "2025-04-07T11:00:00+02:00")
    assert weekly["calendar.sync.completed"] == [
        {
            "calendar_id": "weekly",
            "sync_id": weekly["calendar.sync.completed"][0]["sync_id"],
            "added": 8,
            "updated": 0,
            "removed": 0,
            "occurrences": 8,
            "window_start": "2025-01-01T00:00:00Z",
            "window_end": "2026-01-01T00:00:00Z",
            "requested_at": weekly["calendar.sync.completed"][0]["requested_at"],
            "skipped": [],
            "skipped_count": 0,
            "flagged": [],
            "flagged_count": 0,
        }
    ]

    days = {p["summary"]: p for p in all_day["calendar.occurrence.added"]}
    assert set(days) == {"Labour Day", "EuroPython sprint days", "Ada's birthday"}
    assert days["EuroPython sprint days"]["all_day"] is True
    assert (days["EuroPython sprint days"]["start"], days["EuroPython sprint days"]["end"]) == (
        "2025-06-10T00:00:00Z",
        "2025-06-13T00:00:00Z",
    )
    assert days["Ada's birthday"]["local_start"] == "2025-12-10"

    focus = sorted(p["start"] for p in berlin["calendar.occurrence.added"] if p["summary"] == "Focus block")
    assert focus == [
        "2025-03-28T09:00:00Z",
        "2025-03-29T09:00:00Z",
        "2025-03-30T08:00:00Z",
        "2025-03-31T08:00:00Z",
        "2025-04-01T08:00:00Z",
    ]  # 10:00 Berlin, CET then CEST

    by_summary = {p["summary"]: p for p in floating["calendar.occurrence.added"]}
    lunch, call = by_summary["Lunch (wherever I am)"], by_summary["Call with the Lisbon team"]
    assert (lunch["start"], lunch["floating"], lunch["tz"]) == ("2025-03-12T16:30:00Z", True, "America/New_York")
    assert (call["start"], call["floating"], call["tz"]) == ("2025-03-12T15:00:00Z", False, "UTC")
    assert await dead_letters(client) == {}


CHANGED_WEEKLY = (
    sample("weekly_exceptions.ics")
    .replace(
        "EXDATE;TZID=Europe/Berlin:20250317T093000",
        "EXDATE;TZID=Europe/Berlin:20250317T093000\r\nEXDATE;TZID=Europe/Berlin:20250324T093000",
    )
    .replace("SUMMARY:Team standup (moved for the offsite)", "SUMMARY:Team standup (offsite\\, Hall C)")
    .replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:retro-1@aiwf.test\r\nDTSTAMP:20250301T000000Z\r\n"
        "DTSTART:20250331T140000Z\r\nDTEND:20250331T150000Z\r\nSUMMARY:Retro\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )
)


async def test_resync_emits_exactly_what_changed_and_an_identical_resync_nothing(
    client: aioredis.Redis, config: BusConfig, service: None
) -> None:
    """A changed feed emits one added, one updated and one removed occurrence; the same feed again changes nothing."""
    store = EventStore(client, config)
    async with calendars(client, config) as cal:
        await cal.sync(request("team", sample("weekly_exceptions.ics")))
        first_version = await store.version("calendar-team")
        changed = await cal.sync(request("team", CHANGED_WEEKLY))
        changed_version = await store.version("calendar-team")
        again = await cal.sync(request("team", CHANGED_WEEKLY))

    assert first_version == 9  # 8 added + the marker
    assert list(keyed(changed["calendar.occurrence.added"])) == [("retro-1@aiwf.test", "")]
    assert list(keyed(changed["calendar.occurrence.updated"])) == [(STANDUP, "2025-04-07T07:30:00Z")]
    assert changed["calendar.occurrence.updated"][0]["summary"] == "Team standup (offsite, Hall C)"
    removed = changed["calendar.occurrence.removed"]
    assert [(r["uid"], r["recurrence_id"], r["start"]) for r in removed] == [
        (STANDUP, "2025-03-24T08:30:00Z", "2025-03-24T08:30:00Z")
    ]
    completed = changed["calendar.sync.completed"][0]
    assert (completed["added"], completed["updated"], completed["removed"], completed["occurrences"]) == (1, 1, 1, 8)
    assert changed_version == first_version + 4

    assert not any(t in again for t in CHANGES)
    zero = again["calendar.sync.completed"][0]
    assert (zero["added"], zero["updated"], zero["removed"], zero["occurrences"]) == (0, 0, 0, 8)
    assert await store.version("calendar-team") == changed_version  # nothing stored for a no-op sync


def context(envelope: Envelope, deps: CalendarDeps) -> Context:
    """A delivery context for calling the handler directly, with the lifespan's deps."""
    return Context(envelope=envelope, deliveries=1, consumer="tests", group="calendar", deps=deps)


def outputs(result: Result) -> list[Event]:
    """The output events of a handler's result."""
    assert not isinstance(result, Nack)
    return list(result.events if isinstance(result, Decision) else result)


async def test_a_redelivered_sync_returns_its_stored_events_and_stores_nothing_twice(
    client: aioredis.Redis, config: BusConfig, deps: CalendarDeps
) -> None:
    """The same request run again after its commit returns the same events, from the store, staging nothing."""
    env = Envelope.wrap(request("again", sample("berlin_dst.ics")), producer="tests")
    event = SyncRequested.model_validate(env.payload)
    first = await on_sync_requested(event, context(env, deps))
    assert await commit(client, config, env, first, "calendar") == COMMITTED
    version = await EventStore(client, config).version("calendar-again")
    second = await on_sync_requested(event, context(env, deps))
    assert not isinstance(second, Decision) or not second.appends
    assert [e.model_dump() for e in outputs(second)] == [e.model_dump() for e in outputs(first)]
    assert [e.event_type for e in outputs(first)] == ["calendar.occurrence.added"] * 6 + ["calendar.sync.completed"]
    assert await EventStore(client, config).version("calendar-again") == version == 7


async def test_a_sync_killed_before_its_commit_stores_nothing_and_its_rerun_stores_every_change_once(
    client: aioredis.Redis, config: BusConfig, deps: CalendarDeps
) -> None:
    """With 3-event appends, a decision never committed (the worker died) leaves no event; the re-run commits all 9."""
    deps.calendars.batch = 3
    env = Envelope.wrap(request("chunks", sample("weekly_exceptions.ics")), producer="tests")
    event = SyncRequested.model_validate(env.payload)
    lost = await on_sync_requested(event, context(env, deps))
    assert isinstance(lost, Decision)
    assert [len(a.envelopes) for a in lost.appends] == [3, 3, 3]  # three appends, one commit
    store = EventStore(client, config)
    assert await store.version("calendar-chunks") == 0

    result = await on_sync_requested(event, context(env, deps))
    assert await commit(client, config, env, result, "calendar") == COMMITTED
    out = outputs(result)
    added = [e for e in out if e.event_type == "calendar.occurrence.added"]
    assert len({(e.model_dump()["uid"], e.model_dump()["recurrence_id"]) for e in added}) == len(added) == 8
    assert out[-1].model_dump()["added"] == 8
    stored = await store.read("calendar-chunks")
    assert len(stored) == 9
    assert [s.envelope.id for s in stored] == [caused_id(env, "calendar-chunks", i) for i in range(9)]
    assert {s.envelope.causation_id for s in stored} == {env.id}


def caused_id(cause: Envelope, stream_id: str, position: int) -> str:
    """The id Repository.stage gives the event at `position` among `cause`'s events in `stream_id`."""
    return str(uuid.uuid5(CAUSED_IDS, f"{cause.id}/{stream_id}/{position}"))


async def test_an_older_request_than_the_last_stored_sync_is_rejected_as_stale(
    client: aioredis.Redis, config: BusConfig, deps: CalendarDeps
) -> None:
    """A feed requested before the last stored sync is refused, so out-of-order delivery cannot roll a calendar back."""
    older = Envelope.wrap(request("order", sample("weekly_exceptions.ics")), producer="tests")
    await asyncio.sleep(0.01)
    newer = Envelope.wrap(request("order", CHANGED_WEEKLY), producer="tests")
    decided = await on_sync_requested(SyncRequested.model_validate(newer.payload), context(newer, deps))
    assert await commit(client, config, newer, decided, "calendar") == COMMITTED
    out = outputs(await on_sync_requested(SyncRequested.model_validate(older.payload), context(older, deps)))
    assert [(e.event_type, e.model_dump()["code"]) for e in out] == [("calendar.sync.rejected", "StaleSync")]


async def test_two_syncs_of_one_calendar_racing_the_second_reruns_on_the_first(
    client: aioredis.Redis, config: BusConfig, deps: CalendarDeps
) -> None:
    """Two syncs decided on the same state: the later commit is refused, and its re-run reports only what it changed."""
    first = Envelope.wrap(request("race", sample("weekly_exceptions.ics")), producer="tests")
    await asyncio.sleep(0.01)
    second = Envelope.wrap(request("race", CHANGED_WEEKLY), producer="tests")
    events = [SyncRequested.model_validate(e.payload) for e in (first, second)]
    a, b = [await on_sync_requested(ev, context(env, deps)) for ev, env in zip(events, (first, second), strict=True)]
    assert await commit(client, config, first, a, "calendar") == COMMITTED
    assert await commit(client, config, second, b, "calendar") == CONFLICT  # both expected version 0
    rerun = await on_sync_requested(events[1], context(second, deps))
    assert await commit(client, config, second, rerun, "calendar") == COMMITTED
    done = outputs(rerun)[-1].model_dump()
    assert (done["added"], done["updated"], done["removed"], done["occurrences"]) == (1, 1, 1, 8)
    assert await EventStore(client, config).version("calendar-race") == 9 + 4


NEVER_MATCHES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:never@t\r\n"
    "DTSTART:20250106T000000Z\r\nRRULE:FREQ=DAILY;INTERVAL=7;BYDAY=TU\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


async def test_hostile_and_malformed_feeds_are_rejected_quickly_never_dead_lettered(
    client: aioredis.Redis, config: BusConfig, service: None, tmp_path: Path
) -> None:
    """SECONDLY without end, a never-matching rule, broken lines, a 2 MiB blob, a bad zone: each rejected quickly."""
    huge = FileBlobStore(tmp_path / "blobs").put(b"X" * (2 * 1024 * 1024), "text/calendar")
    cases = {
        "secondly": request("secondly", sample("hostile_secondly.ics")),
        "never": request("never", NEVER_MATCHES),
        "broken": request("broken", "BEGIN:VCALENDAR\r\nthis line has no colon\r\nEND:VCALENDAR\r\n"),
        "huge": SyncRequested(calendar_id="huge", blob=huge),
        "bad-zone": request("bad-zone", sample("floating.ics"), default_tz="Mars/Olympus_Mons"),
    }
    began = time.monotonic()
    async with calendars(client, config) as cal:
        out = {name: await cal.sync(event) for name, event in cases.items()}
    assert time.monotonic() - began < 15
    only = ["calendar.sync.rejected"]
    rejected = {name: o["calendar.sync.rejected"][0] for name, o in out.items() if list(o) == only}
    assert {n: r["code"] for n, r in rejected.items()} == {
        "secondly": "CalendarTooLarge",
        "never": "CalendarTooLarge",
        "broken": "InvalidCalendar",
        "huge": "CalendarTooLarge",
        "bad-zone": "CalendarConfigError",
    }
    assert "limit is 1048576" in rejected["huge"]["reason"]
    assert await dead_letters(client) == {}
    assert await client.xlen(keys.stream("es-calendar")) == 0  # nothing stored for any of them


def cli_agenda(redis_url: str, *args: str) -> Any:
    """`aiwf calendar agenda ARGS --json`, parsed; fails the test on a non-zero exit."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """aiwf."""

    register(app)
    result = CliRunner().invoke(app, ["calendar", "agenda", *args, "--json"], env={"REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_the_agenda_answers_windows_and_resumes_after_a_restart(
    client: aioredis.Redis, config: BusConfig, service: None, redis_url: str
) -> None:
    """The agenda (function, CLI) holds a window's standups and a multi-day event begun earlier, also after restarts."""
    async with calendars(client, config) as cal:
        await cal.sync(request("team", sample("weekly_exceptions.ics")))
        await cal.sync(request("days", sample("all_day.ics")))
    march = await agenda(client, "team", at(1, 3), at(1, 4))
    assert [i.start for i in march] == [
        "2025-03-03T08:30:00Z",
        "2025-03-10T08:30:00Z",
        "2025-03-24T08:30:00Z",
        "2025-03-31T07:30:00Z",
    ]
    assert {i.summary for i in march} == {"Team standup"}
    midway = await agenda(client, "days", at(11, 6, 12), at(12, 6))
    assert [i.summary for i in midway] == ["EuroPython sprint days"]  # began 10 June, still running
    assert await agenda(client, "days", at(13, 6), at(14, 6)) == []  # ended at midnight, exclusive
    assert await agenda(client, "nobody", START, END) == []

    rows = await asyncio.to_thread(cli_agenda, redis_url, "team", "--from", "2025-03-20", "--to", "2025-04-08")
    assert [(r["start"], r["summary"]) for r in rows] == [
        ("2025-03-24T08:30:00Z", "Team standup"),
        ("2025-03-31T07:30:00Z", "Team standup"),
        ("2025-04-07T09:00:00Z", "Team standup (moved for the offsite)"),
    ]

    async with calendars(client, config) as cal:  # restarted: the projection resumes
        await cal.sync(request("team", CHANGED_WEEKLY))
    rows = await asyncio.to_thread(cli_agenda, redis_url, "team", "--from", "2025-03-20", "--to", "2025-04-08")
    assert [(r["start"], r["summary"]) for r in rows] == [
        ("2025-03-31T07:30:00Z", "Team standup"),
        ("2025-03-31T14:00:00Z", "Retro"),
        ("2025-04-07T09:00:00Z", "Team standup (offsite, Hall C)"),
    ]
    info = {g["name"].decode(): g for g in await client.xinfo_groups(keys.stream("es-calendar"))}
    assert info["calendar_agenda"]["pending"] == 0
    # Applied once each: one processed-marker per event the projection handles, none for the rest.
    applied = await markers.count(client, "es-calendar", "calendar_agenda")
    entries = cast("Entries", await client.xrange(keys.stream("es-calendar")))
    handled = [f for _, f in entries if f[b"type"].decode() in calendar_service.agenda.handlers]
    assert 0 < applied == len(handled) < len(entries)


def office_feed(offset: str) -> str:
    """One tenant's feed: its own custom zone `Office Time` at `offset` and a daily 09:00 meeting in it."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Office Time\r\n"
        f"BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\n"
        "END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:meet@t\r\nDTSTART;TZID=Office Time:20250310T090000\r\n"
        "DTEND;TZID=Office Time:20250310T100000\r\nRRULE:FREQ=DAILY;COUNT=2\r\nSUMMARY:Meeting\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


async def test_two_tenants_with_clashing_custom_tzids_keep_their_own_times_in_either_order(
    client: aioredis.Redis, config: BusConfig, service: None
) -> None:
    """+05:00 then -08:00 `Office Time` feeds and the reverse, in one worker, land right; re-syncs change nothing."""
    east, west = ["2025-03-10T04:00:00Z", "2025-03-11T04:00:00Z"], ["2025-03-10T17:00:00Z", "2025-03-11T17:00:00Z"]
    async with calendars(client, config) as cal:
        outcomes = [
            await cal.sync(request(name, office_feed(offset)))
            for name, offset in [
                ("a-first", "+0500"),
                ("b-second", "-0800"),
                ("b-first", "-0800"),
                ("a-second", "+0500"),
            ]
        ]
        again = [
            await cal.sync(request(name, office_feed(offset)))
            for name, offset in [("b-second", "-0800"), ("a-second", "+0500")]
        ]
    got = [sorted(p["start"] for p in o["calendar.occurrence.added"]) for o in outcomes]
    assert got == [east, west, west, east]
    assert [p["local_start"][-6:] for p in outcomes[1]["calendar.occurrence.added"]] == ["-08:00"] * 2
    assert [list(o) for o in again] == [["calendar.sync.completed"]] * 2  # no `updated` from a leaked zone


BAD_EVENTS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:fine@t\r\nDTSTART:20250301T100000Z\r\nSUMMARY:first\r\nSUMMARY:second\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:two-starts@t\r\nDTSTART:20250301T100000Z\r\nDTSTART:20250302T100000Z\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:one@t\r\nUID:two@t\r\nDTSTART:20250301T100000Z\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:zone@t\r\nDTSTART;TZID=Nowhere:20250301T100000\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:empty-rule@t\r\nDTSTART:20250305T100000Z\r\nRRULE:\r\nSUMMARY:once\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nDTSTART:20250306T100000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


async def test_a_feed_with_bad_events_syncs_the_rest_and_reports_each_skipped_one(
    client: aioredis.Redis, config: BusConfig, service: None, redis_url: str
) -> None:
    """Duplicate DTSTART or UID, an undefined TZID: skipped with reasons, the rest syncs; `calendar syncs` shows so."""
    async with calendars(client, config) as cal:
        out = await cal.sync(request("mixed", BAD_EVENTS))
    assert set(out) == {"calendar.occurrence.added", "calendar.sync.completed"}
    added = {p["summary"]: p for p in out["calendar.occurrence.added"]}
    assert set(added) == {"first", "once", "no uid"}
    assert added["no uid"]["uid"].startswith("derived-")
    (done,) = out["calendar.sync.completed"]
    assert (done["added"], done["skipped_count"], done["flagged_count"]) == (3, 3, 1)
    assert [(n["uid"], n["reason"]) for n in done["skipped"]] == [
        ("two-starts@t", "VEVENT 'two-starts@t' has 2 DTSTART properties; RFC 5545 allows one"),
        ("one@t", "VEVENT #2 has 2 UID properties; RFC 5545 allows one"),
        ("zone@t", "VEVENT 'zone@t' uses TZID 'Nowhere', which is neither a known zone nor defined in the document"),
    ]
    assert done["flagged"] == [
        {"uid": "empty-rule@t", "reason": "VEVENT 'empty-rule@t' has an empty RRULE: read as not repeating by rule"}
    ]
    assert "vText" not in json.dumps(out)
    assert await dead_letters(client) == {}

    (shown,) = await asyncio.to_thread(cli_json, redis_url, "syncs", "mixed")
    assert (shown["outcome"], shown["added"], shown["skipped_count"]) == ("completed", 3, 3)
    assert shown["skipped"] == done["skipped"]
    table = await asyncio.to_thread(cli_text, redis_url, "syncs", "mixed")
    assert "two-starts@t" in table
    assert "Nowhere" in table


async def test_unknown_tzid_policy_is_configurable(
    monkeypatch: pytest.MonkeyPatch, client: aioredis.Redis, config: BusConfig, service: None
) -> None:
    """AIWF_CALENDAR_UNKNOWN_TZID=utc keeps an undefined TZID's event as UTC and flags it; a bad value is refused."""
    calendar_env(monkeypatch, unknown_tzid="utc")
    async with calendars(client, config) as cal:
        out = await cal.sync(request("utc", BAD_EVENTS))
    zone = next(p for p in out["calendar.occurrence.added"] if p["uid"] == "zone@t")
    assert (zone["start"], zone["tz"]) == ("2025-03-01T10:00:00Z", "UTC")
    assert "read as UTC" in out["calendar.sync.completed"][0]["flagged"][0]["reason"]
    monkeypatch.setenv("AIWF_CALENDAR_UNKNOWN_TZID", "guess")
    with pytest.raises(ConfigError, match=r"AIWF_CALENDAR_UNKNOWN_TZID must be one of reject\|utc\|floating"):
        async with SERVICE.started(client, config):
            pass


def cli_text(redis_url: str, *args: str) -> str:
    """`aiwf calendar ARGS` as a person sees it; fails the test on a non-zero exit."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """aiwf."""

    register(app)
    result = CliRunner().invoke(app, ["calendar", *args], env={"REDIS_URL": redis_url, "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.stdout


def cli_json(redis_url: str, *args: str) -> Any:
    """`aiwf calendar ARGS --json`, parsed."""
    return json.loads(cli_text(redis_url, *args, "--json"))
