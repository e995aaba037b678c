"""The commit: one server-side step per read batch. The only module that writes for a consumer.

For each finished entry the Lua script below, atomically:
    ok    SET the processed-marker NX; only if it was new, XADD the outputs; XACK
    ack   XACK (no handler for this type, or a marker already showed it done)
    dead  XADD the dead letter; XACK
MULTI/EXEC cannot make the outputs depend on the SET NX result, and one EVALSHA per batch
keeps the happy path at one round trip for the whole batch instead of one per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus import codec, keys
from bus.config import BusConfig
from bus.connection import Redis, retrying
from schemas import Envelope

COMMIT_LUA = """
local group, ttl = ARGV[1], ARGV[2]
local results, i = {}, 3
while i <= #ARGV do
  local kind, entry = ARGV[i], ARGV[i + 1]
  if kind == 'ok' then
    local marker, outputs = KEYS[tonumber(ARGV[i + 2])], tonumber(ARGV[i + 3])
    i = i + 4
    local fresh = redis.call('SET', marker, '1', 'NX', 'EX', ttl)
    for _ = 1, outputs do
      if fresh then
        redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'id', ARGV[i + 1], 'type', ARGV[i + 2], 'body', ARGV[i + 3])
      end
      i = i + 4
    end
    redis.call('XACK', KEYS[1], group, entry)
    results[#results + 1] = fresh and 1 or 0
  elseif kind == 'ack' then
    redis.call('XACK', KEYS[1], group, entry)
    i = i + 2
    results[#results + 1] = 1
  else
    local n = tonumber(ARGV[i + 2])
    redis.call('XADD', KEYS[2], '*', unpack(ARGV, i + 3, i + 2 + 2 * n))
    redis.call('XACK', KEYS[1], group, entry)
    i = i + 3 + 2 * n
    results[#results + 1] = 2
  end
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
    argv: list[str | bytes] = field(default_factory=list)
    size: int = 0
    _key_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key(keys.stream(self.domain))
        self._key(keys.dead_letters(self.domain))
        self.argv += [self.group, str(self.ttl_s)]

    def ok(self, entry_id: str, event_id: str, outputs: list[Envelope]) -> None:
        """Marker, outputs and ack for a handled entry."""
        marker = self._key(keys.processed(self.domain, self.group, event_id))
        self.argv += ["ok", entry_id, str(marker), str(len(outputs))]
        for env in outputs:
            fields = codec.encode(env)
            target = self._key(keys.stream(keys.domain_of(env.type)))
            self.argv += [str(target), fields[codec.FIELD_ID], fields[codec.FIELD_TYPE], fields[codec.FIELD_BODY]]
        self.size += 1

    def ack(self, entry_id: str) -> None:
        """Ack only."""
        self.argv += ["ack", entry_id]
        self.size += 1

    def dead(self, entry_id: str, fields: dict[str, str | bytes]) -> None:
        """Dead letter and ack."""
        self.argv += ["dead", entry_id, str(len(fields))]
        for name, value in fields.items():
            self.argv += [name, value]
        self.size += 1

    def _key(self, key: str) -> int:
        index = self._key_index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._key_index[key] = len(self.keys)  # Lua's KEYS is 1-based
        return index


class Committer:
    """Runs commit batches through the cached script, retrying connection errors within budget."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._script = client.register_script(COMMIT_LUA)
        self._config = config

    async def commit(self, batch: CommitBatch) -> list[int]:
        """Execute the batch; one result per op: COMMITTED, DUPLICATE or DEAD_LETTERED."""
        if batch.size == 0:
            return []
        result = await retrying(lambda: self._script(keys=batch.keys, args=batch.argv), self._config, "commit")
        return [int(r) for r in result]
