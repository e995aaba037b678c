"""Projections: read models fed by a category view or the global log, on bus consumer groups.

A projection is an ordinary Subscription (group = projection name) on the store stream
`aiwf:ev:{es-<category>}` or `aiwf:ev:{es-all}`, so it inherits the bus's catch-up (a new group
starts at the first entry), its stored position (the group's last-delivered id and pending
list, kept by Redis), retries, reclaim of a dead consumer's entries, the dead-letter stream and
the commit. Renaming a projection (e.g. `totals_v2`) rebuilds it from the beginning.

Applied once: a handler does not write; it fills `Writes`, which one Lua call applies together
with an applied-marker for the event id (no marker yet -> the writes, then the marker). The bus
acks afterwards. Killed between the two, the event is redelivered, the handler runs again, and
the marker turns its writes into a no-op. Markers live `marker_ttl_s`, like the bus's own.
Redis never rolls back a script that fails half-way, so the script first checks every key's
type and refuses the whole event on a mismatch, and sets the marker last: a write that still
fails leaves no marker, and the event goes to retries and the dead-letter stream, loudly.

Order: run one consumer per projection; with `concurrency=1` it applies events in log order,
except that an event whose handler failed is retried after the ones behind it (and a second
consumer would split the log between them). Prefer read models that do not depend on order
(counts, sets, upserts keyed by id); `envelope.occurred_at` and the UUIDv7 `envelope.id` sort
in time where a handler must pick the latest. Markers cost one key per event for
`marker_ttl_s`, as the bus's processed-markers do. Every read-model key comes from `key()`: it
shares the stream's hash tag, so the apply script touches one Cluster slot.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from redis.commands.core import AsyncScript

from aiwf.bus.connection import retrying
from aiwf.bus.errors import ConfigError
from aiwf.bus.handler import Context, Subscription
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.store import keys
from aiwf.bus.store.errors import StoreError
from aiwf.schemas import Envelope, Event

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: Commands per event: bounded so one apply stays a short script.
MAX_WRITES: Final = 1000

Apply = Callable[[Any, Envelope, "Writes"], Awaitable[None]]
"""`async def on_x(event: SomeEvent, envelope: Envelope, writes: Writes) -> None`."""
Value = str | bytes | int | float

APPLY_LUA: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local kinds = {HSET = 'hash', HDEL = 'hash', HINCRBY = 'hash', SADD = 'set', SREM = 'set',
               ZADD = 'zset', ZREM = 'zset', INCRBY = 'string'}
local i = 2
while i <= #ARGV do
  local want, key = kinds[ARGV[i]], KEYS[tonumber(ARGV[i + 1])]
  if want then
    local have = redis.call('TYPE', key)['ok']
    if have ~= 'none' and have ~= want then
      local why = ' holds a ' .. have .. '; ' .. ARGV[i] .. ' needs a ' .. want
      return redis.error_reply('WRONGTYPE projection key ' .. key .. why)
    end
  end
  i = i + 3 + tonumber(ARGV[i + 2])
end
i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + n))
  i = i + 3 + n
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
"""


class Writes:
    """The read-model writes of one event; applied atomically with its applied-marker."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.keys: list[str] = []
        self.argv: list[str | bytes] = []
        self.count = 0

    def set(self, key: str, value: Value) -> None:
        """SET key value."""
        self._add("SET", key, value)

    def delete(self, key: str) -> None:
        """DEL key."""
        self._add("DEL", key)

    def incrby(self, key: str, amount: int) -> None:
        """INCRBY key amount."""
        self._add("INCRBY", key, amount)

    def hset(self, key: str, field: str, value: Value) -> None:
        """HSET key field value."""
        self._add("HSET", key, field, value)

    def hdel(self, key: str, field: str) -> None:
        """HDEL key field."""
        self._add("HDEL", key, field)

    def hincrby(self, key: str, field: str, amount: int) -> None:
        """HINCRBY key field amount."""
        self._add("HINCRBY", key, field, amount)

    def sadd(self, key: str, member: Value) -> None:
        """SADD key member."""
        self._add("SADD", key, member)

    def srem(self, key: str, member: Value) -> None:
        """SREM key member."""
        self._add("SREM", key, member)

    def zadd(self, key: str, member: Value, score: float) -> None:
        """ZADD key score member."""
        self._add("ZADD", key, score, member)

    def zrem(self, key: str, member: Value) -> None:
        """ZREM key member."""
        self._add("ZREM", key, member)

    def _add(self, command: str, key: str, *args: Value) -> None:
        if not key.startswith(self._prefix):
            raise StoreError(f"projection key {key[:80]!r} is not under {self._prefix!r}; build keys with key()")
        if self.count >= MAX_WRITES:
            raise StoreError(f"one event may make at most {MAX_WRITES} projection writes")
        self.keys.append(key)
        self.argv += [command, str(len(self.keys) + 1), str(len(args))]  # KEYS[1] is the marker
        self.argv += [a if isinstance(a, bytes) else str(a) for a in args]
        self.count += 1


class Projection:
    """A named read model over one category (or `keys.ALL`, the global log), with handlers by event type."""

    def __init__(
        self, name: str, source: str = keys.ALL, *, retry: RetryPolicy | None = None, batch: int = 100
    ) -> None:
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"projection name {name[:80]!r} must match [a-z][a-z0-9_-]{{0,63}}")
        self.name = name
        self.source = source if source == keys.ALL else keys.check_category(source)
        self.domain = keys.domain(self.source)
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.handlers: dict[type[Event], Apply] = {}
        self._prefix = f"aiwf:proj:{{{self.domain}}}:{name}:"
        self._script: AsyncScript | None = None

    def key(self, *parts: str) -> str:
        """A read-model key of this projection, e.g. key('by-owner', owner_id)."""
        return self._prefix + ":".join(parts)

    def marker(self, event_id: str) -> str:
        """The key recording that this projection applied `event_id`."""
        return f"aiwf:projdone:{{{self.domain}}}:{self.name}:{event_id}"

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

        Needs no client: each apply runs on the client and config of the Consumer delivering the
        event (`Context.client` / `Context.config`), so a Service can declare it at import time.
        """
        sub = Subscription(stream=self.domain, group=self.name, retry=self.retry, batch=self.batch, concurrency=1)
        for model, fn in self.handlers.items():
            sub.on(model, self._applying(fn))
        return sub

    def _applying(self, fn: Apply) -> Callable[[Event, Context], Awaitable[Sequence[Event]]]:
        async def run(event: Event, ctx: Context) -> Sequence[Event]:
            client, config = ctx.client, ctx.config
            if client is None or config is None:
                raise StoreError(f"projection {self.name} runs on a bus Consumer: its Context carries no client")
            writes = Writes(self._prefix)
            await fn(event, ctx.envelope, writes)
            if writes.count:
                keys_ = [self.marker(ctx.envelope.id), *writes.keys]
                args = [str(config.marker_ttl_s), *writes.argv]
                script = self._script or client.register_script(APPLY_LUA)
                self._script = script  # the SHA is the same on every client; each call names its client
                await retrying(
                    lambda: script(keys=keys_, args=args, client=client), config, f"projection {self.name}"
                )
            return []

        return run
