"""The calendar service: two subscriptions, one data path each.

    calendar.sync.requested  -> sync.py      occurrence added/updated/removed + sync.completed | sync.rejected
    calendar occurrences     -> agenda.py    the agenda projection (a group on the store's `calendar` category)

The lifespan (runtime.py) reads the settings and wires the store once; the sync handler reads
the calendar aggregate (aggregate.py), decides the changes (occurrences.py) and returns them as
one Decision the bus commits atomically. One bad VEVENT never costs the feed: each is checked
on its own, and the ones left out or flagged are listed with their reasons in
`calendar.sync.completed`.
"""

from __future__ import annotations

from aiwf.bus import Subscription
from aiwf.bus.worker import Service
from aiwf.schemas.events.calendar import SyncRequested
from aiwf.workers.calendar.agenda import AGENDA
from aiwf.workers.calendar.runtime import lifespan
from aiwf.workers.calendar.sync import on_sync_requested

__all__ = ["SERVICE", "agenda", "calendar"]

calendar = Subscription(stream="calendar", group="calendar", batch=16, concurrency=4)
calendar.on(SyncRequested, on_sync_requested)
#: The agenda projection: its writes are committed with the marker of each event it applies.
agenda = AGENDA.subscription()

SERVICE = Service(name="calendar", subscriptions=[calendar, agenda], lifespan=lifespan)
