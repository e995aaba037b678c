"""Parsing iCalendar documents: samples parse, bad input gets a clear InvalidCalendar."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiwf.workers.calendar.errors import CalendarTooLarge, InvalidCalendar
from aiwf.workers.calendar.ics import parse_calendar

SAMPLES = Path(__file__).parents[3] / "workers" / "calendar" / "samples"


def _cal(*bodies: str) -> str:
    """A VCALENDAR holding one VEVENT per body (lines separated by newlines)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for body in bodies:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.ics")))
def test_samples_parse(name: str) -> None:
    """Every shipped sample is a valid calendar with at least one event."""
    cal = parse_calendar((SAMPLES / name).read_bytes())
    assert [c for c in cal.subcomponents if c.name == "VEVENT"]


def test_accepts_text() -> None:
    """A str document parses like bytes."""
    cal = parse_calendar(_cal("UID:a\nDTSTART:20250101T100000Z\nSUMMARY:x"))
    assert str(cal.subcomponents[0]["UID"]) == "a"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("hello world", "not an iCalendar document"),
        ("", "not an iCalendar document"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n", "not an iCalendar document"),
        ("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20250101T000000Z\r\nEND:VEVENT\r\n", "must be VCALENDAR"),
        (_cal("UID:a\nSUMMARY:no start"), "has no DTSTART"),
        (_cal("UID:a\nDTSTART:2025xx01T100000Z"), "malformed DTSTART"),
        (_cal("UID:a\nDTSTART:20250101T100000Z\nRRULE:FREQ=SOMETIMES"), "malformed RRULE"),
        (_cal("UID:a\nDTSTART:20250101T100000Z\nDTEND:20250101T110000Z\nDURATION:PT1H"), "both DTEND and DURATION"),
        (_cal("UID:a\nDTSTART:20250102T000000Z\nDTEND:20250101T000000Z"), "ends before it starts"),
        (_cal("UID:a\nDTSTART;VALUE=DATE:20250102\nDTEND:20250103T000000Z"), "mixes a date"),
        (_cal("UID:a\nDTSTART:20250102T000000Z\nDURATION:-PT1H"), "negative DURATION"),
    ],
)
def test_invalid_documents(document: str, reason: str) -> None:
    """Malformed input raises InvalidCalendar whose message names the problem."""
    with pytest.raises(InvalidCalendar, match=reason):
        parse_calendar(document)


def test_binary_garbage() -> None:
    """Random bytes raise InvalidCalendar, not a crash."""
    with pytest.raises(InvalidCalendar):
        parse_calendar(bytes(range(256)) * 4)


def test_size_cap() -> None:
    """A document over max_bytes is refused before parsing."""
    big = _cal(*(f"UID:e{i}\nDTSTART:20250101T100000Z\nSUMMARY:{'x' * 60}" for i in range(50)))
    with pytest.raises(CalendarTooLarge, match="limit is 1000"):
        parse_calendar(big, max_bytes=1000)


def test_event_count_cap() -> None:
    """More VEVENTs than max_events raise CalendarTooLarge."""
    doc = _cal(*(f"UID:e{i}\nDTSTART:20250101T100000Z" for i in range(11)))
    with pytest.raises(CalendarTooLarge, match="11 events"):
        parse_calendar(doc, max_events=10)


def test_deep_nesting_refused_quickly() -> None:
    """Thousands of nested components are refused as InvalidCalendar within a second or two."""
    doc = "BEGIN:VCALENDAR\r\n" + "BEGIN:X-A\r\n" * 5000 + "END:X-A\r\n" * 5000 + "END:VCALENDAR\r\n"
    began = time.perf_counter()
    with pytest.raises(InvalidCalendar, match="nested deeper"):
        parse_calendar(doc)
    assert time.perf_counter() - began < 5
