"""Run records of the summary workflow, so that every run ends in `completed` or `failed`.

A run is one document's way through llm and tts. The pipeline's handlers record which step
it waits for and until when; a step's outcome moves it on or ends it. Nothing else would
notice a step that never answers (a service down for good, an event lost to a purge), so
the pipeline worker itself sweeps its records every `check_every_s`: a run waiting past its
deadline is claimed and failed with the step that was late. One sweep over a sorted set of
deadlines serves every run, where a timer per run would be lost with the process that held
it; and the sweep is safe with many pipeline workers, because claiming is one atomic step.

Keys (hash-tagged `{pipeline}`, so every script stays on one cluster slot):

    aiwf:{pipeline}:deadlines        sorted set: document id -> deadline (epoch seconds)
    aiwf:{pipeline}:run:<document>   hash: step, state (running|failing|failed|completed), correlation id

A claim moves the deadline on by `lease_s` and marks the run `failing`: if the sweeper dies
before its failure is published, the next sweep claims it again. A step outcome that
arrives after its run was failed is dropped: a run ends once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, cast

from redis.commands.core import AsyncScript

from aiwf.bus.connection import Redis
from aiwf.workers.pipeline.settings import PipelineSettings

__all__ = ["RunRecords", "RunSettings"]

_DEADLINES: Final = "aiwf:{pipeline}:deadlines"
_RUN: Final = "aiwf:{pipeline}:run:"
#: An ended run's record is kept this long, so a late outcome still finds that it ended.
_ENDED_TTL_S: Final = 7 * 86_400

# KEYS: run, deadlines. ARGV: document id, step, deadline, correlation id, ttl.
_ADVANCE: Final = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'failing' or state == 'failed' or state == 'completed' then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[2], 'state', 'running', 'correlation_id', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""
# KEYS: run, deadlines. ARGV: document id, final state, ttl. 0: the run already ended the other way.
_END: Final = """
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[2] == 'completed' and (state == 'failing' or state == 'failed') then return 0 end
if ARGV[2] == 'failed' and state == 'completed' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""
# KEYS: deadlines. ARGV: now, lease, limit, run key prefix. Returns [id, step, correlation id, ...].
_CLAIM: Final = """
local late = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(late) do
  local run = ARGV[4] .. id
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], id)
  redis.call('HSET', run, 'state', 'failing')
  local fields = redis.call('HMGET', run, 'step', 'correlation_id')
  table.insert(out, id)
  table.insert(out, fields[1] or 'unknown')
  table.insert(out, fields[2] or '')
end
return out
"""


@dataclass(frozen=True)
class RunSettings:
    """How long a step may take, and how often the worker looks for late runs (AIWF_PIPELINE_*)."""

    step_timeout_s: float = 600.0
    check_every_s: float = 5.0
    lease_s: float = 60.0

    @classmethod
    def from_env(cls) -> RunSettings:
        """AIWF_PIPELINE_STEP_TIMEOUT and AIWF_PIPELINE_CHECK_EVERY (workers/pipeline/settings.py)."""
        read = PipelineSettings.from_env()
        return cls(step_timeout_s=read.step_timeout_s, check_every_s=read.check_every_s)


@dataclass(frozen=True)
class LateRun:
    """A run claimed for failing: which document, the step it waited for, its correlation id."""

    document_id: str
    step: str
    correlation_id: str


class RunRecords:
    """The pipeline's run records on one Redis client."""

    def __init__(self, client: Redis, settings: RunSettings) -> None:
        """Register the scripts; nothing touches Redis until a method is awaited."""
        self.settings = settings
        self._advance: AsyncScript = client.register_script(_ADVANCE)
        self._end: AsyncScript = client.register_script(_END)
        self._claim: AsyncScript = client.register_script(_CLAIM)

    async def wait_for(self, document_id: str, step: str, correlation_id: str) -> bool:
        """The run now waits for `step`, until the step timeout; False when the run has already ended."""
        deadline = time.time() + self.settings.step_timeout_s
        args: list[str | float] = [document_id, step, deadline, correlation_id, _ENDED_TTL_S]
        return bool(await self._advance(keys=[_RUN + document_id, _DEADLINES], args=args))

    async def end(self, document_id: str, state: str) -> bool:
        """End the run as `completed` or `failed`; False when it already ended the other way."""
        args: list[str | float] = [document_id, state, _ENDED_TTL_S]
        return bool(await self._end(keys=[_RUN + document_id, _DEADLINES], args=args))

    async def claim_late(self, now: float | None = None, limit: int = 100) -> list[LateRun]:
        """Runs past their deadline, claimed for `lease_s` so no other sweep fails them meanwhile."""
        args: list[str | float] = [time.time() if now is None else now, self.settings.lease_s, limit, _RUN]
        flat = cast("list[bytes]", await self._claim(keys=[_DEADLINES], args=args))
        text = [v.decode() for v in flat]
        return [LateRun(*text[i : i + 3]) for i in range(0, len(text), 3)]
