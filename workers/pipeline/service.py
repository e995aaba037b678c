"""The document-summary workflow, as choreography: documents -> llm -> tts.

The services know nothing of each other; this worker only listens to their facts and
asks for the next step, keyed by `summary:<document id>` and carried on one correlation
id, so a summary's whole path is one causal chain and one trace.

    documents.document.processed -> llm.chat.requested
    llm.chat.completed           -> tts.speech.requested
    tts.speech.synthesized       -> pipeline.summary.completed
"""

from __future__ import annotations

import os

from aiwf.bus import Context, Subscription
from aiwf.bus.blobs import store_from_env
from aiwf.bus.config import BusConfig
from aiwf.bus.worker import Service
from aiwf.schemas import Event
from aiwf.schemas.events.documents import DocumentProcessed
from aiwf.schemas.events.llm import ChatCompleted, ChatRequested, Message
from aiwf.schemas.events.pipeline import SummaryCompleted
from aiwf.schemas.events.tts import SpeechRequested, SpeechSynthesized

PREFIX = "summary:"
#: The most document text sent for summarizing; the rest is left out, not failed.
MAX_PROMPT_CHARS = 60_000
VOICE = os.environ.get("AIWF_SUMMARY_VOICE", "en")
INSTRUCTION = "Summarize the following document in three sentences for a listener."

on_documents = Subscription(stream="documents", group="pipeline")
on_llm = Subscription(stream="llm", group="pipeline")
on_tts = Subscription(stream="tts", group="pipeline")
blobs = store_from_env(BusConfig.from_env().data_dir)


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
    return [ChatRequested(
        request_id=PREFIX + event.document_id,
        messages=[Message(role="system", content=INSTRUCTION), Message(role="user", content=text)],
    )]


@on_llm.handler
async def speak(event: ChatCompleted, ctx: Context) -> list[Event]:
    """Ask for the summary to be spoken."""
    if not event.request_id.startswith(PREFIX):
        return []  # someone else's chat
    return [SpeechRequested(request_id=event.request_id, text=event.text[:20_000], voice=VOICE)]


@on_tts.handler
async def finish(event: SpeechSynthesized, ctx: Context) -> list[Event]:
    """Record that the workflow completed."""
    if not event.request_id.startswith(PREFIX):
        return []
    return [SummaryCompleted(
        document_id=event.request_id.removeprefix(PREFIX), audio=event.audio, duration_s=event.duration_s,
    )]


def _join(chunks: list[tuple[int, str]]) -> str:
    """Chunks overlap by design; rebuild the text from their start offsets without repeats."""
    out = ""
    for start, text in sorted(chunks):
        out += text[max(0, len(out) - start):]
    return out


SERVICE = Service(name="pipeline", subscriptions=[on_documents, on_llm, on_tts])
