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
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.tts import SpeechRejected, SpeechRequested, SpeechSynthesized
from aiwf.workers.tts import EngineUnavailable, InvalidSpeechRequest, SpeechEngine
from aiwf.workers.tts.errors import INSTALL_HINT
from aiwf.workers.tts.settings import TTSSettings


@dataclass(frozen=True)
class Deps:
    """What the handler uses, built when the service starts and yielded by its lifespan."""

    engine: SpeechEngine
    blobs: FileBlobStore


tts = Subscription(stream="tts", group="tts", batch=4, concurrency=2)


@tts.handler
async def on_speech_requested(event: SpeechRequested, ctx: Context) -> list[Event]:
    """Speak the text into a WAV blob; a request that can never be spoken is `rejected`."""
    deps = ctx.dep(Deps)
    try:
        speech = await deps.engine.synthesize_async(event.text, voice=event.voice, rate_wpm=event.rate_wpm)
    except EngineUnavailable as exc:
        raise BackendUnavailable(f"speech engine unavailable: {exc}") from exc
    except InvalidSpeechRequest as exc:
        return [SpeechRejected(request_id=event.request_id, code=type(exc).__name__, reason=str(exc))]
    audio = deps.blobs.put(speech.wav, "audio/wav")
    return [
        SpeechSynthesized(
            request_id=event.request_id,
            audio=audio,
            duration_s=speech.duration_s,
            sample_rate=speech.sample_rate,
            voice=event.voice,
        )
    ]


async def probe(deps: Deps) -> str | None:
    """Degraded when espeak-ng cannot load, saying why: AIWF_ESPEAK_LIBRARY when it is set, else the loader."""
    why = deps.engine.unavailable()
    if why is None:
        return None
    pinned = deps.engine.library_path
    if pinned is not None:  # installing the wheel would not help: the variable wins over it
        why = why.replace(f"; {INSTALL_HINT}", "")
        return f"espeak-ng unavailable: AIWF_ESPEAK_LIBRARY={pinned} does not load ({why}); fix or unset it"
    return f"espeak-ng unavailable: {why}"


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[Deps]:
    """Read TTSSettings when the worker starts (ConfigError names a bad variable); the handlers' deps."""
    settings = TTSSettings.from_env()
    yield Deps(SpeechEngine(library_path=settings.espeak_library), store_for(startup.config))


SERVICE = Service(name="tts", subscriptions=[tts], probe=probe, lifespan=lifespan)
