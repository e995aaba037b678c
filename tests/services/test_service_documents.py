"""The documents service in-process on a real Redis: uploads become processed, rejected or dead letters."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, drain_all, envelopes, serving, set_env

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.schemas.secrets import generate
from aiwf.workers.documents.service import SERVICE
from tests.replies import Entries

SAMPLES = Path(__file__).resolve().parents[2] / "workers" / "documents" / "samples"


@pytest.fixture
def documents(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: BusConfig) -> BusConfig:
    """The worker's config (its blob store in tmp_path), and a 4 KiB document limit read when the service starts."""
    set_env(monkeypatch, {"AIWF_MAX_DOCUMENT_BYTES": "4096"})
    return config.model_copy(update={"blob_dir": tmp_path / "blobs"})


async def process(
    client: aioredis.Redis, config: BusConfig, worker_config: BusConfig, *uploads: DocumentUploaded
) -> None:
    """Publish the uploads and run the documents service until its group has drained the stream."""
    pub = Publisher(client, config)
    for upload in uploads:
        await pub.publish(upload)
    async with serving(SERVICE, worker_config):
        await drain_all(client, SERVICE)


async def test_pdf_and_html_become_processed_with_chunks(
    client: aioredis.Redis, config: BusConfig, documents: BusConfig
) -> None:
    """A real PDF (base64) and an HTML page each become documents.document.processed with their text in chunks."""
    pdf = base64.b64encode((SAMPLES / "sample.pdf").read_bytes()).decode()
    html = (SAMPLES / "sample.html").read_text()
    await process(
        client,
        config,
        documents,
        DocumentUploaded(document_id="pdf-1", filename="sample.pdf", content_base64=pdf),
        DocumentUploaded(document_id="html-1", filename="sample.html", content_type="text/html", text=html),
    )
    done = {
        e.payload["document_id"]: e.payload
        for e in await envelopes(client, "documents", "documents.document.processed")
    }
    assert set(done) == {"pdf-1", "html-1"}
    assert done["pdf-1"]["kind"] == "pdf"
    assert done["html-1"]["kind"] == "html"
    for payload in done.values():
        assert payload["chunk_count"] == len(payload["chunks"]) >= 1
        assert payload["chars"] > 100
    assert "append-only log" in " ".join(c["text"] for c in done["pdf-1"]["chunks"])
    assert "Idempotent Handlers" in done["html-1"]["chunks"][0]["text"]
    assert "<p>" not in " ".join(c["text"] for c in done["html-1"]["chunks"])
    assert await dead_letters(client) == {}


async def test_unreadable_documents_are_rejected_with_a_reason(
    client: aioredis.Redis, config: BusConfig, documents: BusConfig
) -> None:
    """A corrupt PDF, an empty text and an oversized text each become documents.document.rejected, not a retry."""
    corrupt = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage").decode()
    await process(
        client,
        config,
        documents,
        DocumentUploaded(document_id="corrupt", filename="broken.pdf", content_base64=corrupt),
        DocumentUploaded(document_id="empty", filename="empty.txt", text="  \n  "),
        DocumentUploaded(document_id="big", filename="big.txt", text="word " * 2000),
    )
    rejected = {
        e.payload["document_id"]: e.payload for e in await envelopes(client, "documents", "documents.document.rejected")
    }
    assert {k: v["code"] for k, v in rejected.items()} == {
        "corrupt": "CorruptDocument",
        "empty": "EmptyDocument",
        "big": "DocumentTooLarge",
    }
    assert "PDF cannot be parsed" in rejected["corrupt"]["reason"]
    assert "no extractable text" in rejected["empty"]["reason"]
    assert "10000 bytes; the limit is 4096" in rejected["big"]["reason"]
    assert await envelopes(client, "documents", "documents.document.processed") == []
    assert await dead_letters(client) == {}


@pytest.mark.parametrize("content", ["not base64!!", "aGVsbG8=é"], ids=["ascii", "non-ascii"])
async def test_invalid_base64_is_dead_lettered_at_once(
    client: aioredis.Redis, config: BusConfig, documents: BusConfig, content: str
) -> None:
    """Content that is not base64 is a producer bug: dead-lettered on the first delivery, nothing emitted."""
    await process(client, config, documents, DocumentUploaded(document_id="b64", content_base64=content))
    letters = await dead_letters(client)
    assert list(letters) == [keys.dead_letters("documents")]
    (error,) = letters[keys.dead_letters("documents")]
    assert "content_base64 is not valid base64" in error
    dlq = cast("Entries", await client.xrange(keys.dead_letters("documents")))
    assert dlq[0][1][b"deliveries"] == b"1"
    types = {e.type for e in await envelopes(client, "documents")}
    assert types == {"documents.document.uploaded"}


def _encrypted_pdf(password: str) -> bytes:
    """A one-page PDF readable only with `password`."""
    from pypdf import PdfReader, PdfWriter

    from aiwf.workers.documents.samples.make_pdf import build_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(build_pdf([["Quarterly numbers"]]))))
    writer.encrypt(user_password=password, owner_password="owner-" + password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_an_uploads_password_opens_its_pdf_and_never_travels_in_clear(
    client: aioredis.Redis, config: BusConfig, documents: BusConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`password` (a Secret sealed for documents) opens an encrypted PDF; a wrong one is a readable rejection."""
    generate(tmp_path / "keys", ["documents"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "keys"))
    pdf = base64.b64encode(_encrypted_pdf("hunter2")).decode()
    await process(
        client,
        config,
        documents,
        DocumentUploaded(document_id="locked", content_base64=pdf, password="hunter2"),
        DocumentUploaded(document_id="wrong", content_base64=pdf, password="guess"),
    )
    (done,) = await envelopes(client, "documents", "documents.document.processed")
    assert done.payload["document_id"] == "locked"
    assert "Quarterly numbers" in done.payload["chunks"][0]["text"]
    (rejected,) = await envelopes(client, "documents", "documents.document.rejected")
    assert (rejected.payload["document_id"], rejected.payload["code"]) == ("wrong", "CorruptDocument")
    assert "the password given does not open it" in rejected.payload["reason"]
    raw = b"".join(
        v for _, fields in cast("Entries", await client.xrange(keys.stream("documents"))) for v in fields.values()
    )
    assert b"hunter2" not in raw
    assert b"guess" not in raw
    assert await dead_letters(client) == {}


async def test_inflating_pdfs_are_rejected_at_their_bound_while_ordinary_ones_are_processed(
    client: aioredis.Redis, config: BusConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Four PDFs inflating to 12 MB of text beside four ordinary ones: the four are rejected with the reason."""
    from aiwf.workers.documents.samples.make_pdf import build_inflating_pdf

    set_env(monkeypatch, {"AIWF_MAX_DOCUMENT_BYTES": str(2**20), "AIWF_PDF_TIMEOUT": "2"})
    service = config.model_copy(update={"blob_dir": tmp_path / "blobs"})
    bomb = base64.b64encode(build_inflating_pdf(12_000_000)).decode()
    plain = base64.b64encode((SAMPLES / "sample.pdf").read_bytes()).decode()
    uploads = [DocumentUploaded(document_id=f"bomb-{i}", content_base64=bomb) for i in range(4)]
    uploads += [DocumentUploaded(document_id=f"plain-{i}", content_base64=plain) for i in range(4)]
    await process(client, config, service, *uploads)
    processed = {e.payload["document_id"] for e in await envelopes(client, "documents", "documents.document.processed")}
    rejected = {
        e.payload["document_id"]: e.payload for e in await envelopes(client, "documents", "documents.document.rejected")
    }
    assert processed == {f"plain-{i}" for i in range(4)}
    assert set(rejected) == {f"bomb-{i}" for i in range(4)}
    assert {r["code"] for r in rejected.values()} == {"DocumentTooLarge"}
    assert all("PDF extraction took longer than 2 s" in r["reason"] for r in rejected.values())
    assert await dead_letters(client) == {}
