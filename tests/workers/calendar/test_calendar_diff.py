"""Diffing two expansions: added, updated (SEQUENCE or content), removed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from aiwf.workers.calendar.diff import diff
from aiwf.workers.calendar.expand import Occurrence, expand
from aiwf.workers.calendar.ics import parse_calendar

SAMPLES = Path(__file__).parents[3] / "workers" / "calendar" / "samples"
WINDOW = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
UID = "standup-7f3a@aiwf.test"
WEEKLY = (SAMPLES / "weekly_exceptions.ics").read_bytes().decode()  # keeps the CRLF line ends


def _snapshot(text: str) -> dict[tuple[str, str], Occurrence]:
    return expand(parse_calendar(text), *WINDOW)


def _edit(old: str, new: str, text: str = WEEKLY) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_identical_snapshots_have_no_changes() -> None:
    """Expanding the same document twice gives an empty diff."""
    changes = diff(_snapshot(WEEKLY), _snapshot(WEEKLY))
    assert changes.is_empty
    assert (changes.added, changes.updated, changes.removed) == ([], [], [])


def test_exception_edited_with_sequence_bump_is_one_update() -> None:
    """Changing the moved occurrence and bumping its SEQUENCE updates only that occurrence, under the same key."""
    edited = _edit(
        "SUMMARY:Team standup (moved for the offsite)\r\nLOCATION:Offsite\\, Hall B\r\nSEQUENCE:1",
        "SUMMARY:Team standup (cancelled offsite)\r\nLOCATION:Offsite\\, Hall B\r\nSEQUENCE:2",
    )
    changes = diff(_snapshot(WEEKLY), _snapshot(edited))
    assert [o.key for o in changes.updated] == [(UID, "2025-04-07T07:30:00Z")]
    assert changes.updated[0].summary == "Team standup (cancelled offsite)"
    assert changes.updated[0].sequence == 2
    assert not changes.added
    assert not changes.removed


def test_sequence_bump_alone_is_an_update() -> None:
    """A higher SEQUENCE with identical content still counts as updated."""
    edited = _edit("SEQUENCE:1", "SEQUENCE:5")
    changes = diff(_snapshot(WEEKLY), _snapshot(edited))
    assert [o.key for o in changes.updated] == [(UID, "2025-04-07T07:30:00Z")]


def test_content_change_without_sequence_is_an_update() -> None:
    """Renaming the series without touching SEQUENCE updates every occurrence except the exception."""
    edited = _edit("SUMMARY:Team standup\r\n", "SUMMARY:Daily sync\r\n")
    changes = diff(_snapshot(WEEKLY), _snapshot(edited))
    assert len(changes.updated) == 7
    assert all(o.summary == "Daily sync" for o in changes.updated)
    assert (UID, "2025-04-07T07:30:00Z") not in {o.key for o in changes.updated}


def test_new_exdate_removes_one_occurrence() -> None:
    """Adding an EXDATE reports that occurrence as removed, with its old data."""
    exdate = "EXDATE;TZID=Europe/Berlin:20250317T093000"
    edited = _edit(exdate, exdate + ",20250414T093000")
    changes = diff(_snapshot(WEEKLY), _snapshot(edited))
    assert [o.key for o in changes.removed] == [(UID, "2025-04-14T07:30:00Z")]
    assert changes.removed[0].summary == "Team standup"
    assert not changes.added
    assert not changes.updated


def test_new_event_is_added() -> None:
    """An extra VEVENT shows up as added."""
    extra = "BEGIN:VEVENT\r\nUID:retro-1@aiwf.test\r\nDTSTART:20250502T140000Z\r\nSUMMARY:Retro\r\nEND:VEVENT\r\n"
    edited = _edit("END:VCALENDAR", extra + "END:VCALENDAR")
    changes = diff(_snapshot(WEEKLY), _snapshot(edited))
    assert [o.key for o in changes.added] == [("retro-1@aiwf.test", "")]
    assert changes.added[0].start == "2025-05-02T14:00:00Z"


def test_moving_a_single_event_is_an_update() -> None:
    """A non-recurring event moved to another time keeps its key and is reported as updated."""
    berlin = (SAMPLES / "berlin_dst.ics").read_bytes().decode()
    moved = _edit("DTSTART;TZID=Europe/Berlin:20250704T180000", "DTSTART;TZID=Europe/Berlin:20250704T190000", berlin)
    changes = diff(_snapshot(berlin), _snapshot(moved))
    assert [o.key for o in changes.updated] == [("summer-party-0b77@aiwf.test", "")]
    assert changes.updated[0].start == "2025-07-04T17:00:00Z"
    assert not changes.added
    assert not changes.removed
