"""The tts service: tts.speech.requested -> synthesized (a WAV blob) | rejected.

espeak-ng comes from the espeakng-loader wheel (or the system library, or AIWF_ESPEAK_LIBRARY:
TTSSettings, read when the service starts). When it cannot load, the service reports itself
degraded and requests wait in the stream: an engine outage is BackendUnavailable, never a
dead letter.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiwf.bus import BackendUnavailable, Context, Subscription
from aiwf.bus.blobs import FileBlobStore, store_for
from aiwf.bus.config import BusConfig
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.tts import SpeechRejected, SpeechRequested, SpeechSynthesized
from aiwf.workers.tts import EngineUnavailable, InvalidSpeechRequest, SpeechEngine
from aiwf.workers.tts.settings import TTSSettings


@dataclass(frozen=True)
class Deps:
    """What the handler uses, built once when the service starts (a lifespan will yield it)."""

    engine: SpeechEngine
    blobs: FileBlobStore


tts = Subscription(stream="tts", group="tts", batch=4, concurrency=2)
deps: Deps | None = None


async def startup() -> None:
    """Read TTSSettings and the blob store's place: at start, never at import; ConfigError names a bad variable."""
    global deps  # noqa: PLW0603 - one per process until the service lifespan yields it
    settings = TTSSettings.from_env()
    deps = Deps(SpeechEngine(library_path=settings.espeak_library), store_for(BusConfig.from_env()))


def _started() -> Deps:
    if deps is None:
        raise RuntimeError("the tts service is not started: its lifespan (startup()) loads its engine")
    return deps


@tts.handler
async def on_speech_requested(event: SpeechRequested, ctx: Context) -> list[Event]:
    """Speak the text into a WAV blob; a request that can never be spoken is `rejected`."""
    started = _started()
    try:
        speech = await started.engine.synthesize_async(event.text, voice=event.voice, rate_wpm=event.rate_wpm)
    except EngineUnavailable as exc:
        raise BackendUnavailable(f"speech engine unavailable: {exc}") from exc
    except InvalidSpeechRequest as exc:
        return [SpeechRejected(request_id=event.request_id, code=type(exc).__name__, reason=str(exc))]
    audio = started.blobs.put(speech.wav, "audio/wav")
    return [
        SpeechSynthesized(
            request_id=event.request_id,
            audio=audio,
            duration_s=speech.duration_s,
            sample_rate=speech.sample_rate,
            voice=event.voice,
        )
    ]


async def probe(deps: object = None) -> str | None:
    """Degraded when espeak-ng cannot load."""
    if _started().engine.available():
        return None
    return "espeak-ng unavailable: pip install espeakng-loader or apt install espeak-ng"


@contextlib.asynccontextmanager
async def lifespan(_: Startup) -> AsyncIterator[Deps]:
    """Settings read and resources built when the worker starts; the handlers' deps."""
    await startup()
    yield _started()


SERVICE = Service(name="tts", subscriptions=[tts], probe=probe, lifespan=lifespan)
