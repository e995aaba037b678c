"""The one-line calls the data path makes into the metrics (consume, pipeline, settle).

Each reads the current consumer's figures from a context variable, so the data path passes
nothing around, and does nothing when the consumer records no metrics. No call here touches Redis.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, TypeVar

from aiwf.bus.commit import COMMITTED, CONFLICT, DEAD_LETTERED, DUPLICATE
from aiwf.bus.metrics.figures import CURRENT, ConsumerMetrics
from aiwf.bus.middleware.metrics import metrics as metrics_middleware
from aiwf.bus.outcome import Done, Skip

if TYPE_CHECKING:
    from aiwf.bus.dispatch import Finished
    from aiwf.bus.handler import Subscription
    from aiwf.bus.middleware import Middleware
    from aiwf.bus.reclaim import Delivery

T = TypeVar("T")
#: The reason of the Skip the dispatcher returns for an event whose processed-marker exists.
ALREADY_PROCESSED = "already processed"
_TYPE_FIELD = b"type"


def for_consumer(service: str, sub: Subscription, middleware: Sequence[Middleware]) -> ConsumerMetrics | None:
    """A consumer's figures, or None when its middleware leaves the metrics middleware out."""
    if metrics_middleware not in middleware:
        return None
    return ConsumerMetrics(service, sub.stream, sub.group, sub.handlers)


def bind(figures: ConsumerMetrics | None) -> None:
    """Make `figures` the current consumer's, for this task and the tasks it starts."""
    CURRENT.set(figures)


def landed(items: Sequence[Finished], codes: Sequence[int]) -> None:
    """Count one commit's results, one counter step per (type, outcome) rather than per entry
    (a refused write is counted when it is retried or dead-lettered)."""
    figures = CURRENT.get()
    if figures is None:
        return
    counts: Counter[tuple[str | bytes | None, str]] = Counter()
    for item, code in zip(items, codes, strict=True):
        outcome = _outcome(item, code)
        if outcome:
            event_type = item.envelope.type if item.envelope is not None else _entry_type(item.delivery)
            counts[event_type, outcome] += 1
    for (event_type, outcome), n in counts.items():
        figures.count(event_type, outcome, n)


def retried(d: Delivery) -> None:
    """Count one entry scheduled for another delivery (a failure, a nack, a lost commit)."""
    figures = CURRENT.get()
    if figures is not None:
        figures.count(_entry_type(d), "retried")


async def timed_commit(commit: Awaitable[T], entries: int) -> T:
    """Await one micro-batch commit, recording its round trip and size when it succeeds."""
    figures = CURRENT.get()
    if figures is None:
        return await commit
    start = time.perf_counter()
    result = await commit
    figures.committed(time.perf_counter() - start, entries)
    return result


def _outcome(item: Finished, code: int) -> str | None:
    if code == COMMITTED and isinstance(item.outcome, Done):
        return "committed"
    if code == DUPLICATE:
        return "duplicate"
    if code == DEAD_LETTERED:
        return "dead_lettered"
    if code == CONFLICT:
        return "conflict"
    if isinstance(item.outcome, Skip):
        return "duplicate" if item.outcome.reason == ALREADY_PROCESSED else "skipped"
    return None


def _entry_type(d: Delivery) -> bytes | None:
    return d.fields.get(_TYPE_FIELD) if d.fields is not None else None
