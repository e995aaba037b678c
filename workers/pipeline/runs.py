"""Run records of the summary workflow, so that every run ends in `completed` or `failed`.

A run is one document's way through llm and tts. The pipeline's handlers read the run's
record and return what it becomes as Decision writes (`Writes`): which step it waits for and
until when, or how it ended. The bus commits those writes with the handler's output events,
its processed-marker and the ack, so a record and the request it announces land together.

Nothing else would notice a step that never answers (a service down for good, an event lost
to a purge), so the pipeline worker itself sweeps the deadlines every `check_every_s`: a run
waiting past its deadline is claimed and failed with the step that was late. One sweep over
a sorted set of deadlines serves every run, where a timer per run would be lost with the
process that held it; claiming is one atomic script, so many pipeline workers may sweep.

Keys (under one `{pipeline}` hash tag):

    aiwf:{pipeline}:deadlines        sorted set: document id -> deadline (epoch seconds)
    aiwf:{pipeline}:run:<document>   JSON: step, state (running|failing|failed|completed), correlation id

A claim moves the deadline on by `lease_s` and marks the run `failing`: if the sweeper dies
before its failure is published, the next sweep claims it again. A step outcome for a run
that ended, is being failed, or is past its deadline is dropped (the sweep fails it): a run
ends once. The one window left: an outcome read just before its deadline whose commit lands
after a sweep claimed the run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Final, Literal, cast

import orjson

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.decision import Writes
from aiwf.bus.scripts import Call, Script
from aiwf.workers.pipeline.settings import PipelineSettings

__all__ = ["LateRun", "Run", "RunRecords"]

PREFIX: Final = keys.service_prefix("pipeline")
_DEADLINES: Final = PREFIX + "deadlines"
_RUN: Final = PREFIX + "run:"
#: A run's record is kept this long, so a late outcome still finds that it ended.
_RECORD_TTL_S: Final = 7 * 86_400
#: How long a claimed run is left to its sweeper before another sweep may claim it again.
LEASE_S: Final = 60.0
State = Literal["running", "failing", "failed", "completed"]


@dataclass(frozen=True)
class Run:
    """One run's record: the step it waits for (or last waited for), its state, its correlation id."""

    step: str
    state: State
    correlation_id: str
    deadline: float = 0.0

    def accepts_outcome(self, now: float | None = None) -> bool:
        """True while an outcome may still move this run on: running, and not past its deadline."""
        return self.state == "running" and (time.time() if now is None else now) < self.deadline


@dataclass(frozen=True)
class LateRun:
    """A run claimed for failing: which document, the step it waited for, its correlation id."""

    document_id: str
    step: str
    correlation_id: str


class RunRecords:
    """Reads run records and stages their changes as Decision writes; the sweep's atomic claim."""

    def __init__(self, client: Redis, settings: PipelineSettings) -> None:
        """Register the claim script; nothing touches Redis until a method is awaited."""
        self.client = client
        self.settings = settings
        self._claim = Script(client, "claim_late", package=__package__)

    async def get(self, document_id: str) -> Run | None:
        """The run's record, or None when the document never started one (or it expired)."""
        raw = cast("bytes | None", await self.client.get(_RUN + document_id))
        return Run(**orjson.loads(raw)) if raw is not None else None

    def wait_for(self, document_id: str, step: str, correlation_id: str) -> Writes:
        """The writes that make the run wait for `step` until the step timeout."""
        deadline = time.time() + self.settings.step_timeout_s
        writes = Writes(PREFIX)
        self._put(writes, document_id, Run(step, "running", correlation_id, deadline))
        writes.zadd(_DEADLINES, document_id, deadline)
        return writes

    def end(self, document_id: str, run: Run | None, state: State) -> Writes:
        """The writes that end the run as `completed` or `failed` (no longer swept)."""
        writes = Writes(PREFIX)
        self._put(writes, document_id, Run(run.step if run else "documents", state, run.correlation_id if run else ""))
        writes.zrem(_DEADLINES, document_id)
        return writes

    async def claim_late(self, now: float | None = None, limit: int = 100) -> list[LateRun]:
        """Runs past their deadline, claimed for LEASE_S so no other sweep fails them meanwhile."""
        when = time.time() if now is None else now
        args: list[str | bytes] = [str(when), str(LEASE_S), str(limit), _RUN, str(_RECORD_TTL_S)]
        flat = cast("list[bytes]", await self._claim(Call([_DEADLINES], args)))
        text = [v.decode() for v in flat]
        return [LateRun(*text[i : i + 3]) for i in range(0, len(text), 3)]

    async def failed_late(self, run: LateRun) -> None:
        """The sweep published the late run's failure: record the end (the sweep is no handler)."""
        record = Run(run.step, "failed", run.correlation_id)
        await self.client.set(_RUN + run.document_id, orjson.dumps(asdict(record)), ex=_RECORD_TTL_S)
        await self.client.zrem(_DEADLINES, run.document_id)

    @staticmethod
    def _put(writes: Writes, document_id: str, run: Run) -> None:
        writes.add("SET", _RUN + document_id, orjson.dumps(asdict(run)), "EX", _RECORD_TTL_S)
