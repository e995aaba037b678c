"""Unknown names are errors (one `aiwf:` line, exit 1) that name the closest known names, or the known ones."""

from __future__ import annotations

import json

import pytest
import redis
from cli_checks import Aiwf, assert_one_error

WINDOW = ("--from", "2025-01-01", "--to", "2025-02-01")


@pytest.mark.parametrize("command", ["tail", "groups"])
def test_an_unknown_stream_suggests_the_closest_or_lists_the_known(aiwf: Aiwf, r: redis.Redis, command: str) -> None:
    """`aiwf tail|groups documnts` suggests documents; `nosuch` (close to nothing) lists the known streams."""
    assert "did you mean documents?" in assert_one_error(aiwf(command, "documnts"))
    line = assert_one_error(aiwf(command, "nosuch"))
    assert "no stream" in line
    assert "known streams: auth, calendar, documents, llm" in line


def test_an_unknown_group_suggests_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """`aiwf pending documents documnets` names the group `documents` that exists on the stream."""
    r.xgroup_create("aiwf:ev:{documents}", "documents", mkstream=True)
    line = assert_one_error(aiwf("pending", "documents", "documnets"))
    assert "no group 'documnets'" in line
    assert "did you mean documents?" in line


def test_an_unknown_calendar_is_an_error_naming_the_known_ones(aiwf: Aiwf, r: redis.Redis) -> None:
    """Before any sync: agenda of any calendar says none was synced. After one: a typo suggests it, a stranger
    name lists it, for `agenda` and `syncs`; the known calendar itself still answers 0."""
    none_yet = assert_one_error(aiwf("calendar", "agenda", "work", *WINDOW))
    assert none_yet == "aiwf: unknown calendar 'work'; no calendar has been synced yet"
    ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    published = aiwf("publish", "calendar.sync.requested", "--data", json.dumps({"calendar_id": "work", "ics": ics}))
    assert published.returncode == 0, published.stderr
    assert assert_one_error(aiwf("calendar", "agenda", "wrok", *WINDOW)).endswith("; did you mean work?")
    assert assert_one_error(aiwf("calendar", "syncs", "nosuch")).endswith("; known calendars: work")
    known = aiwf("calendar", "agenda", "work", *WINDOW, "--json")
    assert (known.returncode, json.loads(known.stdout)) == (0, [])


def test_an_unknown_dead_letter_id_suggests_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """`aiwf dlq show` of an id one digit off a real dead letter names that letter."""
    entry = r.xadd("aiwf:dlq:{documents}", {"error": "boom"}, id="1700000000000-0")
    assert entry == "1700000000000-0"
    line = assert_one_error(aiwf("dlq", "show", "documents/1700000000001-0"))
    assert "did you mean documents/1700000000000-0?" in line
