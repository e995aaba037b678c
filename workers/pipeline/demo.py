"""`aiwf demo`: the document-summary pipeline on the sample article, narrated step by step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from aiwf.bus import Publisher, keys
from aiwf.bus.blobs import store_from_env
from aiwf.bus.codec import loads
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.schemas import Envelope, new_id
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.workers.pipeline.demo_watch import Watch

SAMPLE = Path(__file__).resolve().parent.parent / "documents" / "samples" / "sample.md"
DOMAINS = ("documents", "llm", "tts", "pipeline")


async def run_demo(
    client: Redis, config: BusConfig, say: Callable[[str], None], timeout_s: float = 120.0, source: Path = SAMPLE
) -> tuple[str, Path]:
    """Publish the sample, print each correlated event as it lands, and while it waits, what for and which
    service is not up and why; returns (summary, WAV path). TimeoutError names the step and the services."""
    streams = {keys.stream(d): await _last_id(client, keys.stream(d)) for d in DOMAINS}
    correlation = new_id()
    document_id = f"demo-{correlation[-12:]}"
    text = await asyncio.to_thread(source.read_text)
    uploaded = DocumentUploaded(document_id=document_id, filename=source.name, text=text)
    await Publisher(client, config).publish(uploaded, correlation_id=correlation)
    say(f"published documents.document.uploaded ({source.name}, {len(uploaded.text or '')} chars)")
    summary = ""
    watch = Watch(client, say)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await watch.tick()
        reply = cast(
            "list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]",
            await client.xread(streams, block=500, count=100),  # type: ignore[arg-type]
        )
        for stream, entries in reply or []:
            streams[stream.decode()] = entries[-1][0].decode()
            for _, fields in entries:
                env = loads(fields[b"body"], config.max_event_bytes)
                if env.correlation_id != correlation:
                    continue
                say(_describe(env))
                watch.saw(env.type)
                if env.type == "llm.chat.completed":
                    summary = str(env.payload["text"])
                if env.type in {"documents.document.rejected", "llm.chat.failed", "tts.speech.rejected"}:
                    raise RuntimeError(f"{env.type}: {env.payload.get('reason')}")
                if env.type == "pipeline.summary.completed":
                    audio = BlobRef.model_validate(env.payload["audio"])
                    return summary, store_from_env(config.data_dir).path_of(audio)
    raise TimeoutError(await watch.diagnosis(timeout_s))


def _describe(env: Envelope) -> str:
    p = env.payload
    details: dict[str, Callable[[], str]] = {
        "documents.document.processed": lambda: f"{p['kind']}, {p['chars']} chars, {p['chunk_count']} chunks",
        "llm.chat.requested": lambda: f"{len(p['messages'])} messages",
        "llm.chat.completed": lambda: f"backend={p['backend']}, {p['usage']['total_tokens']} tokens",
        "tts.speech.requested": lambda: f"voice={p['voice']}, {len(p['text'])} chars",
        "tts.speech.synthesized": lambda: f"{p['duration_s']:.1f}s at {p['sample_rate']} Hz",
        "pipeline.summary.completed": lambda: "done",
    }
    detail = details.get(env.type)
    return f"{env.producer:>9} → {env.type:<28} {detail() if detail else ''}"


async def _last_id(client: Redis, stream: str) -> str:
    last = cast("list[tuple[bytes, object]]", await client.xrevrange(stream, count=1))
    return last[0][0].decode() if last else "0-0"


def run_blocking(url: str, config: BusConfig, say: Callable[[str], None], timeout_s: float) -> tuple[str, Path]:
    """Synchronous wrapper for the CLI."""
    from aiwf.bus.connection import connect  # noqa: PLC0415

    async def main() -> tuple[str, Path]:
        client = connect(url, config)
        try:
            return await run_demo(client, config, say, timeout_s)
        finally:
            await client.aclose()

    return asyncio.run(main())
