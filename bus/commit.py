"""The commit: one server-side step per micro-batch. The only module that writes for a consumer.

bus/lua/commit.lua applies, for each finished entry and atomically: the processed-marker, the
output events, the decision's event-store appends and read-model writes, then one XACK for the
batch. No entry is acked without all of its writes, and none of its writes land without its
ack. MULTI/EXEC cannot make the writes depend on the marker or on the store's version, and one
EVALSHA per micro-batch keeps the happy path at one round trip for many events.

On a Redis Cluster one script may touch one slot only: outputs (and the event store's global
log entries) bound for another slot are written into the source stream's outbox instead, in
the same script as marker and ack; bus/relay.py moves them on. Store appends and read-model
writes must be on the source's slot there (`off_slot` names one that is not). On a single
Redis nothing changes: every output goes straight to its stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiwf.bus import codec, keys, markers
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, is_cluster, retrying, slot
from aiwf.bus.decision import Append, Writes
from aiwf.bus.scripts import script
from aiwf.schemas import Envelope

COMMITTED, DUPLICATE, DEAD_LETTERED, CONFLICT, REFUSED = 1, 0, 2, 3, 4


@dataclass
class CommitBatch:
    """Ops for one EVALSHA, with every key declared in KEYS (required on Redis Cluster)."""

    domain: str
    group: str
    ttl_s: int
    #: A shadow release's name: outputs and dead letters go to its shadow keys; appends and writes are dropped.
    shadow: str = ""
    #: Redis Cluster: outputs for another slot go to the outbox.
    cluster: bool = False
    #: Some op wrote into the outbox (the relay has work).
    outboxed: bool = False
    keys: list[str] = field(default_factory=list)
    ops: list[list[Any]] = field(default_factory=list)
    blobs: list[str | bytes] = field(default_factory=list)
    _key_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key(keys.stream(self.domain))
        self._key(keys.shadow_dead_letters(self.shadow, self.domain) if self.shadow else keys.dead_letters(self.domain))
        self._slot = slot(keys.stream(self.domain))

    @property
    def size(self) -> int:
        """Number of ops."""
        return len(self.ops)

    def ok(
        self,
        entry_id: str,
        event_id: str,
        outputs: Sequence[Envelope],
        appends: Sequence[Append] = (),
        writes: Writes | None = None,
    ) -> None:
        """Marker, outputs, appends, writes and ack for a handled entry."""
        mark = markers.marker(self.domain, self.group, event_id)
        field = self._blob(mark.field) if mark.field else 0
        outs = [self._out(self._output(env), env) for env in outputs]
        if self.shadow:  # never the real event store or read models
            appends, writes = (), None
        self.ops.append(
            ["ok", entry_id, self._key(mark.key), field, outs, [self._append(a) for a in appends], self._writes(writes)]
        )

    def _output(self, env: Envelope) -> str:
        domain = keys.domain_of(env.type)
        return keys.shadow_stream(self.shadow, domain) if self.shadow else keys.stream(domain)

    def ack(self, entry_id: str) -> None:
        """Ack only."""
        self.ops.append(["ack", entry_id])

    def dead(self, entry_id: str, fields: dict[str, str | bytes]) -> None:
        """Dead letter and ack."""
        first = len(self.blobs) + 4  # ARGV index (1-based) of the first field name
        for name, value in fields.items():
            self.blobs += [name, value]
        self.ops.append(["dead", entry_id, first, len(fields)])

    def off_slot(self, appends: Sequence[Append] = (), writes: Writes | None = None) -> str | None:
        """Cluster only: a store or read-model key of this op outside the source stream's slot, else None."""
        if not self.cluster:
            return None
        named = [keys.aggregate_events(a.category, a.aggregate_id) for a in appends]
        named += [key for _, key, _ in writes.commands] if writes else []
        return next((k for k in named if slot(k) != self._slot), None)

    def _out(self, stream: str, env: Envelope) -> list[Any]:
        """An output row: its stream, or (Cluster, another slot) the outbox and the stream it is for."""
        body = self._blob(codec.dumps(env))
        if self.cluster and slot(stream) != self._slot:
            self.outboxed = True
            return [self._key(keys.outbox(self.domain)), env.id, env.type, body, self._blob(stream)]
        return [self._key(stream), env.id, env.type, body]

    def _global_log(self) -> list[Any]:
        """KEYS index of where the global log's entry goes, and (Cluster, another slot) the outbox's `to`."""
        if self.cluster and slot(keys.GLOBAL_STREAM) != self._slot:
            self.outboxed = True
            return [self._key(keys.outbox(self.domain)), self._blob(keys.GLOBAL_STREAM)]
        return [self._key(keys.GLOBAL_STREAM), 0]

    def argv(self) -> list[str | bytes]:
        """ARGV: group, marker TTL, the ops as JSON, then bodies and values."""
        return [self.group, str(self.ttl_s), codec.to_json(self.ops), *self.blobs]

    def _append(self, a: Append) -> list[Any]:
        rows = [[env.id, env.type, self._blob(codec.dumps(env))] for env in a.envelopes]
        snap_key = self._key(keys.aggregate_snapshot(a.category, a.aggregate_id)) if a.snapshot else 0
        global_log, to = self._global_log()
        return [
            self._key(keys.aggregate_events(a.category, a.aggregate_id)),
            self._key(keys.aggregate_index(a.category, a.aggregate_id)),
            self._key(keys.stream(keys.STORE_DOMAIN_PREFIX + a.category)),
            global_log,
            a.stream_id,
            a.expected,
            rows,
            snap_key,
            self._blob(a.snapshot) if a.snapshot else 0,
            to,
        ]

    def _writes(self, writes: Writes | None) -> list[list[Any]]:
        if writes is None:
            return []
        out = []
        for command, key, args in writes.commands:
            first = len(self.blobs) + 4
            self.blobs.extend(args)
            out.append([command, self._key(key), first, len(args)])
        return out

    def _blob(self, value: str | bytes) -> int:
        self.blobs.append(value)
        return len(self.blobs) + 3  # after group, ttl and the ops; Lua's ARGV is 1-based

    def _key(self, key: str) -> int:
        index = self._key_index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._key_index[key] = len(self.keys)  # Lua's KEYS is 1-based
        return index


@dataclass(frozen=True)
class CommitResult:
    """One code per op (COMMITTED, DUPLICATE, DEAD_LETTERED or CONFLICT) and, for conflicts, why."""

    codes: list[int]
    reasons: list[str]


class Committer:
    """Runs commit batches through the cached script, retrying connection errors within budget."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._script = script(client, "commit")
        self._config = config
        #: Redis Cluster: batches route cross-slot outputs through the outbox.
        self.cluster = is_cluster(client)

    def batch(self, domain: str, group: str, shadow: str = "") -> CommitBatch:
        """An empty batch for `group` on `domain`'s stream, laid out for this client's Redis (and a shadow release)."""
        return CommitBatch(domain, group, self._config.marker_ttl_s, shadow=shadow, cluster=self.cluster)

    async def commit(self, batch: CommitBatch) -> CommitResult:
        """Execute the batch."""
        if batch.size == 0:
            return CommitResult([], [])
        argv = batch.argv()
        reply = await retrying(lambda: self._script(keys=batch.keys, args=argv), self._config, "commit")
        n = batch.size
        return CommitResult([int(r) for r in reply[:n]], [codec.text(r) for r in reply[n:]])
