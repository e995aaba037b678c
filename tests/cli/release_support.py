"""A user's service with two releases, a steady publisher, and the count of outputs by causation id."""

from __future__ import annotations

import asyncio
import collections
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.publish import Publisher
from aiwf.schemas.events.documents import DocumentUploaded

# AIWF_TEST_FAIL_RATE makes a share of its handler calls raise (at random, so a retry may pass).
HANDLERS = '''
from __future__ import annotations

import os
import random

from aiwf.bus import Context, PermanentError, RetryPolicy, Service, Subscription
from aiwf.schemas import Event, event
from aiwf.schemas.events.documents import DocumentUploaded


@event("relapp.note.written", version=1)
class NoteWritten(Event):
    """One per upload: which release wrote it."""

    document_id: str
    release: str
    words: int


uploads = Subscription(
    stream="documents", group="relapp", retry=RetryPolicy(max_deliveries=20, backoff_base_s=0.05, backoff_max_s=0.5)
)
FAIL_RATE = float(os.environ.get("AIWF_TEST_FAIL_RATE") or 0)
RELEASE = os.environ.get("AIWF_TEST_TAG", "?")
CHANGED = os.environ.get("AIWF_TEST_CHANGE", "")  # this document's output counts one word more
POISON = os.environ.get("AIWF_TEST_POISON", "")  # this document is refused


@uploads.handler
async def on_upload(event: DocumentUploaded, ctx: Context) -> list[Event]:
    if random.random() < FAIL_RATE:
        raise RuntimeError("release under test fails this call")
    if event.document_id == POISON:
        raise PermanentError("release under test refuses this document")
    words = len(event.text.split()) + (event.document_id == CHANGED)
    return [NoteWritten(document_id=event.document_id, release=RELEASE, words=words)]


service = Service("relapp", [uploads])
'''
OUTPUTS = "aiwf:ev:{relapp}"


def write_module(where: Path) -> str:
    """Write the `relapp` package under `where`; returns its `module:service` target."""
    (where / "relapp").mkdir(exist_ok=True)
    (where / "relapp" / "__init__.py").write_text("")
    (where / "relapp" / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    return "relapp.handlers:service"


class SteadyLoad:
    """Publishes documents.document.uploaded at `rate` per second in a thread until stopped; keeps the ids."""

    def __init__(self, redis_url: str, rate: float) -> None:
        self.redis_url, self.rate = redis_url, rate
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[str]:
        """Stop publishing; returns every id published."""
        self._stop.set()
        self._thread.join(30)
        return self.ids

    async def _run(self) -> None:
        config = BusConfig(redis_url=self.redis_url, producer="load")
        client = connect(self.redis_url, config)
        publisher = Publisher(client, config)
        start, n = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                n += 1
                self.ids.append(await publisher.publish(DocumentUploaded(document_id=f"d-{n}", text="hello")))
                await asyncio.sleep(max(0.0, start + n / self.rate - time.monotonic()))
        finally:
            await client.aclose()


def outputs(r: redis.Redis, stream: str = OUTPUTS) -> list[dict[str, Any]]:
    """Every envelope on `stream`."""
    rows = cast("list[tuple[str, dict[str, str]]]", r.xrange(stream))
    return [orjson.loads(fields["body"]) for _, fields in rows]


def tally(r: redis.Redis, offered: list[str]) -> tuple[list[str], list[str], collections.Counter[str]]:
    """(lost, doubled, outputs per release) of the offered ids, by the outputs' causation ids."""
    seen = outputs(r)
    per_cause = collections.Counter(o["causation_id"] for o in seen)
    lost = [i for i in offered if per_cause[i] == 0]
    doubled = [i for i, n in per_cause.items() if n > 1]
    return lost, doubled, collections.Counter(o["payload"]["release"] for o in seen)
