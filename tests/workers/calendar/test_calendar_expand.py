"""Expanding calendars: recurrence, exceptions, time zones, all-day, floating, and hard limits."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import icalendar
import pytest

from aiwf.workers.calendar.errors import CalendarConfigError, CalendarTooLarge, InvalidCalendar, InvalidWindow
from aiwf.workers.calendar.expand import ExpandOptions, Occurrence, expand
from aiwf.workers.calendar.ics import parse_calendar

SAMPLES = Path(__file__).parents[3] / "workers" / "calendar" / "samples"
UTC = dt.UTC
Y2025 = (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC))


def _cal(*bodies: str) -> str:
    """A VCALENDAR holding one VEVENT per body (lines separated by newlines)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for body in bodies:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def _sample(name: str, options: ExpandOptions | None = None) -> dict[tuple[str, str], Occurrence]:
    return expand(parse_calendar((SAMPLES / name).read_bytes()), *Y2025, options)


def test_weekly_with_exdate_and_moved_occurrence() -> None:
    """The weekly standup skips its EXDATE and shows the RECURRENCE-ID exception at its new time."""
    occ = _sample("weekly_exceptions.ics")
    uid = "standup-7f3a@aiwf.test"
    assert [k[1] for k in occ] == [
        "2025-03-03T08:30:00Z",
        "2025-03-10T08:30:00Z",
        "2025-03-24T08:30:00Z",  # 17 March is an EXDATE
        "2025-03-31T07:30:00Z",  # summer time: 09:30 Berlin is 07:30 UTC
        "2025-04-07T07:30:00Z",
        "2025-04-14T07:30:00Z",
        "2025-04-21T07:30:00Z",
        "2025-04-28T07:30:00Z",
    ]
    moved = occ[(uid, "2025-04-07T07:30:00Z")]
    assert moved.summary == "Team standup (moved for the offsite)"
    assert (moved.start, moved.end) == ("2025-04-07T09:00:00Z", "2025-04-07T09:15:00Z")
    assert moved.sequence == 1
    assert moved.location == "Offsite, Hall B"
    normal = occ[(uid, "2025-03-03T08:30:00Z")]
    assert normal.sequence == 0
    assert normal.summary == "Team standup"
    assert normal.tz == "Europe/Berlin"
    assert normal.local_start == "2025-03-03T09:30:00+01:00"
    assert not normal.floating
    assert not normal.all_day
    assert len({o.content_hash for o in occ.values()}) == len(occ)


def test_tzid_follows_dst() -> None:
    """A daily 10:00 Europe/Berlin event is 09:00 UTC before the DST switch and 08:00 UTC after."""
    occ = _sample("berlin_dst.ics")
    focus = [o for o in occ.values() if o.uid.startswith("focus-block")]
    assert [o.start for o in focus] == [
        "2025-03-28T09:00:00Z",
        "2025-03-29T09:00:00Z",
        "2025-03-30T08:00:00Z",
        "2025-03-31T08:00:00Z",
        "2025-04-01T08:00:00Z",
    ]
    party = occ[("summer-party-0b77@aiwf.test", "")]
    assert (party.start, party.end, party.tz) == ("2025-07-04T16:00:00Z", "2025-07-04T21:00:00Z", "Europe/Berlin")


def test_all_day_events_in_default_zone() -> None:
    """All-day dates become midnight in the default zone, keep their date, and a yearly one recurs once a year."""
    occ = _sample("all_day.ics", ExpandOptions(default_tz="Europe/Berlin"))
    labour = occ[("labour-day-2025@aiwf.test", "")]
    assert labour.all_day
    assert labour.floating
    assert (labour.start, labour.end) == ("2025-04-30T22:00:00Z", "2025-05-01T22:00:00Z")
    assert labour.local_start == "2025-05-01"
    assert labour.tz == "Europe/Berlin"
    conf = occ[("conf-2025-88a1@aiwf.test", "")]
    assert (conf.start, conf.end) == ("2025-06-09T22:00:00Z", "2025-06-12T22:00:00Z")
    birthday = occ[("birthday-ada-5e21@aiwf.test", "2025-12-10")]
    assert (birthday.start, birthday.end) == ("2025-12-09T23:00:00Z", "2025-12-10T23:00:00Z")


def test_floating_uses_configurable_zone() -> None:
    """A floating time is read in default_tz, while a UTC event does not move."""
    utc = _sample("floating.ics")
    ny = _sample("floating.ics", ExpandOptions(default_tz="America/New_York"))
    lunch = ("lunch-floating-3c9d@aiwf.test", "")
    call = ("call-utc-4e0f@aiwf.test", "")
    assert utc[lunch].start == "2025-03-12T12:30:00Z"
    assert ny[lunch].start == "2025-03-12T16:30:00Z"
    assert ny[lunch].floating
    assert ny[lunch].tz == "America/New_York"
    assert ny[lunch].local_start == "2025-03-12T12:30:00"
    assert utc[call] == ny[call]
    assert ny[call].tz == "UTC"


def test_window_is_half_open() -> None:
    """An occurrence starting exactly at the window end is out; one ending exactly at the start is out."""
    cal = parse_calendar(_cal("UID:d\nDTSTART:20250101T100000Z\nDTEND:20250101T110000Z\nRRULE:FREQ=DAILY;COUNT=5"))
    got = expand(cal, dt.datetime(2025, 1, 2, 11, tzinfo=UTC), dt.datetime(2025, 1, 4, 10, tzinfo=UTC))
    assert [o.start for o in got.values()] == ["2025-01-03T10:00:00Z"]


def test_occurrence_overlapping_window_start_is_in() -> None:
    """An occurrence that began before the window but is still running is included."""
    cal = parse_calendar(_cal("UID:long\nDTSTART:20250101T000000Z\nDTEND:20250110T000000Z"))
    got = expand(cal, dt.datetime(2025, 1, 5, tzinfo=UTC), dt.datetime(2025, 1, 6, tzinfo=UTC))
    assert list(got) == [("long", "")]


def test_to_dict_is_plain() -> None:
    """to_dict returns only JSON-ready values."""
    item = next(iter(_sample("floating.ics").values()))
    assert all(isinstance(v, str | int | bool) for v in item.to_dict().values())


def test_window_checks() -> None:
    """A naive, empty or over-long window raises InvalidWindow."""
    cal = parse_calendar((SAMPLES / "floating.ics").read_bytes())
    with pytest.raises(InvalidWindow, match="timezone-aware"):
        expand(cal, dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1))
    with pytest.raises(InvalidWindow):
        expand(cal, Y2025[1], Y2025[0])
    with pytest.raises(InvalidWindow, match="at most"):
        expand(cal, Y2025[0], Y2025[0] + dt.timedelta(days=800))


def test_options_validated() -> None:
    """Unknown zones and non-positive limits raise CalendarConfigError."""
    with pytest.raises(CalendarConfigError, match="Mars/Olympus"):
        ExpandOptions(default_tz="Mars/Olympus")
    with pytest.raises(CalendarConfigError):
        ExpandOptions(max_occurrences=0)


def test_hostile_secondly_refused_fast() -> None:
    """FREQ=SECONDLY without an end over a year is refused as CalendarTooLarge in well under a second."""
    began = time.perf_counter()
    with pytest.raises(CalendarTooLarge, match="RRULE would generate"):
        _sample("hostile_secondly.ics")
    assert time.perf_counter() - began < 1


def test_hostile_secondly_small_window_hits_occurrence_cap() -> None:
    """Over one hour the SECONDLY rule passes the work estimate but hits max_occurrences quickly."""
    cal = parse_calendar((SAMPLES / "hostile_secondly.ics").read_bytes())
    began = time.perf_counter()
    with pytest.raises(CalendarTooLarge, match="more than 1000 occurrences"):
        expand(
            cal,
            dt.datetime(2025, 1, 1, tzinfo=UTC),
            dt.datetime(2025, 1, 1, 1, tzinfo=UTC),
            ExpandOptions(max_occurrences=1000),
        )
    assert time.perf_counter() - began < 5


@pytest.mark.parametrize(
    "rule",
    [
        "DTSTART:19700101T000000Z\nRRULE:FREQ=MINUTELY",
        "DTSTART:00010101T000000Z\nRRULE:FREQ=DAILY",
        "DTSTART:20250101T000000Z\nRRULE:FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR="
        + ",".join(map(str, range(24)))
        + ";BYMINUTE=0,10,20,30,40,50;BYSECOND="
        + ",".join(map(str, range(60))),
    ],
)
def test_expensive_rules_refused_fast(rule: str) -> None:
    """Rules whose expansion from DTSTART would take millions of steps are refused before running."""
    cal = parse_calendar(_cal(f"UID:h\n{rule}"))
    began = time.perf_counter()
    with pytest.raises(CalendarTooLarge):
        expand(cal, *Y2025)
    assert time.perf_counter() - began < 1


def test_count_bounds_work_without_filters() -> None:
    """An old MINUTELY rule with a small COUNT is cheap and expands normally."""
    cal = parse_calendar(_cal("UID:c\nDTSTART:20250105T000000Z\nRRULE:FREQ=MINUTELY;COUNT=3"))
    assert [o.start for o in expand(cal, *Y2025).values()] == [
        "2025-01-05T00:00:00Z",
        "2025-01-05T00:01:00Z",
        "2025-01-05T00:02:00Z",
    ]


def test_hostile_vtimezone_finishes_quickly() -> None:
    """A VTIMEZONE whose own rule repeats every second does not hang expansion."""
    doc = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//EN",
            "BEGIN:VTIMEZONE",
            "TZID:Evil/Zone",
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            "RRULE:FREQ=SECONDLY",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0100",
            "END:STANDARD",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:e",
            "DTSTART;TZID=Evil/Zone:20250301T100000",
            "DTEND;TZID=Evil/Zone:20250301T110000",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ],
    )
    began = time.perf_counter()
    try:
        got = expand(parse_calendar(doc), *Y2025)
    except InvalidCalendar:
        got = {}
    assert time.perf_counter() - began < 5
    assert all(o.tz == "Evil/Zone" for o in got.values())


def test_bad_interval_is_invalid() -> None:
    """INTERVAL=0 raises InvalidCalendar rather than looping: when the feed is read, and in expand itself."""
    doc = _cal("UID:i\nDTSTART:20250101T000000Z\nRRULE:FREQ=DAILY;INTERVAL=0")
    with pytest.raises(InvalidCalendar, match="INTERVAL"):
        parse_calendar(doc)
    with pytest.raises(InvalidCalendar, match="INTERVAL"):
        expand(icalendar.Calendar.from_ical(doc), *Y2025)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=SECONDLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;INTERVAL=7;BYDAY=TU",
        "FREQ=MINUTELY;BYSETPOS=2",
    ],
)
def test_rules_that_never_match_stop_at_deadline(rule: str) -> None:
    """A rule that can never match (dateutil would search to year 9999) stops at max_seconds."""
    cal = parse_calendar(_cal(f"UID:never\nDTSTART:20250106T000000Z\nRRULE:{rule}"))
    began = time.perf_counter()
    day = (dt.datetime(2025, 1, 6, tzinfo=UTC), dt.datetime(2025, 1, 7, tzinfo=UTC))
    with pytest.raises(CalendarTooLarge, match=r"longer than 0\.3s"):
        expand(cal, *day, ExpandOptions(max_seconds=0.3))
    assert time.perf_counter() - began < 2


def test_deadline_restores_existing_tracer() -> None:
    """A tracer installed before expansion (e.g. coverage) is still in place afterwards."""
    import sys

    def tracer(frame: object, event: str, arg: object) -> None:
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        _sample("floating.ics")
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


def test_rdate_adds_occurrences() -> None:
    """RDATE values add occurrences next to the RRULE ones."""
    cal = parse_calendar(
        _cal("UID:r\nDTSTART:20250101T090000Z\nRRULE:FREQ=YEARLY;COUNT=1\nRDATE:20250301T090000Z,20250401T090000Z"),
    )
    assert [k[1] for k in expand(cal, *Y2025)] == [
        "2025-01-01T09:00:00Z",
        "2025-03-01T09:00:00Z",
        "2025-04-01T09:00:00Z",
    ]
