"""The pipeline service in-process on a real Redis: each fact asks for the next step, every run ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, envelopes, fresh_service, started_service

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.documents import Chunk, DocumentProcessed, DocumentRejected
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, Usage
from aiwf.schemas.events.tts import SpeechRejected, SpeechSynthesized
from tests.contract.harness import drain, running

AUDIO = BlobRef(uri="blob:sha256:" + "0" * 64, sha256="0" * 64, size=44, content_type="audio/wav")


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> ModuleType:
    """The service module on the test Redis (its run records), blobs in tmp_path, a 0.3 s step deadline."""
    return fresh_service(
        "pipeline",
        monkeypatch,
        {
            "AIWF_BLOB_DIR": str(tmp_path / "blobs"),
            "REDIS_URL": redis_url,
            "AIWF_PIPELINE_STEP_TIMEOUT": "0.3",
            "AIWF_PIPELINE_CHECK_EVERY": "0.1",
        },
    )


def processed(document_id: str) -> DocumentProcessed:
    """A processed document of two overlapping chunks."""
    text = "First sentence here. Second sentence there."
    return DocumentProcessed(
        document_id=document_id,
        kind="text",
        chars=len(text),
        chunk_count=2,
        chunks=[
            Chunk(index=0, start=0, end=25, text=text[:25]),
            Chunk(index=1, start=15, end=len(text), text=text[15:]),
        ],
    )


async def test_processed_document_asks_for_a_summary_of_its_text(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType
) -> None:
    """documents.document.processed becomes llm.chat.requested for `summary:<id>` with the text rebuilt once."""
    await Publisher(client, config).publish(processed("doc-1"))
    async with running(pipeline.on_documents, config, service="pipeline"):
        await drain(client, pipeline.on_documents)
    (req,) = await envelopes(client, "llm", "llm.chat.requested")
    assert req.payload["request_id"] == "summary:doc-1"
    assert req.payload["messages"][1]["content"] == "First sentence here. Second sentence there."


async def test_longest_allowed_document_id_still_gets_a_summary(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType
) -> None:
    """A document id of the schema's maximum length (128) still yields a chat request, not a dead letter."""
    await Publisher(client, config).publish(processed("d" * 128))
    async with running(pipeline.on_documents, config, service="pipeline"):
        await drain(client, pipeline.on_documents, timeout_s=20)
    assert await dead_letters(client) == {}
    assert len(await envelopes(client, "llm", "llm.chat.requested")) == 1


def completed(document_id: str, text: str) -> ChatCompleted:
    """The llm's answer for a summary run."""
    return ChatCompleted(
        request_id="summary:" + document_id,
        text=text,
        backend="test",
        model="m",
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
    )


async def run_pipeline(client: aioredis.Redis, config: BusConfig, pipeline: ModuleType, *events: Event) -> None:
    """Publish `events` and let the pipeline's three subscriptions drain their streams."""
    await Publisher(client, config).publish_many(list(events))
    subs = [pipeline.on_documents, pipeline.on_llm, pipeline.on_tts]
    for sub in subs:
        if await client.exists(keys.stream(sub.stream)):
            async with running(sub, config, service="pipeline"):
                await drain(client, sub)
    await pipeline.runtimes.close()


async def outcomes(client: aioredis.Redis) -> list[tuple[str, dict[str, object]]]:
    """Every pipeline outcome: (type, payload)."""
    return [(e.type, e.payload) for e in await envelopes(client, "pipeline")]


async def test_every_failed_step_ends_its_run_in_summary_failed(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType
) -> None:
    """A rejected document, a refused chat, an empty answer and rejected speech each give pipeline.summary.failed."""
    await run_pipeline(
        client,
        config,
        pipeline,
        DocumentRejected(document_id="unreadable", code="CorruptDocument", reason="PDF cannot be parsed"),
        ChatFailed(request_id="summary:refused", reason="400 context too long"),
        completed("empty", "  "),
        SpeechRejected(request_id="summary:mute", code="UnknownVoice", reason="no espeak-ng voice named 'x'"),
    )
    got = {p["document_id"]: (t, p["step"], p["code"]) for t, p in await outcomes(client)}
    assert got == {
        "unreadable": ("pipeline.summary.failed", "documents", "CorruptDocument"),
        "refused": ("pipeline.summary.failed", "llm", "ChatFailed"),
        "empty": ("pipeline.summary.failed", "llm", "EmptyAnswer"),
        "mute": ("pipeline.summary.failed", "tts", "UnknownVoice"),
    }
    assert await envelopes(client, "tts", "tts.speech.requested") == []  # nothing to speak for the empty answer
    assert await dead_letters(client) == {}


async def test_a_run_waiting_past_its_deadline_fails_with_the_late_step_once(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No llm answer within the step timeout: the sweep fails the run at `llm`, once; a late answer changes nothing."""
    monkeypatch.setenv("AIWF_PIPELINE_STEP_TIMEOUT", "2")
    pipeline = fresh_service("pipeline", monkeypatch, {})
    await run_pipeline(client, config, pipeline, processed("slow"))
    (asked,) = await envelopes(client, "llm", "llm.chat.requested")
    assert await pipeline.fail_late_runs() == 0  # not late yet
    await asyncio.sleep(2.1)
    assert await pipeline.fail_late_runs() == 1
    assert await pipeline.fail_late_runs() == 0
    (failed,) = await envelopes(client, "pipeline", "pipeline.summary.failed")
    assert (failed.payload["step"], failed.payload["code"]) == ("llm", "DeadlineExceeded")
    assert "no llm outcome within 2 s" in str(failed.payload["reason"])
    assert failed.correlation_id == asked.correlation_id
    await run_pipeline(
        client,
        config,
        pipeline,
        completed("slow", "A late summary."),
        SpeechSynthesized(request_id="summary:slow", audio=AUDIO, duration_s=1, sample_rate=22050, voice="en"),
    )
    assert [t for t, _ in await outcomes(client)] == ["pipeline.summary.failed"]
    assert await envelopes(client, "tts", "tts.speech.requested") == []
    await pipeline.runtimes.close()


async def test_the_worker_sweeps_for_late_runs_by_itself(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType
) -> None:
    """With the service's startup hook running, a run whose tts step never answers fails at `tts` unprompted."""
    await run_pipeline(client, config, pipeline, processed("quiet"), completed("quiet", "Short summary."))
    assert len(await envelopes(client, "tts", "tts.speech.requested")) == 1
    await pipeline.start_sweep()
    try:

        async def failed() -> bool:
            return bool(await envelopes(client, "pipeline", "pipeline.summary.failed"))

        await wait_until(failed, 5, "the sweep to fail the late run")
    finally:
        await pipeline.stop_sweep()
    ((kind, payload),) = await outcomes(client)
    assert (kind, payload["document_id"], payload["step"]) == ("pipeline.summary.failed", "quiet", "tts")


async def test_a_long_summary_is_spoken_and_the_run_completes(
    client: aioredis.Redis, config: BusConfig, pipeline: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A 6 143-character answer goes through the real tts service into one WAV and pipeline.summary.completed."""
    monkeypatch.setenv("AIWF_PIPELINE_STEP_TIMEOUT", "600")
    pipeline = fresh_service("pipeline", monkeypatch, {})
    tts = await started_service("tts", monkeypatch, {"AIWF_BLOB_DIR": str(tmp_path / "blobs")})
    text = ("Every event is kept in order and nothing acknowledged is lost. " * 100)[:6143]
    await run_pipeline(client, config, pipeline, completed("long", text))
    async with running(tts.tts, config, service="tts"):
        await drain(client, tts.tts, timeout_s=120)
    await run_pipeline(client, config, pipeline)
    ((kind, payload),) = await outcomes(client)
    assert (kind, payload["document_id"]) == ("pipeline.summary.completed", "long")
    assert float(str(payload["duration_s"])) > 300  # about 1000 words at 175 wpm
    assert await dead_letters(client) == {}
