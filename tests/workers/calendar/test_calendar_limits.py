"""The work estimate and the deadline that bound every expansion."""

from __future__ import annotations

import datetime as dt
import time
from typing import cast

import icalendar
import pytest

from aiwf.workers.calendar.deadline import Deadline
from aiwf.workers.calendar.errors import CalendarTooLarge, InvalidCalendar
from aiwf.workers.calendar.rule_cost import rule_work

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _rule(text: str) -> icalendar.vRecur:
    return cast("icalendar.vRecur", icalendar.vRecur.from_ical(text))


def test_secondly_estimate_counts_every_second() -> None:
    """A SECONDLY rule over one hour is estimated at one step per second."""
    assert rule_work(_rule("FREQ=SECONDLY"), START, START + dt.timedelta(hours=1)) == 3601


def test_interval_and_until_shrink_the_estimate() -> None:
    """INTERVAL divides the steps and an UNTIL before the window end cuts them."""
    end = START + dt.timedelta(days=100)
    assert rule_work(_rule("FREQ=DAILY;INTERVAL=10"), START, end) == 11
    assert rule_work(_rule("FREQ=DAILY;UNTIL=20250110T000000Z"), START, end) == 11


def test_by_parts_multiply_the_estimate() -> None:
    """Day- and time-expanding BY parts multiply the per-period steps."""
    end = START + dt.timedelta(days=6)
    assert rule_work(_rule("FREQ=WEEKLY"), START, end) == 1
    assert rule_work(_rule("FREQ=WEEKLY;BYDAY=MO,WE"), START, end) == 7
    assert rule_work(_rule("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,17"), START, end) == 14


def test_count_caps_unfiltered_rules() -> None:
    """COUNT bounds the estimate when no BY part can filter dates out."""
    long_ago = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert rule_work(_rule("FREQ=MINUTELY;COUNT=5"), long_ago, START) == 5
    assert rule_work(_rule("FREQ=MINUTELY;COUNT=5;BYHOUR=3"), long_ago, START) > 1_000_000


def test_bad_rules_are_invalid() -> None:
    """A zero INTERVAL is InvalidCalendar."""
    with pytest.raises(InvalidCalendar, match="INTERVAL"):
        rule_work(_rule("FREQ=DAILY;INTERVAL=0"), START, START)


def _spin() -> None:
    def step(i: int) -> int:
        return i + 1

    i = 0
    while True:
        i = step(i)


def test_deadline_interrupts_a_loop() -> None:
    """Code that never returns is interrupted with CalendarTooLarge shortly after the deadline."""
    deadline = Deadline(0.05)
    began = time.perf_counter()
    with pytest.raises(CalendarTooLarge, match=r"longer than 0\.05s"), deadline.watching():
        _spin()
    assert time.perf_counter() - began < 1


def test_deadline_check_outside_watching() -> None:
    """check() passes before the deadline and raises after it."""
    deadline = Deadline(0.01)
    deadline.check()
    time.sleep(0.02)
    with pytest.raises(CalendarTooLarge):
        deadline.check()
