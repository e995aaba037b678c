"""What the cluster tests share: processes, outputs on the other slot, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import cast

import orjson

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from tests.events import ItemCreated
from tests.replies import Entries

ROOT = Path(__file__).resolve().parents[2]
OUT = "elsewhere"


def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    """`python -m tests.cluster.<module> ARGS` (its log shows with AIWF_TEST_VERBOSE=1)."""
    quiet = not os.environ.get("AIWF_TEST_VERBOSE")
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.cluster.{module}", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.DEVNULL if quiet else None,
    )


async def publish_items(client: Redis, config: BusConfig, n: int) -> set[str]:
    """Publish n ItemCreated in flushes of 500; their event ids."""
    pub = Publisher(client, config)
    ids: set[str] = set()
    for start in range(0, n, 500):
        ids.update(await pub.publish_many([ItemCreated(title=f"i{k}") for k in range(start, min(n, start + 500))]))
    return ids


async def output_causes(client: Redis, domain: str = OUT) -> Counter[str]:
    """How many outputs on `domain`'s stream name each input event id as their cause."""
    causes: Counter[str] = Counter()
    for _, fields in cast("Entries", await client.xrange(keys.stream(domain))):
        causes[orjson.loads(fields[b"body"])["causation_id"]] += 1
    return causes


async def pending(client: Redis, group: str = "crash") -> int:
    """Entries the group holds pending on `testing`."""
    return int((await client.xpending(keys.stream("testing"), group))["pending"])


async def all_done(client: Redis, n: int, group: str = "crash") -> bool:
    """Every input has its output on the other slot, nothing is pending and the outbox is empty."""
    return (
        len(await output_causes(client)) >= n
        and await pending(client, group) == 0
        and await client.xlen(keys.outbox("testing")) == 0
    )
