"""The tts service: tts.speech.requested -> synthesized (a WAV blob) | rejected.

espeak-ng comes from the espeakng-loader wheel (or the system library). When it cannot
load, the service reports itself degraded and requests wait in the stream: an engine
outage is BackendUnavailable, never a dead letter.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiwf.bus import BackendUnavailable, Context, Subscription
from aiwf.bus.blobs import store_from_env
from aiwf.bus.config import BusConfig
from aiwf.bus.worker import Service
from aiwf.schemas import Event
from aiwf.schemas.events.tts import SpeechRejected, SpeechRequested, SpeechSynthesized
from aiwf.workers.tts import EngineUnavailable, InvalidSpeechRequest, SpeechEngine

tts = Subscription(stream="tts", group="tts", batch=4, concurrency=2)
#: AIWF_ESPEAK_LIBRARY pins a libespeak-ng (default: the espeakng-loader wheel's, else the system's).
LIBRARY = os.environ.get("AIWF_ESPEAK_LIBRARY")
engine = SpeechEngine(library_path=Path(LIBRARY) if LIBRARY else None)
blobs = store_from_env(BusConfig.from_env().data_dir)


@tts.handler
async def on_speech_requested(event: SpeechRequested, ctx: Context) -> list[Event]:
    """Speak the text into a WAV blob; a request that can never be spoken is `rejected`."""
    try:
        speech = await engine.synthesize_async(event.text, voice=event.voice, rate_wpm=event.rate_wpm)
    except EngineUnavailable as exc:
        raise BackendUnavailable(f"speech engine unavailable: {exc}") from exc
    except InvalidSpeechRequest as exc:
        return [SpeechRejected(request_id=event.request_id, code=type(exc).__name__, reason=str(exc))]
    audio = blobs.put(speech.wav, "audio/wav")
    return [SpeechSynthesized(
        request_id=event.request_id, audio=audio, duration_s=speech.duration_s,
        sample_rate=speech.sample_rate, voice=event.voice,
    )]


async def probe(deps: object = None) -> str | None:
    """Degraded when espeak-ng cannot load."""
    return None if engine.available() else "espeak-ng unavailable: pip install espeakng-loader or apt install espeak-ng"


SERVICE = Service(name="tts", subscriptions=[tts], probe=probe)
