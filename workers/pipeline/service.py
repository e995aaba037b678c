"""The document-summary workflow, as choreography: documents -> llm -> tts.

The services know nothing of each other; this worker only listens to their facts and
asks for the next step, keyed by `summary:<document id>` and carried on one correlation
id, so a summary's whole path is one causal chain and one trace.

    documents.document.processed -> llm.chat.requested        (the run waits for llm)
    llm.chat.completed           -> tts.speech.requested      (the run waits for tts)
    tts.speech.synthesized       -> pipeline.summary.completed
    documents.document.rejected, llm.chat.failed, an empty answer, tts.speech.rejected
                                 -> pipeline.summary.failed   (with the step that failed)
    a step not answered within AIWF_PIPELINE_STEP_TIMEOUT s -> pipeline.summary.failed (DeadlineExceeded)

Every run ends in one of the two: the run records and the sweep for late runs are in runs.py.
The handlers write their run record themselves (an idempotent step, so safe to re-run)
before returning the next request for the bus to commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiwf.bus import Context, Publisher, Subscription
from aiwf.bus.blobs import store_from_env
from aiwf.bus.config import BusConfig
from aiwf.bus.resources import PerLoop
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.documents import DocumentProcessed, DocumentRejected
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested, Message
from aiwf.schemas.events.pipeline import SummaryCompleted, SummaryFailed
from aiwf.schemas.events.tts import MAX_SPEECH_CHARS, SpeechRejected, SpeechRequested, SpeechSynthesized
from aiwf.workers.pipeline.runs import RunRecords, RunSettings

PREFIX = "summary:"
#: The most document text sent for summarizing; the rest is left out, not failed.
MAX_PROMPT_CHARS = 60_000
VOICE = os.environ.get("AIWF_SUMMARY_VOICE", "en")
INSTRUCTION = "Summarize the following document in three sentences for a listener."
SETTINGS = RunSettings.from_env()
log = logging.getLogger(__name__)

on_documents = Subscription(stream="documents", group="pipeline")
on_llm = Subscription(stream="llm", group="pipeline")
on_tts = Subscription(stream="tts", group="pipeline")
blobs = store_from_env(BusConfig.from_env().data_dir)


@dataclass
class Runtime:
    """The run records, and a publisher for the failures the sweep finds."""

    runs: RunRecords
    publisher: Publisher


runtimes: PerLoop[Runtime] = PerLoop(
    "pipeline", lambda client, config: Runtime(RunRecords(client, SETTINGS), Publisher(client, config))
)


@on_documents.handler
async def summarize(event: DocumentProcessed, ctx: Context) -> list[Event]:
    """Ask for a summary of the processed document's text."""
    if event.chunks is not None:
        chunks = [(c.start, c.text) for c in event.chunks]
    else:
        import orjson  # noqa: PLC0415 - only for blob-borne chunks

        assert event.chunks_blob is not None
        chunks = [(c["start"], c["text"]) for c in orjson.loads(blobs.get(event.chunks_blob))]
    text = _join(chunks)[:MAX_PROMPT_CHARS]
    rt = await runtimes.get()
    if not await rt.runs.wait_for(event.document_id, "llm", ctx.envelope.correlation_id):
        return []  # this run already ended
    return [
        ChatRequested(
            request_id=PREFIX + event.document_id,
            messages=[Message(role="system", content=INSTRUCTION), Message(role="user", content=text)],
        )
    ]


@on_documents.handler
async def document_rejected(event: DocumentRejected, ctx: Context) -> list[Event]:
    """A document that cannot be read ends its summary run at the first step."""
    return await _failed(event.document_id, "documents", event.code, event.reason)


@on_llm.handler
async def speak(event: ChatCompleted, ctx: Context) -> list[Event]:
    """Ask for the summary to be spoken; an empty answer fails the run (there is nothing to speak)."""
    if not event.request_id.startswith(PREFIX):
        return []  # someone else's chat
    document_id = event.request_id.removeprefix(PREFIX)
    if not event.text.strip():
        return await _failed(document_id, "llm", "EmptyAnswer", f"backend {event.backend} returned no text")
    rt = await runtimes.get()
    if not await rt.runs.wait_for(document_id, "tts", ctx.envelope.correlation_id):
        return []
    return [SpeechRequested(request_id=event.request_id, text=event.text[:MAX_SPEECH_CHARS], voice=VOICE)]


@on_llm.handler
async def chat_failed(event: ChatFailed, ctx: Context) -> list[Event]:
    """A refused chat request fails the run at the llm step."""
    if not event.request_id.startswith(PREFIX):
        return []
    return await _failed(event.request_id.removeprefix(PREFIX), "llm", "ChatFailed", event.reason)


@on_tts.handler
async def finish(event: SpeechSynthesized, ctx: Context) -> list[Event]:
    """Record that the workflow completed (unless it was already failed as late)."""
    if not event.request_id.startswith(PREFIX):
        return []
    document_id = event.request_id.removeprefix(PREFIX)
    rt = await runtimes.get()
    if not await rt.runs.end(document_id, "completed"):
        return []
    return [SummaryCompleted(document_id=document_id, audio=event.audio, duration_s=event.duration_s)]


@on_tts.handler
async def speech_rejected(event: SpeechRejected, ctx: Context) -> list[Event]:
    """Speech that can never be synthesized fails the run at the tts step."""
    if not event.request_id.startswith(PREFIX):
        return []
    return await _failed(event.request_id.removeprefix(PREFIX), "tts", event.code, event.reason)


async def _failed(document_id: str, step: str, code: str, reason: str) -> list[Event]:
    rt = await runtimes.get()
    if not await rt.runs.end(document_id, "failed"):
        return []  # it completed already
    return [SummaryFailed(document_id=document_id, step=step, code=code[:64], reason=reason[:2000])]


async def fail_late_runs() -> int:
    """Fail every run waiting past its deadline with the step that was late; how many were failed."""
    rt = await runtimes.get()
    late = await rt.runs.claim_late()
    for run in late:
        failure = SummaryFailed(
            document_id=run.document_id,
            step=run.step if run.step in {"llm", "tts"} else "documents",
            code="DeadlineExceeded",
            reason=f"no {run.step} outcome within {SETTINGS.step_timeout_s:g} s of asking for it",
        )
        await rt.publisher.publish(failure, correlation_id=run.correlation_id or None)
        await rt.runs.end(run.document_id, "failed")
    return len(late)


def _join(chunks: list[tuple[int, str]]) -> str:
    """Chunks overlap by design; rebuild the text from their start offsets without repeats."""
    out = ""
    for start, text in sorted(chunks):
        out += text[max(0, len(out) - start) :]
    return out


# ------------------------------------------------------------------------ the deadline sweep

_sweeps: set[asyncio.Task[None]] = set()


async def _sweep_forever() -> None:
    while True:
        try:
            await fail_late_runs()
        except Exception as exc:  # noqa: BLE001 - a failed sweep is retried next time; it must not stop the worker
            log.warning("pipeline deadline sweep failed: %s", exc)
        await asyncio.sleep(SETTINGS.check_every_s)


async def start_sweep() -> None:
    """Begin sweeping for late runs in this worker's loop."""
    task = asyncio.create_task(_sweep_forever(), name="pipeline deadline sweep")
    _sweeps.add(task)


async def stop_sweep() -> None:
    """Stop the sweep and close this loop's client."""
    for task in list(_sweeps):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _sweeps.clear()
    await runtimes.close()


@contextlib.asynccontextmanager
async def lifespan(_: Startup) -> AsyncIterator[None]:
    """The deadline sweep runs as long as the worker."""
    await start_sweep()
    try:
        yield None
    finally:
        await stop_sweep()


SERVICE = Service(name="pipeline", subscriptions=[on_documents, on_llm, on_tts], lifespan=lifespan)

__all__ = ["SERVICE", "fail_late_runs", "on_documents", "on_llm", "on_tts", "runtimes"]
