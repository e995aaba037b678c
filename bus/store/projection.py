"""Projections: read models fed by a category view or the global log, on bus consumer groups.

A projection is an ordinary Subscription (group = projection name) on the store stream
`aiwf:ev:{es-<category>}` or `aiwf:ev:{es-all}`, so it inherits the bus's catch-up (a new group
starts at the first entry), its stored position (the group's last-delivered id and pending
list, kept by Redis), retries, reclaim of a dead consumer's entries, the dead-letter stream and
the commit. Renaming a projection (e.g. `totals_v2`) rebuilds it from the beginning.

Applied once: a handler does not write; it fills `Writes`, which it returns as a Decision, and
the consumer's one commit (bus/lua/commit.lua) applies them with the processed-marker and the
ack. Killed before the commit, the event is redelivered and nothing was written; after it, the
marker makes the redelivery a no-op. Redis never rolls back a script that fails half-way, so
the commit first checks every key's type and refuses the event on a mismatch (retried, then
dead-lettered, loudly) before it writes anything.

Order: run one consumer per projection; with `concurrency=1` it applies events in log order,
except that an event whose handler failed is retried after the ones behind it (and a second
consumer would split the log between them). Prefer read models that do not depend on order
(counts, sets, upserts keyed by id); `envelope.occurred_at` and the UUIDv7 `envelope.id` sort
in time where a handler must pick the latest. Every read-model key comes from `key()`: it
shares the stream's hash tag, so the commit touches one Cluster slot.
"""

from __future__ import annotations

import asyncio
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ResponseError

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.decision import Decision, Writes
from aiwf.bus.errors import ConfigError
from aiwf.bus.handler import Context, Subscription
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.store.stream_id import ALL, check_category
from aiwf.schemas import Envelope, Event

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

Apply = Callable[[Any, Envelope, "Writes"], Awaitable[None]]
"""`async def on_x(event: SomeEvent, envelope: Envelope, writes: Writes) -> None`."""


class Projection:
    """A named read model over one category (or `ALL`, the global log), with handlers by event type."""

    def __init__(self, name: str, source: str = ALL, *, retry: RetryPolicy | None = None, batch: int = 100) -> None:
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"projection name {name[:80]!r} must match [a-z][a-z0-9_-]{{0,63}}")
        self.name = name
        self.source = source if source == ALL else check_category(source)
        self.domain = keys.store_domain(self.source)
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.handlers: dict[type[Event], Apply] = {}
        self._prefix = keys.projection_prefix(self.domain, name)

    def key(self, *parts: str) -> str:
        """A read-model key of this projection, e.g. key('by-owner', owner_id)."""
        return keys.projection_key(self.domain, self.name, *parts)

    def handler(self, fn: Apply) -> Apply:
        """Decorator: register `fn` for the Event model its first parameter is annotated with."""
        hints = typing.get_type_hints(fn)
        params = fn.__code__.co_varnames[: fn.__code__.co_argcount]
        model = hints.get(params[0]) if params else None
        if not (isinstance(model, type) and issubclass(model, Event) and hasattr(model, "event_type")):
            raise ConfigError(f"{fn.__qualname__}: annotate the first parameter with a registered Event model")
        self.on(model, fn)
        return fn

    def on(self, model: type[Event], fn: Apply) -> None:
        """Register `fn` for `model`'s event type."""
        if model in self.handlers:
            raise ConfigError(f"projection {self.name}: two handlers for {model.event_type}")
        self.handlers[model] = fn

    def subscription(self) -> Subscription:
        """The bus subscription that runs this projection: give it to a Consumer or a Worker's Service.

        Needs no client: each apply returns its writes, which the consumer delivering the event
        commits with its processed-marker and ack, so a Service can declare it at import time.
        """
        sub = Subscription(stream=self.domain, group=self.name, retry=self.retry, batch=self.batch, concurrency=1)
        for model, fn in self.handlers.items():
            sub.on(model, self._applying(fn))
        return sub

    async def settled(self, client: Redis, *, timeout_s: float, poll_s: float = 0.02) -> bool:
        """Wait until this projection has applied every event its source held at the call: read
        your own writes after a commit that appended to it. False when `timeout_s` passes first."""
        stream = keys.stream(self.domain)
        try:
            head = _entry_id((await client.xinfo_stream(stream))["last-generated-id"])
        except ResponseError:  # no such stream: nothing to apply
            return True
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await self._applied(client, stream, head):
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(poll_s)
        return True

    async def _applied(self, client: Redis, stream: str, head: tuple[int, int]) -> bool:
        """Delivered past `head` and nothing at or before it still pending."""
        groups = await client.xinfo_groups(stream)
        mine = next((g for g in groups if _text(g["name"]) == self.name), None)
        if mine is None or _entry_id(mine["last-delivered-id"]) < head:
            return False
        pending = await client.xpending_range(stream, self.name, "-", f"{head[0]}-{head[1]}", 1)
        return not pending

    def _applying(self, fn: Apply) -> Callable[[Event, Context], Awaitable[Decision]]:
        async def run(event: Event, ctx: Context) -> Decision:
            writes = Writes(self._prefix)
            await fn(event, ctx.envelope, writes)
            return Decision(writes=writes)  # committed with the consumer's marker and ack

        return run


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_id(value: bytes | str) -> tuple[int, int]:
    ms, _, seq = _text(value).partition("-")
    return int(ms), int(seq or 0)
