"""A wall-clock deadline that also interrupts library code looping without returning."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiwf.workers.calendar.errors import CalendarTooLarge

__all__ = ["Deadline"]


class Deadline:
    """Raise CalendarTooLarge inside running library code once ``seconds`` have passed.

    While :meth:`watching`, a trace function sees every Python-level call in
    this thread; dateutil's search loop calls at least one Python method per
    step, so it is stopped within microseconds of the deadline. Python 3.11 has
    no sys.monitoring, and signals only reach the main thread, so this is the
    one in-process bound that also works in executor threads. Tracing roughly
    doubles the cost of the code it watches, so only library calls are
    watched; our own loop calls :meth:`check`. An existing tracer (coverage, a
    debugger) keeps being called.
    """

    def __init__(self, seconds: float) -> None:
        """Start the clock now."""
        self.seconds = seconds
        self.limit = time.monotonic() + seconds
        previous = sys.gettrace()

        def tracer(*args: Any) -> Any:
            self.check()
            return previous(*args) if previous is not None else None

        self._previous = previous
        self._tracer = tracer

    def check(self) -> None:
        """Raise CalendarTooLarge if the deadline has passed."""
        if time.monotonic() > self.limit:
            msg = f"expansion took longer than {self.seconds:g}s; a rule is too expensive or can never match"
            raise CalendarTooLarge(msg)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Run the body under the deadline."""
        sys.settrace(self._tracer)
        try:
            yield
        finally:
            sys.settrace(self._previous)
