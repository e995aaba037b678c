"""The document-summary workflow, as choreography: documents -> llm -> tts.

The services know nothing of each other; this worker only listens to their facts and
asks for the next step, keyed by `summary:<document id>` and carried on one correlation
id, so a summary's whole path is one causal chain and one trace.

    documents.document.processed -> llm.chat.requested        (the run waits for llm)
    llm.chat.completed           -> tts.speech.requested      (the run waits for tts)
    tts.speech.synthesized       -> pipeline.summary.completed
    documents.document.rejected, llm.chat.failed, an empty or refused answer, tts.speech.rejected
                                 -> pipeline.summary.failed   (with the step that failed)
    a step not answered within AIWF_PIPELINE_STEP_TIMEOUT s -> pipeline.summary.failed (DeadlineExceeded)

Every run ends in one of the two: the run records and the sweep for late runs are in runs.py.
A handler reads its run's record and returns the next request together with the record's
new state as Decision writes: the bus commits both, with the marker and the ack, or neither.
The service's lifespan yields the run records, the blob store and the settings (`Deps`), and
runs the deadline sweep as long as the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from aiwf.bus import Context, Decision, Publisher, Subscription
from aiwf.bus.blobs import FileBlobStore, store_for
from aiwf.bus.worker import Service, Startup
from aiwf.schemas.events.documents import DocumentProcessed, DocumentRejected
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested, Message
from aiwf.schemas.events.pipeline import SummaryCompleted, SummaryFailed
from aiwf.schemas.events.tts import MAX_SPEECH_CHARS, SpeechRejected, SpeechRequested, SpeechSynthesized
from aiwf.workers.pipeline.runs import LateRun, RunRecords
from aiwf.workers.pipeline.settings import PipelineSettings

PREFIX = "summary:"
#: The most document text sent for summarizing; the rest is left out, not failed.
MAX_PROMPT_CHARS = 60_000
INSTRUCTION = "Summarize the following document in three sentences for a listener."
#: Namespace of the sweep's failure event ids: a sweep that claims a run again publishes the same id.
_LATE_IDS = uuid.UUID("2b7e61c4-0d3a-4c55-9a43-5f7d3f0e8a11")
log = logging.getLogger(__name__)

on_documents = Subscription(stream="documents", group="pipeline")
on_llm = Subscription(stream="llm", group="pipeline")
on_tts = Subscription(stream="tts", group="pipeline")


@dataclass(frozen=True)
class Deps:
    """The run records, the blob store, the settings, and a publisher for the failures the sweep finds."""

    runs: RunRecords
    blobs: FileBlobStore
    settings: PipelineSettings
    publisher: Publisher


@on_documents.handler
async def summarize(event: DocumentProcessed, ctx: Context) -> Decision:
    """Ask for a summary of the processed document's text."""
    deps = ctx.dep(Deps)
    if event.chunks is not None:
        chunks = [(c.start, c.text) for c in event.chunks]
    else:
        assert event.chunks_blob is not None  # noqa: S101 - type narrowing: the model requires chunks or a blob
        chunks = [(c["start"], c["text"]) for c in orjson.loads(deps.blobs.get(event.chunks_blob))]
    run = await deps.runs.get(event.document_id)
    if run is not None and run.state != "running":
        return Decision()  # this run already ended
    asked = ChatRequested(
        request_id=PREFIX + event.document_id,
        messages=[
            Message(role="system", content=INSTRUCTION),
            Message(role="user", content=_join(chunks)[:MAX_PROMPT_CHARS]),
        ],
    )
    writes = deps.runs.wait_for(event.document_id, "llm", ctx.envelope.correlation_id)
    return Decision(events=[asked], writes=writes)


@on_documents.handler
async def document_rejected(event: DocumentRejected, ctx: Context) -> Decision:
    """A document that cannot be read ends its summary run at the first step."""
    return await _failed(ctx.dep(Deps), event.document_id, "documents", event.code, event.reason)


@on_llm.handler
async def speak(event: ChatCompleted, ctx: Context) -> Decision:
    """Ask for the summary to be spoken; an empty or refused answer fails the run (nothing to speak)."""
    if not event.request_id.startswith(PREFIX):
        return Decision()  # someone else's chat
    deps, document_id = ctx.dep(Deps), event.request_id.removeprefix(PREFIX)
    if event.refusal:
        return await _failed(deps, document_id, "llm", "Refused", f"backend {event.backend} refused: {event.refusal}")
    if not event.text.strip():
        calls = f", {len(event.tool_calls)} tool call(s)" if event.tool_calls else ""
        why = f"backend {event.backend} returned no text (finish_reason {event.finish_reason}{calls})"
        return await _failed(deps, document_id, "llm", "EmptyAnswer", why)
    run = await deps.runs.get(document_id)
    if run is None or not run.accepts_outcome():
        return Decision()  # ended, being failed as late, or never started here
    asked = SpeechRequested(request_id=event.request_id, text=event.text[:MAX_SPEECH_CHARS], voice=deps.settings.voice)
    return Decision(events=[asked], writes=deps.runs.wait_for(document_id, "tts", ctx.envelope.correlation_id))


@on_llm.handler
async def chat_failed(event: ChatFailed, ctx: Context) -> Decision:
    """A refused chat request fails the run at the llm step."""
    if not event.request_id.startswith(PREFIX):
        return Decision()
    return await _failed(ctx.dep(Deps), event.request_id.removeprefix(PREFIX), "llm", "ChatFailed", event.reason)


@on_tts.handler
async def finish(event: SpeechSynthesized, ctx: Context) -> Decision:
    """Record that the workflow completed (unless it was already failed as late)."""
    if not event.request_id.startswith(PREFIX):
        return Decision()
    deps, document_id = ctx.dep(Deps), event.request_id.removeprefix(PREFIX)
    run = await deps.runs.get(document_id)
    if run is None or not run.accepts_outcome():
        return Decision()
    done = SummaryCompleted(document_id=document_id, audio=event.audio, duration_s=event.duration_s)
    return Decision(events=[done], writes=deps.runs.end(document_id, run, "completed"))


@on_tts.handler
async def speech_rejected(event: SpeechRejected, ctx: Context) -> Decision:
    """Speech that can never be synthesized fails the run at the tts step."""
    if not event.request_id.startswith(PREFIX):
        return Decision()
    return await _failed(ctx.dep(Deps), event.request_id.removeprefix(PREFIX), "tts", event.code, event.reason)


async def _failed(deps: Deps, document_id: str, step: str, code: str, reason: str) -> Decision:
    run = await deps.runs.get(document_id)
    if run is not None and run.state != "running":
        return Decision()  # it ended already, or the sweep is failing it
    failure = SummaryFailed(document_id=document_id, step=step, code=code[:64], reason=reason[:2000])
    return Decision(events=[failure], writes=deps.runs.end(document_id, run, "failed"))


async def fail_late_runs(deps: Deps) -> int:
    """Fail every run waiting past its deadline with the step that was late; how many were failed."""
    late = await deps.runs.claim_late()
    for run in late:
        await deps.publisher.publish(
            _late_failure(run, deps.settings),
            correlation_id=run.correlation_id or None,
            event_id=str(uuid.uuid5(_LATE_IDS, f"{run.document_id}/{run.correlation_id}")),
        )
        await deps.runs.failed_late(run)
    return len(late)


def _late_failure(run: LateRun, settings: PipelineSettings) -> SummaryFailed:
    return SummaryFailed(
        document_id=run.document_id,
        step=run.step if run.step in {"llm", "tts"} else "documents",
        code="DeadlineExceeded",
        reason=f"no {run.step} outcome within {settings.step_timeout_s:g} s of asking for it",
    )


def _join(chunks: list[tuple[int, str]]) -> str:
    """Chunks overlap by design; rebuild the text from their start offsets without repeats."""
    out = ""
    for start, text in sorted(chunks):
        out += text[max(0, len(out) - start) :]
    return out


async def sweep_forever(deps: Deps) -> None:
    """Look for late runs every `check_every_s` until cancelled; a failed sweep is retried next time."""
    while True:
        try:
            await fail_late_runs(deps)
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not stop the worker
            log.warning("pipeline deadline sweep failed: %s", exc)
        await asyncio.sleep(deps.settings.check_every_s)


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[Deps]:
    """Read AIWF_PIPELINE_* when the worker starts; the deadline sweep runs as long as the worker."""
    settings = PipelineSettings.from_env()
    deps = Deps(
        RunRecords(startup.client, settings),
        store_for(startup.config),
        settings,
        Publisher(startup.client, startup.config),
    )
    sweep = asyncio.create_task(sweep_forever(deps), name="pipeline deadline sweep")
    try:
        yield deps
    finally:
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep


SERVICE = Service(name="pipeline", subscriptions=[on_documents, on_llm, on_tts], lifespan=lifespan)

__all__ = ["SERVICE", "Deps", "fail_late_runs", "lifespan", "on_documents", "on_llm", "on_tts", "sweep_forever"]
