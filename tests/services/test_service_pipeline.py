"""The pipeline service in-process on a real Redis: each fact asks for the next step, every run ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, drain_all, envelopes, serving, set_env

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.documents import Chunk, DocumentProcessed, DocumentRejected
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ToolCall, Usage
from aiwf.schemas.events.tts import SpeechRejected, SpeechSynthesized
from aiwf.workers.pipeline.service import SERVICE, Deps, fail_late_runs
from aiwf.workers.tts.service import SERVICE as TTS

AUDIO = BlobRef(uri="blob:sha256:" + "0" * 64, sha256="0" * 64, size=44, content_type="audio/wav")


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: BusConfig) -> BusConfig:
    """The worker's config (blobs in tmp_path); a 0.3 s step deadline, swept every 0.1 s, read when it starts."""
    set_env(monkeypatch, {"AIWF_PIPELINE_STEP_TIMEOUT": "0.3", "AIWF_PIPELINE_CHECK_EVERY": "0.1"})
    return config.model_copy(update={"blob_dir": tmp_path / "blobs"})


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
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig
) -> None:
    """documents.document.processed becomes llm.chat.requested for `summary:<id>` with the text rebuilt once."""
    await run_pipeline(client, config, pipeline, processed("doc-1"))
    (req,) = await envelopes(client, "llm", "llm.chat.requested")
    assert req.payload["request_id"] == "summary:doc-1"
    assert req.payload["messages"][1]["content"] == "First sentence here. Second sentence there."


async def test_longest_allowed_document_id_still_gets_a_summary(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig
) -> None:
    """A document id of the schema's maximum length (128) still yields a chat request, not a dead letter."""
    await run_pipeline(client, config, pipeline, processed("d" * 128))
    assert await dead_letters(client) == {}
    assert len(await envelopes(client, "llm", "llm.chat.requested")) == 1


def completed(document_id: str, text: str, **why: object) -> ChatCompleted:
    """The llm's answer for a summary run (with its finish reason, refusal or tool calls)."""
    return ChatCompleted(
        request_id="summary:" + document_id,
        text=text,
        backend="test",
        model="m",
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        **why,
    )


async def run_pipeline(client: aioredis.Redis, config: BusConfig, worker_config: BusConfig, *events: Event) -> None:
    """Publish `events` and run the pipeline worker until its three subscriptions have drained their streams."""
    if events:
        await Publisher(client, config).publish_many(list(events))
    async with serving(SERVICE, worker_config):
        await drain_all(client, SERVICE)


async def outcomes(client: aioredis.Redis) -> list[tuple[str, dict[str, object]]]:
    """Every pipeline outcome: (type, payload)."""
    return [(e.type, e.payload) for e in await envelopes(client, "pipeline")]


async def test_every_failed_step_ends_its_run_in_summary_failed(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig
) -> None:
    """A rejected document, a refused chat, an empty, refused or tool-call-only answer and rejected speech each
    give pipeline.summary.failed, never a dead letter."""
    await run_pipeline(
        client,
        config,
        pipeline,
        DocumentRejected(document_id="unreadable", code="CorruptDocument", reason="PDF cannot be parsed"),
        ChatFailed(request_id="summary:refused", reason="400 context too long"),
        completed("empty", "  "),
        completed("refusing", "", refusal="I won't summarize this."),
        completed("calling", "", finish_reason="tool_calls", tool_calls=[ToolCall(id="c", name="f", arguments="{}")]),
        SpeechRejected(request_id="summary:mute", code="UnknownVoice", reason="no espeak-ng voice named 'x'"),
    )
    got = {p["document_id"]: (t, p["step"], p["code"]) for t, p in await outcomes(client)}
    assert got == {
        "unreadable": ("pipeline.summary.failed", "documents", "CorruptDocument"),
        "refused": ("pipeline.summary.failed", "llm", "ChatFailed"),
        "empty": ("pipeline.summary.failed", "llm", "EmptyAnswer"),
        "refusing": ("pipeline.summary.failed", "llm", "Refused"),
        "calling": ("pipeline.summary.failed", "llm", "EmptyAnswer"),
        "mute": ("pipeline.summary.failed", "tts", "UnknownVoice"),
    }
    assert await envelopes(client, "tts", "tts.speech.requested") == []  # nothing to speak for the empty answer
    assert await dead_letters(client) == {}


async def test_a_run_waiting_past_its_deadline_fails_with_the_late_step_once(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No llm answer within the step timeout: the sweep fails the run at `llm`, once; a late answer changes nothing."""
    set_env(monkeypatch, {"AIWF_PIPELINE_STEP_TIMEOUT": "2", "AIWF_PIPELINE_CHECK_EVERY": "3600"})
    async with serving(SERVICE, pipeline) as worker:
        deps = worker.heartbeat.deps
        assert isinstance(deps, Deps)
        await Publisher(client, config).publish(processed("slow"))
        await drain_all(client, SERVICE)
        (asked,) = await envelopes(client, "llm", "llm.chat.requested")
        assert await fail_late_runs(deps) == 0  # not late yet
        await asyncio.sleep(2.1)
        assert await fail_late_runs(deps) == 1
        assert await fail_late_runs(deps) == 0
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


async def test_the_worker_sweeps_for_late_runs_by_itself(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's lifespan running, a run whose tts step never answers fails at `tts` unprompted."""
    set_env(monkeypatch, {"AIWF_PIPELINE_STEP_TIMEOUT": "1"})
    publisher = Publisher(client, config)
    async with serving(SERVICE, pipeline):
        await publisher.publish(processed("quiet"))
        await wait_until(lambda: _has(client, "llm", "llm.chat.requested"), 5, "the chat request")
        await publisher.publish(completed("quiet", "Short summary."))
        await wait_until(lambda: _has(client, "tts", "tts.speech.requested"), 5, "the speech request")
        await wait_until(lambda: _has(client, "pipeline", "pipeline.summary.failed"), 5, "the sweep to fail the run")
    ((kind, payload),) = await outcomes(client)
    assert (kind, payload["document_id"], payload["step"]) == ("pipeline.summary.failed", "quiet", "tts")


async def _has(client: aioredis.Redis, domain: str, type_: str) -> bool:
    return bool(await envelopes(client, domain, type_))


async def test_a_run_record_lands_with_its_request_in_one_commit(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record a handler returns is a Decision write: it exists exactly when the request it announces does."""
    set_env(monkeypatch, {"AIWF_PIPELINE_STEP_TIMEOUT": "600"})
    await run_pipeline(client, config, pipeline, processed("doc-r"))
    assert len(await envelopes(client, "llm", "llm.chat.requested")) == 1
    assert await client.get("aiwf:{pipeline}:run:doc-r") is not None
    assert await client.zscore("aiwf:{pipeline}:deadlines", "doc-r") is not None


async def test_a_long_summary_is_spoken_and_the_run_completes(
    client: aioredis.Redis, config: BusConfig, pipeline: BusConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A 6 143-character answer goes through the real tts service into one WAV and pipeline.summary.completed."""
    set_env(monkeypatch, {"AIWF_PIPELINE_STEP_TIMEOUT": "600"})
    text = ("Every event is kept in order and nothing acknowledged is lost. " * 100)[:6143]
    await run_pipeline(client, config, pipeline, processed("long"))  # the run waits for llm
    await run_pipeline(client, config, pipeline, completed("long", text))
    async with serving(TTS, pipeline):
        await drain_all(client, TTS, timeout_s=120)
    await run_pipeline(client, config, pipeline)
    ((kind, payload),) = await outcomes(client)
    assert (kind, payload["document_id"]) == ("pipeline.summary.completed", "long")
    assert float(str(payload["duration_s"])) > 300  # about 1000 words at 175 wpm
    assert await dead_letters(client) == {}
