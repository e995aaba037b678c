"""Partial output of a streamed completion, published as `llm.chat.streamed` while it arrives.

Fragments are coalesced: one delta at most every `interval_s`, each at most MAX_DELTA_CHARS,
at most `max_deltas` per attempt (past that, the rest waits for `llm.chat.completed`, which
carries the whole text anyway). So a model emitting a token per millisecond costs a few
XADDs a second, whatever its speed.

Deltas are progress, not facts: they are published as they come (the one place a handler
publishes, because they must be seen before the commit), on their own stream
(`aiwf:ev:{llm_deltas}`) so that no consumer group of the llm stream reads them. A gateway
streams them to a client with XREAD from `$`, keeping those of its request id, in `seq`
order per `attempt`; a redelivered request begins a new attempt from seq 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiwf.bus import Publisher
from aiwf.schemas.events.llm import DELTA_STREAM, MAX_DELTA_CHARS, ChatDelta

__all__ = ["DeltaPublisher"]

#: Seconds between two deltas of one request, at least.
DEFAULT_INTERVAL_S = 0.1
#: Deltas of one attempt, at most.
DEFAULT_MAX_DELTAS = 500


@dataclass
class DeltaPublisher:
    """Collects one attempt's fragments and publishes them in bounded deltas; `on_delta` is its callback."""

    publisher: Publisher
    request_id: str
    attempt: int
    correlation_id: str | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    max_deltas: int = DEFAULT_MAX_DELTAS
    seq: int = 0
    _buffer: list[str] = field(default_factory=list)
    _last: float = 0.0

    async def on_delta(self, fragment: str) -> None:
        """Take a fragment; publish what is buffered when the interval has passed."""
        self._buffer.append(fragment)
        if time.monotonic() - self._last >= self.interval_s:
            await self.flush()

    async def flush(self) -> None:
        """Publish what is buffered (call once more when the stream ends)."""
        text = "".join(self._buffer)
        self._buffer.clear()
        self._last = time.monotonic()
        for start in range(0, len(text), MAX_DELTA_CHARS):
            if self.seq >= self.max_deltas:
                return
            delta = ChatDelta(
                request_id=self.request_id,
                attempt=self.attempt,
                seq=self.seq,
                text=text[start : start + MAX_DELTA_CHARS],
            )
            await self.publisher.publish(delta, stream=DELTA_STREAM, correlation_id=self.correlation_id)
            self.seq += 1
