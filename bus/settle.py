"""Settle: what each entry's commit result means — done, run again, retry later or dead-letter.

The commit pipeline reports every entry once its micro-batch has run (or failed):

    committed / duplicate / dead-lettered   done: the entry leaves the consumer, room opens
    conflict   the store moved under the decision: the handler runs again on fresh state at
               once, up to MAX_CONFLICTS in a row, then with backoff like a transient failure
    refused    a write can never apply (WRONGTYPE, say): a failure like any other, so retried,
               then dead-lettered at max deliveries
    lost       the commit itself failed (Redis gone): nothing was written; retried after
               backoff, and markers make a commit that did land a no-op. An outage reply (OOM,
               READONLY, ... see bus/replies.py) also pauses the subscription until a probe passes
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiwf.bus.commit import COMMITTED, CONFLICT, DEAD_LETTERED, DUPLICATE, REFUSED
from aiwf.bus.dispatch import Finished
from aiwf.bus.errors import PermanentError
from aiwf.bus.handler import Subscription
from aiwf.bus.metrics import hooks as metrics
from aiwf.bus.outage import OutageDetector
from aiwf.bus.outcome import DeadLetter, Done, Skip, format_traceback
from aiwf.bus.read import Reader
from aiwf.bus.reclaim import Delivery
from aiwf.bus.replies import is_outage_reply, reply_text
from aiwf.bus.stats import Stats

log = logging.getLogger("aiwf.consume")
#: A decision refused this many times in a row (the store kept moving under it) is retried
#: with backoff like a transient failure instead of re-running at once.
MAX_CONFLICTS = 5


class Settler:
    """Applies commit results to one consumer's bookkeeping."""

    def __init__(
        self,
        sub: Subscription,
        stats: Stats,
        reader: Reader,
        outage: OutageDetector,
        owned: set[str],
        active: set[str],
        *,
        rerun: Callable[[Delivery], None],
        recommit: Callable[[Finished], None],
        room: asyncio.Event,
    ) -> None:
        self.sub, self.stats, self.reader, self.outage = sub, stats, reader, outage
        self.owned, self.active = owned, active  # the consumer's entries, the dispatcher's event ids
        self._rerun, self._recommit, self._room = rerun, recommit, room
        self._conflicts: dict[str, int] = {}

    def landed(self, item: Finished, code: int, reason: str) -> None:
        """One entry's commit result (a CommitResult code and, for conflicts, why)."""
        if item.envelope is not None:
            self.active.discard(item.envelope.id)
        if code == CONFLICT:
            self._conflicted(item.delivery, reason)
            return
        if code == REFUSED:
            self._refused(item, reason)
            return
        self.outage.commit_landed()
        d = item.delivery
        self.owned.discard(d.entry_id)
        self._conflicts.pop(d.entry_id, None)
        if code == COMMITTED and isinstance(item.outcome, Done):
            self.stats.processed += 1
        elif code == DUPLICATE:
            self.stats.duplicates += 1
        elif code == DEAD_LETTERED and isinstance(item.outcome, DeadLetter):
            self.stats.dead_lettered += 1
            log.warning("%s: dead-lettered %s: %s", self.sub.group, d.entry_id, item.outcome.error)
        elif isinstance(item.outcome, Skip):
            self.stats.skipped += 1
        self._room.set()

    def lost(self, items: list[Finished], exc: BaseException) -> None:
        """The commit of `items` failed as a whole: retry each after the base backoff."""
        self.stats.last_error = f"commit: {reply_text(exc)}"[:300]
        if is_outage_reply(exc):
            self.outage.commit_refused(f"Redis refused the commit: {reply_text(exc)}"[:300])
        for item in items:
            if item.envelope is not None:
                self.active.discard(item.envelope.id)
            self.retry_later(item.delivery, self.sub.retry.backoff_base_s)

    def retry_later(self, d: Delivery, delay_s: float) -> None:
        """Deliver `d` again after `delay_s`; it stays ours meanwhile."""
        metrics.retried(d)
        self.reader.schedule(d.entry_id, delay_s, d.deliveries)

    def _conflicted(self, d: Delivery, reason: str) -> None:
        self.stats.conflicts += 1
        n = self._conflicts[d.entry_id] = self._conflicts.get(d.entry_id, 0) + 1
        if n >= MAX_CONFLICTS:
            self.stats.last_error = f"decision refused {n} times: {reason}"[:300]
            self.retry_later(d, self.sub.retry.backoff_s(d.deliveries))
            return
        self._rerun(d)

    def _refused(self, item: Finished, reason: str) -> None:
        d = item.delivery
        self.stats.failed += 1
        self.stats.last_error = f"commit refused: {reason}"[:300]
        if d.deliveries < self.sub.retry.max_deliveries:
            self.retry_later(d, self.sub.retry.backoff_s(d.deliveries))
            return
        exc = PermanentError(f"commit refused: {reason}")
        self._recommit(Finished(d, item.envelope, DeadLetter(exc, format_traceback(exc))))
