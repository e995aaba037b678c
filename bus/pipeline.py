"""The commit pipeline: finished entries are committed in micro-batches while slow work goes on.

A micro-batch is whatever finished while the previous commit was in flight (group commit), cut
at the subscription's `batch`: one round trip for many events under load, and no waiting when
idle. Commits run one at a time, in the order their entries finished. A failed commit (Redis
gone, an error reply) hands its entries back for retry: nothing is acked that was not written,
and markers make the redelivery of anything that did land a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiwf.bus import deadletter, keys
from aiwf.bus.commit import CommitBatch, CommitResult, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.dispatch import Finished
from aiwf.bus.errors import PermanentError
from aiwf.bus.handler import Subscription
from aiwf.bus.metrics import hooks as metrics
from aiwf.bus.outcome import DeadLetter, Done, Skip, format_traceback

log = logging.getLogger("aiwf.commit")
Landed = Callable[[Finished, int, str], None]
"""Called per entry after its commit: (entry, result code, conflict reason)."""
Lost = Callable[[list[Finished], BaseException], None]
"""Called with the entries of a commit that failed."""


class CommitPipeline:
    """Collects finished entries and commits them, one micro-batch per round trip."""

    def __init__(
        self,
        committer: Committer,
        sub: Subscription,
        config: BusConfig,
        consumer: str,
        landed: Landed,
        lost: Lost,
        outboxed: Callable[[], None] | None = None,
    ) -> None:
        self.committer, self.sub, self.config, self.consumer = committer, sub, config, consumer
        self._landed, self._lost = landed, lost
        self._outboxed = outboxed  # Redis Cluster: wakes the relay after a commit that used the outbox
        self._buffer: list[Finished] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, item: Finished) -> None:
        """Queue one finished entry for the next commit."""
        self._buffer.append(item)
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Return once everything added so far is committed (or handed back)."""
        await self._idle.wait()

    async def run(self) -> None:
        """Commit until cancelled; never ends on a failed commit."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let the slots finishing in this same turn join the batch
            while self._buffer:
                items, self._buffer = self._buffer[: self.sub.batch], self._buffer[self.sub.batch :]
                await self._commit(items)
            self._idle.set()

    async def _commit(self, items: list[Finished]) -> None:
        batch = self._batch(items)
        try:
            result = await metrics.timed_commit(self.committer.commit(batch), len(items))
        except Exception as exc:  # noqa: BLE001 - Redis failing must not end the pipeline; the entries retry
            log.warning("%s: commit of %d entries failed, retrying them: %s", self.sub.group, len(items), exc)
            self._lost(items, exc)
            return
        if batch.outboxed and self._outboxed is not None:
            self._outboxed()
        self._report(items, result)

    def _report(self, items: list[Finished], result: CommitResult) -> None:
        metrics.landed(items, result.codes)
        for item, code, reason in zip(items, result.codes, result.reasons, strict=True):
            self._landed(item, code, reason)

    def _batch(self, items: list[Finished]) -> CommitBatch:
        shadow = self.config.release.name if self.config.release.shadow else ""
        ops = self.committer.batch(self.sub.stream, self.sub.group, shadow)
        for n, item in enumerate(items):
            d, outcome = item.delivery, item.outcome
            misplaced = ops.off_slot(outcome.appends, outcome.writes) if isinstance(outcome, Done) else None
            if misplaced is not None:  # reported as the dead letter it becomes
                outcome = _off_slot(misplaced, self.sub.stream)
                items[n] = Finished(d, item.envelope, outcome)
            if isinstance(outcome, Done) and item.envelope is not None:
                ops.ok(d.entry_id, item.envelope.id, outcome.outputs, outcome.appends, outcome.writes)
            elif isinstance(outcome, Skip):
                ops.ack(d.entry_id)
            elif isinstance(outcome, DeadLetter):
                fields = deadletter.entry(
                    outcome,
                    source=keys.stream(self.sub.stream),
                    source_id=d.entry_id,
                    group=self.sub.group,
                    consumer=self.consumer,
                    deliveries=d.deliveries,
                    original=d.fields or {},
                )
                ops.dead(d.entry_id, fields)
        return ops


def _off_slot(key: str, domain: str) -> DeadLetter:
    """A decision a Cluster can never commit atomically: its letter says which key and why."""
    exc = PermanentError(
        f"Redis Cluster: {key} is not on the slot of {keys.stream(domain)}; a decision's store appends and "
        "read-model writes must share its source stream's {tag}"
    )
    return DeadLetter(exc, format_traceback(exc))
