"""POST /api/v1/tts/synthesize through the real tts worker, and what a client sees while tts is offline."""

from __future__ import annotations

import io
import wave

import redis.asyncio as aioredis
from http_support import Gateway, account, eventually
from service_support import serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.tts.service import SERVICE as TTS

OFFLINE = {"error": "tts_offline", "message": "Text-to-speech is temporarily offline"}


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as audio:
        return float(audio.getnframes() / audio.getframerate())


async def test_synthesize_returns_a_wav(gateway: Gateway, bus: BusConfig) -> None:
    """With tts running, a synchronous synthesize answers audio/wav holding the spoken text."""
    async with serving(AUTH, bus), serving(TTS, bus), gateway() as http:
        me = await account(http, "ada")
        response = await http.post(
            "/api/v1/tts/synthesize", json={"text": "Streams keep every event in order."}, headers=me
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert seconds_of(response.content) > 0.5


async def test_offline_tts_is_503_then_queued_with_prefer_and_done_when_tts_returns(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """tts down: 503 + Retry-After; with Prefer: respond-async 202, the request waits, and completes once tts starts."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        refused = await http.post("/api/v1/tts/synthesize", json={"text": "Hello there."}, headers=me)
        assert refused.status_code == 503
        assert refused.json() == OFFLINE
        assert int(refused.headers["retry-after"]) > 0
        assert await client.exists(keys.stream("tts")) == 0  # nothing was published
        queued = await http.post(
            "/api/v1/tts/synthesize", json={"text": "Hello there."}, headers={**me, "Prefer": "respond-async"}
        )
        assert queued.status_code == 202, queued.text
        url = queued.json()["url"]
        assert (await http.get(url, headers=me)).status_code == 202
        async with serving(TTS, bus):
            done = await eventually(lambda: http.get(url, headers=me), 200, timeout_s=30)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "audio/wav"
    assert seconds_of(done.content) > 0.3


async def test_bad_speech_bodies_are_422_and_never_published(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """An empty text or a rate outside 80..450 is 422 naming the field, even with Prefer; nothing reaches the stream."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        empty = await http.post("/api/v1/tts/synthesize", json={"text": ""}, headers={**me, "Prefer": "respond-async"})
        fast = await http.post("/api/v1/tts/synthesize", json={"text": "hi", "rate_wpm": 9000}, headers=me)
    assert empty.status_code == 422
    assert empty.json()["message"].startswith("text:")
    assert fast.status_code == 422
    assert fast.json()["message"].startswith("rate_wpm:")
    assert await client.exists(keys.stream("tts")) == 0
