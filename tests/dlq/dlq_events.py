"""Event models of a second test domain, `testdlq`, so dead letters come from two streams."""

from __future__ import annotations

from aiwf.schemas import Event, event


@event("testdlq.thing.happened", version=1)
class ThingHappened(Event):
    """An input event; `secret` carries sealed text in the masking tests."""

    name: str
    secret: str = ""


@event("testdlq.thing.noted", version=1)
class ThingNoted(Event):
    """The output of handling a ThingHappened: one per input."""

    name: str
