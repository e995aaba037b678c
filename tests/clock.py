"""A monotonic clock that only moves when told to, for breakers, routers and backoffs under test."""

from __future__ import annotations


class Clock:
    """Starts at 1000 s; `advance` moves it; calling it reads it (a drop-in for time.monotonic)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
