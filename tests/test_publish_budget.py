"""The publish budget is per call: concurrent callers behind a stalled flush fail within it too."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from pathlib import Path
from typing import cast

import pytest

from aiwf.bus import Publisher, RedisUnavailable, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.publish import budget_s
from aiwf.bus.server import EmbeddedRedis
from tests.events import ItemCreated
from tests.replies import Entries

pytestmark = pytest.mark.fault


async def timed_publish(pub: Publisher, title: str) -> tuple[float, BaseException | str]:
    """Seconds one publish took, and its error (or its event id)."""
    started = time.monotonic()
    try:
        result: BaseException | str = await pub.publish(ItemCreated(title=title))
    except RedisUnavailable as exc:
        result = exc
    return time.monotonic() - started, result


async def test_five_concurrent_publishes_to_a_frozen_redis_each_fail_within_the_budget(tmp_path: Path) -> None:
    """Redis SIGSTOPped: five concurrent publishes each fail within the per-call budget, each with its event id."""
    with EmbeddedRedis(tmp_path) as server:
        assert server.process is not None
        config = BusConfig(redis_url=server.url, socket_timeout_s=0.5, connect_timeout_s=0.5, attempts=3)
        budget = budget_s(config)
        assert budget == pytest.approx(3.0)
        client = connect(server.url, config)
        pub = Publisher(client, config)
        await pub.publish(ItemCreated(title="warm"))
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            results = await asyncio.gather(*(timed_publish(pub, f"c{i}") for i in range(5)))
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        errors = [r for _, r in results]
        assert all(isinstance(e, RedisUnavailable) for e in errors), errors
        assert max(elapsed for elapsed, _ in results) < budget + 0.5
        ids = [e.event_id for e in errors if isinstance(e, RedisUnavailable)]
        assert len(set(ids)) == 5
        assert all(i is not None for i in ids)
        # A caller told "nothing was written" really had nothing written.
        await asyncio.sleep(budget)  # let any flush still travelling finish or fail
        await client.aclose()
        client = connect(server.url, config)
        landed = {f[b"id"].decode() for _, f in cast("Entries", await client.xrange(keys.stream("testing")))}
        for error in errors:
            assert isinstance(error, RedisUnavailable)
            if "nothing was written" in str(error):
                assert error.event_id not in landed
        await client.aclose()


async def test_a_failed_batch_publish_leaves_no_unretrieved_future_errors(tmp_path: Path) -> None:
    """Redis gone: publish_many fails once with every id, and asyncio logs no "Future exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    unhandled: list[str] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(str(context.get("message"))))
    try:
        with EmbeddedRedis(tmp_path) as server:
            config = BusConfig(redis_url=server.url, socket_timeout_s=0.3, connect_timeout_s=0.3, attempts=1)
            client = connect(server.url, config)
            pub = Publisher(client, config)
            await pub.publish(ItemCreated(title="warm"))
        with pytest.raises(RedisUnavailable) as failed:
            await pub.publish_many([ItemCreated(title=f"t{i}") for i in range(5)])
        assert len(failed.value.event_ids) == 5
        await client.aclose()
        del pub, failed
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert [m for m in unhandled if "never retrieved" in m] == []
