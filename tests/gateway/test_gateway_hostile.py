"""Hostile input at the edge: unicode edge cases, header tricks, odd bodies; a clear 4xx each, the gateway alive."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from http_support import Gateway, account
from service_support import serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH

LONE_SURROGATE = b'{"text": "bad \\ud800 half"}'
BODIES: list[tuple[str, bytes, int]] = [
    ("/api/v1/summaries", LONE_SURROGATE, 422),
    ("/api/v1/documents", LONE_SURROGATE, 422),
    ("/api/v1/llm/chat", b'{"messages": [{"role": "user", "content": "\\udfff"}]}', 422),
    ("/api/v1/tts/synthesize", b'{"text": "\\ud83d"}', 422),
    ("/api/v1/summaries", b"\xff\xfe not utf-8", 422),
    ("/api/v1/summaries", b'{"text": "a", "text": "b", "content_base64": "YQ=="}', 422),
    ("/api/v1/summaries", b"[1, 2, 3]", 422),
    ("/api/v1/summaries", b'{"text": 1e999}', 422),
    (
        "/api/v1/llm/chat",
        b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 99999999999999999999999}',
        422,
    ),
]


@pytest.mark.parametrize(("path", "body", "status"), BODIES)
async def test_bad_unicode_and_odd_json_are_4xx_never_published(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis, path: str, body: bytes, status: int
) -> None:
    """Lone surrogates, invalid UTF-8, wrong shapes and huge numbers are refused at the edge; nothing is published."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        headers = {**me, "content-type": "application/json", "Prefer": "respond-async"}
        response = await http.post(path, content=body, headers=headers)
        alive = await http.get("/health")
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert alive.status_code == 200
    for domain in ("documents", "llm", "tts"):
        assert await client.exists(keys.stream(domain)) == 0


async def test_unicode_text_round_trips(gateway: Gateway, bus: BusConfig, client: aioredis.Redis) -> None:
    """Emoji, right-to-left text, combining marks and a NUL in JSON text are accepted as given (queued with Prefer)."""
    text = "naïve café 👩‍💻 שלום e\u0301 \u0000 end"
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        response = await http.post(
            "/api/v1/summaries", json={"text": text, "filename": "ünï.md"}, headers={**me, "Prefer": "respond-async"}
        )
    assert response.status_code == 202, response.text
    assert await client.xlen(keys.stream("documents")) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer a b c"},
        {"Authorization": "Basic YWRhOnB3"},
        {"Authorization": "Bearer " + "x" * 20_000},
        {"Content-Length": "abc"},
    ],
)
async def test_header_tricks_are_4xx(gateway: Gateway, headers: dict[str, Any]) -> None:
    """A bearer with spaces, another scheme, a huge token: 401; a non-numeric Content-Length: 400."""
    async with gateway() as http:
        response = await http.post(
            "/api/v1/llm/chat", content=b"{}", headers={"content-type": "application/json", **headers}
        )
        alive = await http.get("/health")
    assert response.status_code in {400, 401}, response.text
    assert alive.status_code == 200


async def test_multipart_filename_with_newlines_is_kept_as_data(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """A file name carrying CR/LF and a path is only data in the event: never a header, never a path on disk."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        files = {"file": ("../../etc/passwd\r\nX-Injected: 1", b"hello there", "text/plain")}
        response = await http.post("/api/v1/summaries", files=files, headers={**me, "Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    assert "x-injected" not in response.headers
