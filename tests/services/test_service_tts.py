"""The tts service in-process on a real Redis with the real espeak-ng engine."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, drain_all, envelopes, serving

from aiwf.bus import Publisher
from aiwf.bus.blobs import FileBlobStore
from aiwf.bus.config import BusConfig
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.events.tts import SpeechRequested
from aiwf.workers.tts.service import SERVICE


@pytest.fixture
def tts(tmp_path: Path, config: BusConfig) -> BusConfig:
    """The worker's config, its blob store in tmp_path."""
    return config.model_copy(update={"blob_dir": tmp_path / "blobs"})


async def speak(
    client: aioredis.Redis, config: BusConfig, worker_config: BusConfig, *requests: SpeechRequested
) -> None:
    """Publish the requests and run the tts service until its group has drained the stream."""
    pub = Publisher(client, config)
    for req in requests:
        await pub.publish(req)
    async with serving(SERVICE, worker_config):
        await drain_all(client, SERVICE, timeout_s=30)


async def test_speech_request_becomes_a_wav_blob(
    client: aioredis.Redis, config: BusConfig, tts: BusConfig, tmp_path: Path
) -> None:
    """A tts.speech.requested becomes tts.speech.synthesized naming a 22050 Hz WAV blob as long as duration_s says."""
    await speak(client, config, tts, SpeechRequested(request_id="s1", text="Streams keep every event in order."))
    (done,) = await envelopes(client, "tts", "tts.speech.synthesized")
    payload = done.payload
    assert payload["request_id"] == "s1"
    assert payload["sample_rate"] == 22050
    assert payload["voice"] == "en"
    ref = BlobRef.model_validate(payload["audio"])
    assert ref.content_type == "audio/wav"
    data = FileBlobStore(tmp_path / "blobs").get(ref)
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getframerate() == 22050
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 0.5
    assert seconds == pytest.approx(payload["duration_s"], abs=0.01)
    assert await dead_letters(client) == {}


async def test_unknown_voice_is_rejected(client: aioredis.Redis, config: BusConfig, tts: BusConfig) -> None:
    """A request for a voice espeak-ng does not list becomes tts.speech.rejected with a readable reason."""
    await speak(client, config, tts, SpeechRequested(request_id="s2", text="Hello.", voice="klingon-xx"))
    (rejected,) = await envelopes(client, "tts", "tts.speech.rejected")
    assert rejected.payload["request_id"] == "s2"
    assert rejected.payload["code"] == "UnknownVoice"
    assert "no espeak-ng voice named 'klingon-xx'" in rejected.payload["reason"]
    assert await envelopes(client, "tts", "tts.speech.synthesized") == []
    assert await dead_letters(client) == {}
