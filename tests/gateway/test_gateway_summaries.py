"""Documents and summary runs through the real documents, llm (extractive), tts and pipeline workers."""

from __future__ import annotations

import contextlib
import io
import json
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from http_support import Gateway, account, eventually
from service_support import envelopes, serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.documents.service import SERVICE as DOCUMENTS
from aiwf.workers.llm.service import SERVICE as LLM
from aiwf.workers.pipeline.service import SERVICE as PIPELINE
from aiwf.workers.tts.service import SERVICE as TTS

ARTICLE = (
    "# Streams\n\nRedis streams keep every event in order. Consumer groups share the work between workers. "
    "A dead letter keeps the error of a poison event. The gateway turns requests into events.\n"
)


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM URL: the llm service answers with its extractive summarizer."""
    for name in ("AIWF_LLM_URL", "AIWF_LLM_FALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


@contextlib.asynccontextmanager
async def services(bus: BusConfig, *, tts: bool = True) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for service in (AUTH, DOCUMENTS, LLM, PIPELINE, *([TTS] if tts else [])):
            await stack.enter_async_context(serving(service, bus))
        yield


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as audio:
        return float(audio.getnframes() / audio.getframerate())


async def test_a_document_json_and_multipart_is_processed(gateway: Gateway, bus: BusConfig) -> None:
    """JSON text and a multipart Markdown file are both processed; GET /documents/{id} shows it to its owner only."""
    async with services(bus, tts=False), gateway() as http:
        me = await account(http, "ada")
        as_json = await http.post("/api/v1/documents", json={"text": ARTICLE, "filename": "a.md"}, headers=me)
        files = {"file": ("notes.md", ARTICLE.encode(), "text/markdown")}
        as_file = await http.post("/api/v1/documents", files=files, headers=me)
        for response in (as_json, as_file):
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "processed"
            assert response.json()["chunk_count"] >= 1
        again = await http.get(f"/api/v1/documents/{as_file.json()['id']}", headers=me)
        stranger = await account(http, "bob")
        hidden = await http.get(f"/api/v1/documents/{as_file.json()['id']}", headers=stranger)
    assert again.json() == as_file.json()
    assert hidden.status_code == 404


async def test_a_large_file_travels_as_a_blob(gateway: Gateway, bus: BusConfig, client: aioredis.Redis) -> None:
    """A file over the inline limit is published as a blob reference, not inline bytes, and still processed."""
    big = (ARTICLE * 400).encode()
    assert len(big) > 64 * 1024
    async with serving(AUTH, bus), serving(DOCUMENTS, bus), gateway(max_body_bytes=2_000_000) as http:
        me = await account(http, "ada")
        response = await http.post("/api/v1/documents", files={"file": ("big.md", big, "text/markdown")}, headers=me)
    assert response.status_code == 200, response.text
    uploaded = [e for e in await envelopes(client, "documents") if e.type == "documents.document.uploaded"]
    assert uploaded
    payload = uploaded[-1].payload
    assert payload["blob"]["size"] == len(big)
    assert payload["content_base64"] is None


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"content": b"just text", "headers": {"content-type": "text/plain"}}, 415, None),
        ({"files": {"file": ("x.exe", b"MZ", "application/x-msdownload")}}, 415, None),
        ({"json": {"text": "a", "content_base64": "YQ=="}}, 422, "body"),
        ({"json": {"txt": "a"}}, 422, "txt"),
        ({"json": {"content_base64": "é not base64"}}, 422, "content_base64"),
        ({"json": {"text": 5}}, 422, "text"),
        ({"files": {"other": ("a.md", b"x", "text/markdown")}}, 422, "file"),
        ({"files": {"file": ("a.md", b"", "text/markdown")}}, 422, "file"),
        ({"content": b'{"text": "trunc', "headers": {"content-type": "application/json"}}, 422, "body"),
    ],
)
async def test_bad_uploads_are_4xx_and_never_published(
    gateway: Gateway,
    bus: BusConfig,
    client: aioredis.Redis,
    kwargs: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    """Wrong types are 415, bad fields 422 naming the field, truncated JSON 422; nothing reaches the stream."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        headers = {**me, **kwargs.pop("headers", {})}
        response = await http.post("/api/v1/summaries", headers=headers, **kwargs)
        alive = await http.get("/health")
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["message"].startswith(f"{field}"), response.json()
    assert alive.status_code == 200
    assert await client.exists(keys.stream("documents")) == 0


async def test_an_oversized_upload_is_413(gateway: Gateway, bus: BusConfig, client: aioredis.Redis) -> None:
    """A file over AIWF_GATEWAY_MAX_BODY_BYTES is 413 before it is read; nothing is published."""
    async with serving(AUTH, bus), gateway(max_body_bytes=10_000) as http:
        me = await account(http, "ada")
        response = await http.post(
            "/api/v1/summaries", files={"file": ("a.md", b"x" * 20_000, "text/markdown")}, headers=me
        )
    assert response.status_code == 413
    assert await client.exists(keys.stream("documents")) == 0


async def sse(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Every (event, data) of a server-sent event stream until it ends."""
    out = []
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((kind, json.loads(line.removeprefix("data: "))))
    return out


async def test_a_summary_run_completes_with_text_and_audio(gateway: Gateway, bus: BusConfig) -> None:
    """POST /summaries is 202; its events end with pipeline.summary.completed; the run has a summary and a WAV."""
    async with services(bus), gateway() as http:
        me = await account(http, "ada")
        started = await http.post("/api/v1/summaries", json={"text": ARTICLE, "filename": "a.md"}, headers=me)
        assert started.status_code == 202, started.text
        run = started.json()
        events = await sse(http, run["events"], me)
        done = await http.get(run["url"], headers=me)
        audio = await http.get(done.json()["audio"], headers=me)
        stranger = await account(http, "bob")
        hidden = await http.get(run["url"], headers=stranger)
        hidden_events = await http.get(run["events"], headers=stranger)
    types = [t for t, _ in events]
    assert types[0] == "documents.document.uploaded"
    assert types[-1] == "pipeline.summary.completed"
    assert {"documents.document.processed", "llm.chat.completed", "tts.speech.synthesized"} <= set(types)
    body = done.json()
    assert body["status"] == "completed"
    assert [s["state"] for s in body["steps"]] == ["done", "done", "done"]
    assert body["summary"]
    assert audio.headers["content-type"] == "audio/wav"
    assert seconds_of(audio.content) > 0.5
    assert hidden.status_code == 404
    assert hidden_events.status_code == 404


async def test_tts_offline_keeps_the_summary_and_completes_when_tts_returns(gateway: Gateway, bus: BusConfig) -> None:
    """Without tts the run has its summary and the speech step `waiting: tts offline`; starting tts completes it."""
    async with services(bus, tts=False), gateway() as http:
        me = await account(http, "ada")
        run = (await http.post("/api/v1/summaries", json={"text": ARTICLE}, headers=me)).json()

        async def speech_waiting() -> httpx.Response:
            response = await http.get(run["url"], headers=me)
            speech = response.json()["steps"][2]["state"]
            return httpx.Response(200 if speech == "waiting: tts offline" else 202, json=response.json())

        waiting = await eventually(speech_waiting, 200)
        assert waiting.status_code == 200, waiting.json()
        assert waiting.json()["summary"]
        assert waiting.json()["status"] == "running"
        assert waiting.json()["audio"] is None
        async with serving(TTS, bus):

            async def completed() -> httpx.Response:
                response = await http.get(run["url"], headers=me)
                return httpx.Response(200 if response.json()["status"] == "completed" else 202, json=response.json())

            done = await eventually(completed, 200, timeout_s=30)
    assert done.status_code == 200, done.json()
    assert done.json()["steps"][2]["state"] == "done"


async def test_rate_limit_is_429_with_retry_after(gateway: Gateway, bus: BusConfig) -> None:
    """Past AIWF_GATEWAY_RATE_LIMIT_USER a user's requests are 429 with Retry-After; /health is never limited."""
    async with serving(AUTH, bus), gateway(rate_limit_user="3/minute") as http:
        me = await account(http, "ada")
        codes = [(await http.get("/api/v1/status", headers=me)).status_code for _ in range(5)]
        limited = await http.get("/api/v1/status", headers=me)
        health = [(await http.get("/health")).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    assert set(health) == {200}


async def test_security_headers_and_no_cors(gateway: Gateway) -> None:
    """Every response has the security headers; a cross-origin request gets no CORS grant by default."""
    async with gateway() as http:
        page = await http.get("/")
        api = await http.get("/api/v1/status", headers={"Origin": "https://evil.example"})
        preflight = await http.options(
            "/api/v1/status", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
    assert page.status_code == 200
    assert "Summarize a document" in page.text
    for response in (page, api, preflight):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "access-control-allow-origin" not in response.headers


async def test_address_rate_limit_covers_unauthenticated_routes(gateway: Gateway) -> None:
    """Past AIWF_GATEWAY_RATE_LIMIT_ADDRESS even login is 429 for that client address, before reaching auth."""
    body = {"username": "ada", "password": "Correct-Horse-Battery-42"}
    async with gateway(rate_limit_address="2/minute") as http:
        codes = [(await http.post("/api/v1/auth/login", json=body)).status_code for _ in range(4)]
    assert codes == [503, 503, 429, 429]  # auth is not running: the first two are auth_offline


async def test_a_document_that_cannot_be_read_fails_its_run_at_the_first_step(gateway: Gateway, bus: BusConfig) -> None:
    """A broken PDF is rejected by documents: the run is `failed`, its documents step `failed` with the reason."""
    async with services(bus, tts=False), gateway() as http:
        me = await account(http, "ada")
        files = {"file": ("broken.pdf", b"%PDF-1.7 this is not a pdf at all", "application/pdf")}
        run = (await http.post("/api/v1/summaries", files=files, headers=me)).json()
        events = await sse(http, run["events"], me)
        failed = await http.get(run["url"], headers=me)
    assert events[-1][0] == "pipeline.summary.failed"
    body = failed.json()
    assert body["status"] == "failed"
    assert body["steps"][0]["state"] == "failed"
    assert body["steps"][0]["detail"]
    assert body["summary"] is None
    assert body["audio"] is None
