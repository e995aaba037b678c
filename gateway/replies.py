"""One reply reader per gateway process: XREAD BLOCK on the reply streams, resolving this process's waiters.

A request registers a future under its event id before it is published; the reader follows
the reply streams from where they stood when it started ("$" made concrete, so no reply can
slip between starting and the first read) and hands each reply whose causation id is awaited
here to its future. A reply for a request of another replica is simply not awaited here.
Memory is the futures of the requests in flight: `waiting()` always removes its own.
On a Redis Cluster one XREAD may name streams of one slot only: there is one reader per slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import cast

from redis.exceptions import RedisError

from aiwf.bus import codec
from aiwf.bus.backoff import Backoff
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect, is_cluster, slot
from aiwf.schemas import Envelope, SchemaError

__all__ = ["Replies"]

log = logging.getLogger("aiwf.gateway")
#: How long one XREAD blocks: short enough for a prompt stop, long enough to cost nothing idle.
BLOCK_MS = 500
#: Entries read per XREAD.
READ_COUNT = 500
#: Events one SSE watcher may have unread before further ones are dropped for it.
WATCH_QUEUE = 1000
Reply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


class Replies:
    """Follows `streams` for events of `types` and resolves the futures awaiting them by causation id."""

    def __init__(self, url: str, config: BusConfig, streams: Iterable[str], types: Iterable[str]) -> None:
        # Its own connection: a blocked XREAD holds it, and its socket timeout must outlast the block.
        blocking = config.model_copy(update={"socket_timeout_s": config.socket_timeout_s + BLOCK_MS / 1000})
        self._client: Redis = connect(url, blocking)
        self._config = config
        self._streams = list(dict.fromkeys(streams))
        self._types = frozenset(t.encode() for t in types)
        self._waiting: dict[str, asyncio.Future[Envelope]] = {}
        self._watching: dict[str, set[asyncio.Queue[Envelope]]] = {}
        self._last: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Follow the reply streams in the background, from their current ends."""
        with contextlib.suppress(RedisError, OSError):
            await self._find_ends()  # else the loop does it once Redis answers
        by_slot: dict[int, list[str]] = {}
        for stream in self._streams:
            by_slot.setdefault(slot(stream) if is_cluster(self._client) else 0, []).append(stream)
        self._tasks = [asyncio.create_task(self._follow(s), name="gateway replies") for s in by_slot.values()]

    async def _find_ends(self) -> None:
        """Each stream's current end ("$" made concrete: nothing can slip between two reads)."""
        ends = {}
        for stream in self._streams:
            newest = cast("list[tuple[bytes, object]]", await self._client.xrevrange(stream, count=1))
            ends[stream] = newest[0][0].decode() if newest else "0-0"
        for stream, end in ends.items():  # a per-slot reader that got there first keeps its place
            self._last.setdefault(stream, end)

    async def stop(self) -> None:
        """Stop following; waiters still pending are cancelled."""
        # A flag as well as the cancel: redis-py can swallow a cancel that lands inside a blocked XREAD.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in self._waiting.values():
            future.cancel()
        await self._client.aclose()

    @property
    def streams(self) -> list[str]:
        """The streams followed, in a fixed order."""
        return list(self._streams)

    @property
    def in_flight(self) -> int:
        """Requests of this process waiting for a reply."""
        return len(self._waiting)

    def position(self, stream: str) -> str:
        """The last entry id read on `stream`: any reply to a request made from now on comes after it."""
        return self._last.get(stream, "0-0")  # not started yet: look from the stream's start

    @contextlib.contextmanager
    def waiting(self, request_id: str) -> Iterator[asyncio.Future[Envelope]]:
        """A future for the reply caused by `request_id`, registered for the block's duration only."""
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            yield future
        finally:
            self._waiting.pop(request_id, None)

    @contextlib.contextmanager
    def watching(self, correlation_id: str) -> Iterator[asyncio.Queue[Envelope]]:
        """A queue receiving every event of `correlation_id` read from now on, for the block's duration only."""
        queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=WATCH_QUEUE)
        self._watching.setdefault(correlation_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._watching.get(correlation_id, set())
            queues.discard(queue)
            if not queues:
                self._watching.pop(correlation_id, None)

    async def _follow(self, streams: list[str]) -> None:
        backoff = Backoff(0.05, 2.0)
        failures = 0
        task = asyncio.current_task()
        # Also checked by hand: redis-py can swallow a cancel that lands in a blocked XREAD (3.11).
        while not self._stopping and (task is None or task.cancelling() == 0):
            try:
                if not self._last:
                    await self._find_ends()
                batch = cast(
                    "Reply",
                    await self._client.xread(
                        {s: self._last[s] for s in streams},
                        count=READ_COUNT,
                        block=BLOCK_MS,
                    ),
                )
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("reading replies failed (%s); retrying", exc)
                await asyncio.sleep(backoff.delay(failures))
                continue
            failures = 0
            for stream, entries in batch or []:
                self._last[stream.decode()] = entries[-1][0].decode()
                if self._waiting or self._watching:
                    self._resolve(fields for _, fields in entries)

    def _resolve(self, entries: Iterable[dict[bytes, bytes]]) -> None:
        for fields in entries:
            if not self._watching and fields.get(codec.FIELD_TYPE.encode()) not in self._types:
                continue
            try:
                env = codec.decode(fields, self._config.max_event_bytes)
            except SchemaError:
                continue  # not a reply anyone here can use; the services dead-letter it
            for queue in self._watching.get(env.correlation_id or "", ()):
                with contextlib.suppress(asyncio.QueueFull):  # a stalled watcher loses events, not memory
                    queue.put_nowait(env)
            future = self._waiting.get(env.causation_id or "") if env.type.encode() in self._types else None
            if future is not None and not future.done():
                future.set_result(env)
