"""The pipeline service in-process on a real Redis: each fact asks for the next step."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, envelopes, fresh_service

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.schemas.events.documents import Chunk, DocumentProcessed
from tests.contract.harness import drain, running


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    """The service module with its blob store in tmp_path."""
    return fresh_service("pipeline", monkeypatch, {"AIWF_BLOB_DIR": str(tmp_path / "blobs")})


def processed(document_id: str) -> DocumentProcessed:
    """A processed document of two overlapping chunks."""
    text = "First sentence here. Second sentence there."
    return DocumentProcessed(document_id=document_id, kind="text", chars=len(text), chunk_count=2, chunks=[
        Chunk(index=0, start=0, end=25, text=text[:25]), Chunk(index=1, start=15, end=len(text), text=text[15:]),
    ])


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
