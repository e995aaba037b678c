"""The commit: one server-side step per read batch. The only module that writes for a consumer.

For each finished entry the Lua script below, atomically:
    ok    SET the processed-marker NX; only if it was new, XADD the outputs
    ack   nothing more (no handler for this type, or a marker already showed it done)
    dead  XADD the dead letter
and then one XACK of every entry of the batch. The script runs as one atomic step, so no
entry is acked without its marker and outputs, or has outputs without its ack. MULTI/EXEC
cannot make the outputs depend on the SET NX result, and one EVALSHA per batch keeps the
happy path at one round trip for the whole batch instead of one per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, retrying
from aiwf.schemas import Envelope

# Op metadata travels as one JSON argument and each event body as its own argument: redis-py
# packs every argument in Python, and eight small ones per event cost more than the script.
COMMIT_LUA = """
local group, ttl = ARGV[1], ARGV[2]
local ops = cjson.decode(ARGV[3])
local results, acks = {}, {}
for n, op in ipairs(ops) do
  local kind, entry = op[1], op[2]
  if kind == 'ok' then
    local fresh = redis.call('SET', KEYS[op[3]], '1', 'NX', 'EX', ttl)
    if fresh then
      for _, out in ipairs(op[4]) do
        redis.call('XADD', KEYS[out[1]], '*', 'id', out[2], 'type', out[3], 'body', ARGV[out[4]])
      end
    end
    results[n] = fresh and 1 or 0
  elseif kind == 'ack' then
    results[n] = 1
  else
    redis.call('XADD', KEYS[2], '*', unpack(ARGV, op[3], op[3] + 2 * op[4] - 1))
    results[n] = 2
  end
  acks[n] = entry
end
-- One XACK for the batch (in slices: unpack has a stack limit); the script is atomic either way.
for i = 1, #acks, 1000 do
  redis.call('XACK', KEYS[1], group, unpack(acks, i, math.min(i + 999, #acks)))
end
return results
"""

COMMITTED, DUPLICATE, DEAD_LETTERED = 1, 0, 2


@dataclass
class CommitBatch:
    """Ops for one EVALSHA, with every key declared in KEYS (required on Redis Cluster)."""

    domain: str
    group: str
    ttl_s: int
    keys: list[str] = field(default_factory=list)
    ops: list[list[Any]] = field(default_factory=list)
    blobs: list[str | bytes] = field(default_factory=list)
    _key_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key(keys.stream(self.domain))
        self._key(keys.dead_letters(self.domain))

    @property
    def size(self) -> int:
        """Number of ops."""
        return len(self.ops)

    def ok(self, entry_id: str, event_id: str, outputs: list[Envelope]) -> None:
        """Marker, outputs and ack for a handled entry."""
        marker = self._key(keys.processed(self.domain, self.group, event_id))
        outs = []
        for env in outputs:
            target = self._key(keys.stream(keys.domain_of(env.type)))
            outs.append([target, env.id, env.type, self._blob(codec.dumps(env))])
        self.ops.append(["ok", entry_id, marker, outs])

    def ack(self, entry_id: str) -> None:
        """Ack only."""
        self.ops.append(["ack", entry_id])

    def dead(self, entry_id: str, fields: dict[str, str | bytes]) -> None:
        """Dead letter and ack."""
        first = len(self.blobs) + 4  # ARGV index (1-based) of the first field name
        for name, value in fields.items():
            self.blobs += [name, value]
        self.ops.append(["dead", entry_id, first, len(fields)])

    def argv(self) -> list[str | bytes]:
        """ARGV: group, marker TTL, the ops as JSON, then bodies and dead-letter fields."""
        return [self.group, str(self.ttl_s), codec.to_json(self.ops), *self.blobs]

    def _blob(self, value: str | bytes) -> int:
        self.blobs.append(value)
        return len(self.blobs) + 3  # after group, ttl and the ops; Lua's ARGV is 1-based

    def _key(self, key: str) -> int:
        index = self._key_index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._key_index[key] = len(self.keys)  # Lua's KEYS is 1-based
        return index


class Committer:
    """Runs commit batches through the cached script, retrying connection errors within budget."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._client = client
        self._script = client.register_script(COMMIT_LUA)
        self._config = config

    async def commit(self, batch: CommitBatch) -> list[int]:
        """Execute the batch; one result per op: COMMITTED, DUPLICATE or DEAD_LETTERED."""
        if batch.size == 0:
            return []
        argv = batch.argv()
        result = await retrying(lambda: self._script(keys=batch.keys, args=argv), self._config, "commit")
        return [int(r) for r in result]
