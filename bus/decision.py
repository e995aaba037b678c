"""What a handler decides: output events, event-store appends, read-model writes — all committed
by the bus in one atomic step with the processed-marker and the ack (bus/commit.py).

A handler returns a plain list of events, or a `Decision` when it also changes stored state:

    user.register(...)                                   # records events on the aggregate
    return Decision(events=[UserRegistered(...)], appends=users.stage(user, cause=ctx.envelope))

If an append's expected version no longer holds when the commit runs (another writer came
first), nothing of the decision is written and the handler runs again on fresh state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiwf.bus.errors import ConfigError, PermanentError
from aiwf.schemas import Envelope, Event

Value = str | bytes | int | float
#: Writes one decision may make to read models: bounded so one commit stays a short script.
MAX_WRITES = 1000
_WRITE_COMMANDS = frozenset({"SET", "DEL", "INCRBY", "HSET", "HDEL", "HINCRBY", "SADD", "SREM", "ZADD", "ZREM"})


class WriteRefused(PermanentError):
    """Raised when a handler queues a read-model write the bus cannot make (another's key, a command
    not allowed, too many writes): the event is dead-lettered, nothing of its decision is written."""


@dataclass(frozen=True)
class Append:
    """Events for one aggregate's stream, stored only if it is still at `expected` (-1: any)."""

    stream_id: str
    category: str
    aggregate_id: str
    envelopes: Sequence[Envelope]
    expected: int
    #: The aggregate's snapshot after this append (a cache), written with it.
    snapshot: bytes | None = None


@dataclass
class Writes:
    """Read-model writes under one key prefix (a projection's), applied with the commit."""

    prefix: str
    commands: list[tuple[str, str, tuple[str | bytes, ...]]] = field(default_factory=list)

    def add(self, command: str, key: str, *args: Value) -> None:
        """Queue `command key args...` (SET, DEL, INCRBY, HSET, HDEL, HINCRBY, SADD, SREM, ZADD, ZREM)."""
        if command not in _WRITE_COMMANDS:
            raise WriteRefused(f"read-model writes cannot use {command!r}; allowed: {sorted(_WRITE_COMMANDS)}")
        if not key.startswith(self.prefix):
            raise WriteRefused(f"read-model key {key[:80]!r} is not under {self.prefix!r}; build keys with key()")
        if len(self.commands) >= MAX_WRITES:
            raise WriteRefused(f"one decision may make at most {MAX_WRITES} read-model writes")
        self.commands.append((command, key, tuple(a if isinstance(a, bytes) else str(a) for a in args)))

    def set(self, key: str, value: Value) -> None:
        """SET key value."""
        self.add("SET", key, value)

    def delete(self, key: str) -> None:
        """DEL key."""
        self.add("DEL", key)

    def incrby(self, key: str, amount: int) -> None:
        """INCRBY key amount."""
        self.add("INCRBY", key, amount)

    def hset(self, key: str, name: str, value: Value) -> None:
        """HSET key field value."""
        self.add("HSET", key, name, value)

    def hdel(self, key: str, name: str) -> None:
        """HDEL key field."""
        self.add("HDEL", key, name)

    def hincrby(self, key: str, name: str, amount: int) -> None:
        """HINCRBY key field amount."""
        self.add("HINCRBY", key, name, amount)

    def sadd(self, key: str, member: Value) -> None:
        """SADD key member."""
        self.add("SADD", key, member)

    def srem(self, key: str, member: Value) -> None:
        """SREM key member."""
        self.add("SREM", key, member)

    def zadd(self, key: str, member: Value, score: float) -> None:
        """ZADD key score member."""
        self.add("ZADD", key, score, member)

    def zrem(self, key: str, member: Value) -> None:
        """ZREM key member."""
        self.add("ZREM", key, member)

    @property
    def count(self) -> int:
        """Number of queued writes."""
        return len(self.commands)


@dataclass(frozen=True)
class Decision:
    """Everything one handler run wants written; empty means "done, nothing to write"."""

    events: Sequence[Event] = ()
    appends: Sequence[Append] = ()
    writes: Writes | None = None


@dataclass(frozen=True)
class Nack:
    """Deliver this event again after `after_s` seconds (0: as soon as possible); nothing is written.

    Counts as a delivery (so `max_deliveries` still ends an endless nack loop), not as a failure.
    """

    after_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.after_s <= 24 * 3600:
            raise ConfigError(f"Nack.after_s must be 0..86400 seconds, got {self.after_s}")


Result = Sequence[Event] | Decision | Nack
"""What a handler returns: its output events, a whole Decision, or a Nack."""
