"""The services as real worker processes (cli.supervise.Supervisor) on a real Redis: pipeline, degraded mode, crash."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import signal
import time
import wave
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, envelopes

from aiwf.bus import Publisher, Subscription, keys
from aiwf.bus.blobs import FileBlobStore
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.cli.supervise import Supervisor, child_env
from aiwf.schemas import Envelope, new_id
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.documents import DocumentUploaded
from tests.contract.harness import drained

SAMPLES = Path(__file__).resolve().parents[2] / "workers" / "documents" / "samples"
DOMAINS = ("documents", "llm", "tts", "pipeline")
#: The summary workflow's events in causal order.
CHAIN = (
    "documents.document.uploaded",
    "documents.document.processed",
    "llm.chat.requested",
    "llm.chat.completed",
    "tts.speech.requested",
    "tts.speech.synthesized",
    "pipeline.summary.completed",
)


@pytest.fixture
def worker_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A worker's environment: the test Redis, data and blobs in tmp_path, the extractive llm, short drains."""
    env = child_env(redis_url)
    for key in [k for k in env if k.startswith("AIWF_LLM")]:
        del env[key]
    return env | {
        "AIWF_DATA_DIR": str(tmp_path / "data"),
        "AIWF_BLOB_DIR": str(tmp_path / "blobs"),
        "AIWF_DRAIN_TIMEOUT": "5",
        "AIWF_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def supervised(names: list[str], env: dict[str, str]) -> Iterator[Supervisor]:
    """`aiwf up`-style supervision of the named workers, always stopped (SIGTERM, drain) on exit."""
    supervisor = Supervisor(names, env)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop(timeout_s=15)


async def correlated(client: aioredis.Redis, correlation_id: str) -> list[Envelope]:
    """Every event of the workflow's domains carrying `correlation_id`."""
    found = [e for d in DOMAINS for e in await envelopes(client, d)]
    return [e for e in found if e.correlation_id == correlation_id]


async def count(client: aioredis.Redis, domain: str, type_: str) -> int:
    return len(await envelopes(client, domain, type_))


def group(domain: str, name: str) -> Subscription:
    """A subscription naming a worker's group, only to ask the harness whether it has drained."""
    return Subscription(stream=domain, group=name)


def wav_seconds(tmp_path: Path, audio: dict[str, object]) -> float:
    """Length of the WAV blob `audio` names, read with the stdlib wave module."""
    data = FileBlobStore(tmp_path / "blobs").get(BlobRef.model_validate(audio))
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert wav.getframerate() == 22050
        return wav.getnframes() / wav.getframerate()


@pytest.mark.slow
async def test_document_to_spoken_summary_end_to_end(
    client: aioredis.Redis, config: BusConfig, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """An upload flows documents -> llm -> tts -> pipeline as four processes: one causal chain, ending in a WAV."""
    correlation = new_id()
    text = (SAMPLES / "sample.md").read_text()
    with supervised(["documents", "llm", "tts", "pipeline"], worker_env):
        upload_id = await Publisher(client, config).publish(
            DocumentUploaded(document_id="e2e-1", filename="sample.md", text=text), correlation_id=correlation
        )

        async def finished() -> bool:
            return any(e.type == CHAIN[-1] for e in await correlated(client, correlation))

        await wait_until(finished, 60, "pipeline.summary.completed")
    found = await correlated(client, correlation)
    assert sorted(e.type for e in found) == sorted(CHAIN)  # each step exactly once
    events = {e.type: e for e in found}
    assert events[CHAIN[0]].id == upload_id
    for cause, effect in itertools.pairwise(CHAIN):
        assert events[effect].causation_id == events[cause].id, f"{effect} is not caused by {cause}"
    assert events["llm.chat.completed"].payload["backend"] == "extractive"
    done = events["pipeline.summary.completed"].payload
    assert done["document_id"] == "e2e-1"
    assert wav_seconds(tmp_path, done["audio"]) == pytest.approx(done["duration_s"], abs=0.01)
    assert done["duration_s"] > 1
    assert await dead_letters(client) == {}


@pytest.mark.slow
async def test_requests_wait_while_tts_is_down_and_complete_when_it_starts(
    client: aioredis.Redis, config: BusConfig, worker_env: dict[str, str]
) -> None:
    """With tts not running, speech requests wait in their stream (no dead letter); starting tts completes them all."""
    text = (SAMPLES / "sample.md").read_text()
    with supervised(["documents", "llm", "pipeline"], worker_env):
        pub = Publisher(client, config)
        for n in range(3):
            await pub.publish(DocumentUploaded(document_id=f"deg-{n}", text=f"Document {n}. {text}"))

        async def upstream_done() -> bool:
            return (
                await count(client, "tts", "tts.speech.requested") == 3
                and await drained(client, group("documents", "documents"))
                and await drained(client, group("llm", "llm"))
            )

        await wait_until(upstream_done, 60, "3 speech requests with documents and llm drained")
        assert await count(client, "pipeline", "pipeline.summary.completed") == 0
        assert await dead_letters(client) == {}
        with supervised(["tts"], worker_env):

            async def all_spoken() -> bool:
                return await count(client, "pipeline", "pipeline.summary.completed") == 3

            await wait_until(all_spoken, 60, "3 pipeline.summary.completed")
    summaries = await envelopes(client, "pipeline", "pipeline.summary.completed")
    assert sorted(e.payload["document_id"] for e in summaries) == ["deg-0", "deg-1", "deg-2"]
    assert await dead_letters(client) == {}


@pytest.mark.fault
@pytest.mark.slow
async def test_sigkilled_documents_worker_is_restarted_and_loses_nothing(
    client: aioredis.Redis, config: BusConfig, worker_env: dict[str, str]
) -> None:
    """SIGKILL of the documents worker mid-backlog: it is restarted once and every upload is processed exactly once."""
    pdf = base64.b64encode((SAMPLES / "sample.pdf").read_bytes()).decode()
    total = 200
    await Publisher(client, config).publish_many(
        [DocumentUploaded(document_id=f"doc-{n}", content_base64=pdf) for n in range(total)]
    )
    stream = keys.stream("documents")
    # AIWF_RECLAIM_IDLE (BusConfig.worker): the restarted worker reclaims the orphans after 2 s, not 30 s.
    supervisor = Supervisor(["documents"], worker_env | {"AIWF_RECLAIM_IDLE": "2"})
    supervisor.start()
    try:
        # Kill once a batch is committed and the next one is in flight: the worker is mid-backlog.
        await wait_until(lambda: _mid_backlog(client, stream, total), 30, "processed documents and a batch in flight")
        victim = supervisor.children["documents"].process
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        orphaned = int((await client.xpending(stream, "documents"))["pending"])
        done_at_kill = await count(client, "documents", "documents.document.processed")
        assert orphaned > 0, "no entry was in flight at the kill; reclaim was not exercised"
        assert done_at_kill < total, "the worker finished before it was killed; nothing was tested"

        async def all_processed() -> bool:
            supervisor.tick()
            return await count(client, "documents", "documents.document.processed") >= total and not int(
                (await client.xpending(stream, "documents"))["pending"]
            )

        started = time.monotonic()
        await wait_until(all_processed, 30, "every upload to be processed after the restart")
        recovery_s = time.monotonic() - started
        child = supervisor.children["documents"]
        assert child.restarts == 1
        assert child.exit_codes == [-signal.SIGKILL]
    finally:
        supervisor.stop(timeout_s=15)
    per_document = Counter(
        e.payload["document_id"] for e in await envelopes(client, "documents", "documents.document.processed")
    )
    assert set(per_document) == {f"doc-{n}" for n in range(total)}
    assert set(per_document.values()) == {1}
    assert await dead_letters(client) == {}
    print(f"killed with {done_at_kill} processed and {orphaned} pending; recovered in {recovery_s:.1f}s")


async def _mid_backlog(client: aioredis.Redis, stream: str, uploads: int) -> bool:
    """True when some outputs are committed and the group has entries in flight."""
    if int(await client.xlen(stream)) <= uploads:
        return False
    return int((await client.xpending(stream, "documents"))["pending"]) > 0
