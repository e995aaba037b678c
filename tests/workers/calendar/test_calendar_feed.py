"""Real-world feeds: each document's own time zones, duplicate properties, and bad events skipped one by one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aiwf.schemas import REGISTRY
from aiwf.schemas.events.calendar import SyncCompleted
from aiwf.workers.calendar.expand import ExpandOptions, expand
from aiwf.workers.calendar.ics import read_feed
from aiwf.workers.calendar.zones import UnknownTzid

Y2025 = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
GOOD = "UID:good@t\nDTSTART:20250301T100000Z\nSUMMARY:Good"


def _cal(*bodies: str, zones: str = "") -> str:
    """A VCALENDAR with `zones` (raw VTIMEZONE text) and one VEVENT per body (lines separated by newlines)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *zones.strip().splitlines()]
    for body in bodies:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def office(offset: str) -> str:
    """A document defining the custom zone `Office Time` at `offset`, with one 09:00 meeting in it."""
    zone = (
        f"BEGIN:VTIMEZONE\nTZID:Office Time\nBEGIN:STANDARD\nDTSTART:19700101T000000\nTZOFFSETFROM:{offset}\n"
        f"TZOFFSETTO:{offset}\nTZNAME:OT\nEND:STANDARD\nEND:VTIMEZONE"
    )
    return _cal(
        "UID:meet@t\nDTSTART;TZID=Office Time:20250310T090000\nDTEND;TZID=Office Time:20250310T100000\n"
        "EXDATE;TZID=Office Time:20250311T090000\nSUMMARY:Meeting",
        zones=zone,
    )


def starts(document: str, **options: Any) -> list[str]:
    """UTC starts of a document's occurrences in 2025."""
    feed = read_feed(document)
    return [o.start for o in expand(feed.calendar, *Y2025, ExpandOptions(**options)).values()]


@pytest.mark.parametrize("order", [("+0500", "-0800", "+0500"), ("-0800", "+0500", "-0800")])
def test_clashing_custom_tzids_are_read_from_each_document_in_either_order(order: tuple[str, str, str]) -> None:
    """Two tenants' `Office Time` (+05:00, -08:00) each keep their own offset, whichever this process read first."""
    expected = {"+0500": ["2025-03-10T04:00:00Z"], "-0800": ["2025-03-10T17:00:00Z"]}
    assert [starts(office(offset)) for offset in order] == [expected[offset] for offset in order]


def test_a_zone_defined_elsewhere_in_the_process_is_unknown_to_a_document_without_it() -> None:
    """After one document defined `Office Time`, another using it without a VTIMEZONE gets the policy, not the leak."""
    read_feed(office("+0500"))
    doc = _cal(GOOD, "UID:lost@t\nDTSTART;TZID=Office Time:20250310T090000")
    feed = read_feed(doc)
    assert [(n.uid, n.reason) for n in feed.skipped] == [
        (
            "lost@t",
            "VEVENT 'lost@t' uses TZID 'Office Time', which is neither a known zone nor defined in the document",
        ),
    ]
    assert [str(e["UID"]) for e in feed.calendar.walk("VEVENT")] == ["good@t"]


def test_unknown_tzid_is_read_as_utc_or_floating_and_flagged_when_configured() -> None:
    """With the utc or floating policy an undefined TZID keeps the event, read that way, and flags it."""
    doc = _cal("UID:nowhere@t\nDTSTART;TZID=Nowhere:20250310T090000\nDTEND;TZID=Nowhere:20250310T093000")
    as_utc = read_feed(doc, unknown_tzid=UnknownTzid.UTC)
    (utc,) = expand(as_utc.calendar, *Y2025).values()
    assert (utc.start, utc.tz, utc.floating) == ("2025-03-10T09:00:00Z", "UTC", False)
    assert [n.reason for n in as_utc.flagged] == ["VEVENT 'nowhere@t' uses unknown TZID 'Nowhere': read as UTC"]
    floating = read_feed(doc, unknown_tzid=UnknownTzid.FLOATING)
    (local,) = expand(floating.calendar, *Y2025, ExpandOptions(default_tz="America/New_York")).values()
    assert (local.start, local.tz, local.floating) == ("2025-03-10T13:00:00Z", "America/New_York", True)
    assert floating.flagged[0].reason.endswith("read as floating times")
    assert not as_utc.skipped
    assert not floating.skipped


def test_iana_and_windows_tzids_still_resolve_by_name() -> None:
    """Europe/Berlin and the Windows name `W. Europe Standard Time` need no VTIMEZONE and are not flagged."""
    doc = _cal(
        "UID:b@t\nDTSTART;TZID=Europe/Berlin:20250310T090000",
        "UID:w@t\nDTSTART;TZID=W. Europe Standard Time:20250310T090000",
    )
    feed = read_feed(doc)
    assert (feed.skipped, feed.flagged) == ([], [])
    assert [o.start for o in expand(feed.calendar, *Y2025).values()] == ["2025-03-10T08:00:00Z"] * 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("UID:d@t\nDTSTART:20250301T100000Z\nDTSTART:20250302T100000Z", "VEVENT 'd@t' has 2 DTSTART properties"),
        ("UID:d@t\nDTSTART:20250301T100000Z\nDTEND:20250301T110000Z\nDTEND:20250301T120000Z", "2 DTEND properties"),
        ("UID:d@t\nDTSTART:20250301T100000Z\nDURATION:PT1H\nDURATION:PT2H", "2 DURATION properties"),
        ("UID:x1@t\nUID:x2@t\nDTSTART:20250301T100000Z", "VEVENT #1 has 2 UID properties"),
        ("UID:d@t\nDTSTART:20250301T100000Z\nSEQUENCE:1\nSEQUENCE:2", "2 SEQUENCE properties"),
        (
            "UID:good@t\nRECURRENCE-ID:20250301T100000Z\nRECURRENCE-ID:20250302T100000Z\nDTSTART:20250301T100000Z",
            "2 RECURRENCE-ID properties",
        ),
    ],
)
def test_duplicate_properties_skip_that_event_with_a_readable_reason(body: str, reason: str) -> None:
    """A second DTSTART, DTEND, DURATION, UID, SEQUENCE or RECURRENCE-ID skips its event; the good one stays."""
    feed = read_feed(_cal(GOOD, body))
    (note,) = feed.skipped
    assert reason in note.reason
    assert "RFC 5545 allows one" in note.reason
    assert [o.summary for o in expand(feed.calendar, *Y2025).values()] == ["Good"]


def test_duplicate_texts_keep_their_first_value() -> None:
    """A repeated SUMMARY or STATUS reads as its first value, never as a Python list repr."""
    feed = read_feed(
        _cal(
            "UID:s@t\nDTSTART:20250301T100000Z\nSUMMARY:first\nSUMMARY:second\n"
            "STATUS:CONFIRMED\nSTATUS:TENTATIVE\nLOCATION:Room 1\nLOCATION:Room 2"
        )
    )
    (occ,) = expand(feed.calendar, *Y2025).values()
    assert (occ.summary, occ.status, occ.location) == ("first", "CONFIRMED", "Room 1")


def test_one_bad_event_costs_only_itself() -> None:
    """Bad DTSTART, unknown FREQ, zero INTERVAL and a bad EXDATE are each skipped and named; the rest expand."""
    feed = read_feed(
        _cal(
            GOOD,
            "UID:a@t\nDTSTART:2025xx01T100000Z",
            "UID:b@t\nDTSTART:20250301T100000Z\nRRULE:COUNT=3",
            "UID:c@t\nDTSTART:20250301T100000Z\nRRULE:FREQ=DAILY;INTERVAL=0",
            "UID:d@t\nDTSTART:20250301T100000Z\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:garbage",
            "UID:weekly@t\nDTSTART:20250303T100000Z\nRRULE:FREQ=WEEKLY;COUNT=2",
        )
    )
    assert [(n.uid, n.reason.split(" ", 2)[2][:24]) for n in feed.skipped] == [
        ("a@t", "has a malformed DTSTART:"),
        ("b@t", "RRULE has an unknown FRE"),
        ("c@t", "RRULE INTERVAL must be >"),
        ("d@t", "has a malformed EXDATE: "),
    ]
    assert sorted(o.start for o in expand(feed.calendar, *Y2025).values()) == [
        "2025-03-01T10:00:00Z",
        "2025-03-03T10:00:00Z",
        "2025-03-10T10:00:00Z",
    ]


def test_empty_rrule_is_dropped_and_flagged() -> None:
    """An empty `RRULE:` line leaves a single event, flagged, instead of rejecting the feed."""
    feed = read_feed(_cal(GOOD, "UID:e@t\nDTSTART:20250305T100000Z\nRRULE:"))
    assert [n.reason for n in feed.flagged] == ["VEVENT 'e@t' has an empty RRULE: read as not repeating by rule"]
    assert [o.start for o in expand(feed.calendar, *Y2025).values()] == ["2025-03-01T10:00:00Z", "2025-03-05T10:00:00Z"]


def test_an_event_without_uid_gets_a_stable_derived_one() -> None:
    """No UID (or a blank one): a content hash, the same on a re-export with a new DTSTAMP, new when it changes."""
    body = "DTSTAMP:{stamp}\nDTSTART:20250301T100000Z\nSUMMARY:{summary}"

    def uid(stamp: str, summary: str = "Lunch", blank: bool = False) -> str:
        text = ("UID:  \n" if blank else "") + body.format(stamp=stamp, summary=summary)
        (occ,) = expand(read_feed(_cal(text)).calendar, *Y2025).values()
        return occ.uid

    first = uid("20250101T000000Z")
    assert first.startswith("derived-")
    assert first.endswith("@aiwf")
    assert uid("20250202T000000Z") == first == uid("20250303T000000Z", blank=True)
    assert uid("20250101T000000Z", summary="Dinner") != first


def test_a_v1_sync_completed_reads_as_v2_with_nothing_skipped() -> None:
    """calendar.sync.completed v1 (stored before skipped events were reported) upcasts to v2 with empty lists."""
    v1 = {
        "calendar_id": "c",
        "sync_id": "s",
        "added": 1,
        "updated": 0,
        "removed": 0,
        "occurrences": 1,
        "window_start": "2025-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:00:00Z",
        "requested_at": "2025-01-01T00:00:00Z",
    }
    event = REGISTRY.parse("calendar.sync.completed", 1, v1)
    assert isinstance(event, SyncCompleted)
    assert (event.skipped, event.skipped_count, event.flagged, event.flagged_count) == ([], 0, [], 0)
