"""Documents bench: ordinary PDFs beside four inflating ones, and the worker's memory after.

    .venv/bin/python bench/documents_bench.py

Runs the documents subscription in this process (as `aiwf worker documents` would) on
REDIS_URL, else an embedded redis-server. Round 1: eight ordinary PDFs alone. Round 2:
four PDFs of ~45 KB whose text inflates to 12 MB, published first, then the same eight
ordinary PDFs. Each ordinary PDF's latency is publish -> its `processed` event. The RSS of
this process (the worker) is read from /proc before, at the end of round 2 and after a
short pause. A figure to read, not a test: the tests assert behaviour, not time.

Measured on this 2-core machine (AIWF_PDF_TIMEOUT at its default, 10 s):

    inflating PDF: 44 KiB -> 12 MB of text; 4 of them, all rejected in 20.1 s for the round
    ordinary PDF latency alone: median 0.30 s; beside 4 inflating: median 20.05 s
    worker RSS: baseline 86 MiB, end of round 87 MiB, 2 s later 87 MiB

Each inflating PDF costs at most its bound and no memory in the worker (before: 20 s each,
about 95 s for ordinary ones beside four, 286 MiB kept). Ordinary PDFs read in the same
consumer batch as an inflating one still wait for that batch's bound (20 s here: the four
arrived in two reads): the consumer commits a batch together and reads the next one after it
(bus/consume.py), so until that changes a lower AIWF_PDF_TIMEOUT is what shortens the wait.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from aiwf.bus import Publisher, codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.consume import Consumer
from aiwf.bus.testing import redis_server
from aiwf.schemas.events.documents import DocumentUploaded

ORDINARY = 8
INFLATING = 4


def rss_mib() -> float:
    """This process's resident set, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def outcomes(client: aioredis.Redis, config: BusConfig) -> dict[str, tuple[str, float]]:
    """document id -> (event type, time it was written) for every outcome on the stream."""
    found: dict[str, tuple[str, float]] = {}
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(keys.stream("documents")))
    for entry_id, fields in rows:
        env = codec.decode(fields, config.max_event_bytes)
        if env.type in {"documents.document.processed", "documents.document.rejected"}:
            found[str(env.payload["document_id"])] = (env.type, int(entry_id.split(b"-")[0]) / 1000)
    return found


async def round_(client: aioredis.Redis, config: BusConfig, name: str, bombs: int, pdf: str, bomb: str) -> list[float]:
    """Publish `bombs` inflating and ORDINARY ordinary PDFs; latencies of the ordinary ones (s)."""
    pub = Publisher(client, config)
    for i in range(bombs):
        await pub.publish(DocumentUploaded(document_id=f"{name}-bomb-{i}", content_base64=bomb))
    sent = {}
    for i in range(ORDINARY):
        sent[f"{name}-plain-{i}"] = time.time()
        await pub.publish(DocumentUploaded(document_id=f"{name}-plain-{i}", content_base64=pdf))
    wanted = set(sent) | {f"{name}-bomb-{i}" for i in range(bombs)}
    while not wanted <= set(found := await outcomes(client, config)):  # noqa: ASYNC110 - polls Redis, as a client would
        await asyncio.sleep(0.05)
    return [found[d][1] - at for d, at in sent.items()]


async def main() -> None:
    """Both rounds, printed."""
    with tempfile.TemporaryDirectory() as tmp, redis_server() as url:
        os.environ.update({"AIWF_BLOB_DIR": tmp, "AIWF_MAX_DOCUMENT_BYTES": str(2**20)})
        from aiwf.workers.documents import service  # noqa: PLC0415 - reads the env set just above
        from aiwf.workers.documents.samples.make_pdf import build_inflating_pdf  # noqa: PLC0415

        config = BusConfig(redis_url=url, producer="bench")
        client = aioredis.Redis.from_url(url)
        await client.flushdb()
        pdf = base64.b64encode((Path(service.__file__).parent / "samples" / "sample.pdf").read_bytes()).decode()
        raw_bomb = build_inflating_pdf(12_000_000)
        bomb = base64.b64encode(raw_bomb).decode()
        consumer = Consumer(client, config, service.documents, "documents")
        task = asyncio.create_task(consumer.run())
        baseline = rss_mib()
        alone = await round_(client, config, "alone", 0, pdf, bomb)
        began = time.monotonic()
        beside = await round_(client, config, "beside", INFLATING, pdf, bomb)
        took = time.monotonic() - began
        during = rss_mib()
        await asyncio.sleep(2)
        after = rss_mib()
        rejected = [t for d, (t, _) in (await outcomes(client, config)).items() if "bomb" in d]
        consumer.stop()
        await task
        await client.aclose()
    print(
        f"inflating PDF: {len(raw_bomb) / 1024:.0f} KiB -> 12 MB of text; {INFLATING} of them, all "
        f"{set(rejected)} in {took:.1f} s for the round"
    )
    for label, times in (("alone", alone), (f"beside {INFLATING} inflating", beside)):
        print(f"ordinary PDF latency {label:>20}: median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    print(f"worker RSS: baseline {baseline:.0f} MiB, end of round {during:.0f} MiB, 2 s later {after:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
