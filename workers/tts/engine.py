"""Speech synthesis with espeak-ng through ctypes: text in, a real WAV out.

No apt needed: the `espeakng-loader` wheel carries libespeak-ng and its data;
the system libespeak-ng (apt install espeak-ng) is the fallback. The C library
is blocking and not thread-safe, so each synthesis holds the process-wide lock,
and `synthesize_async` runs it in a worker thread.

Long text is spoken in pieces of at most `CHUNK_CHARS`, cut at sentence ends where it
can be, and the pieces' samples are joined into one WAV: the lock is taken per piece,
so one long request does not hold every other one back for its whole length.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from aiwf.schemas.events.tts import MAX_SPEECH_CHARS
from aiwf.workers.tts._espeak import LOCK, EspeakLibrary, open_library
from aiwf.workers.tts.errors import EngineUnavailable, InvalidSpeechRequest, UnknownVoice
from aiwf.workers.tts.voices import Voice
from aiwf.workers.tts.wav import SAMPLE_WIDTH, encode_wav

__all__ = [
    "CHUNK_CHARS",
    "DEFAULT_PITCH",
    "DEFAULT_RATE_WPM",
    "DEFAULT_VOICE",
    "MAX_AUDIO_SECONDS",
    "MAX_PITCH",
    "MAX_RATE_WPM",
    "MAX_TEXT_CHARS",
    "MIN_PITCH",
    "MIN_RATE_WPM",
    "Speech",
    "SpeechEngine",
    "split_text",
]

DEFAULT_VOICE = "en"
DEFAULT_RATE_WPM = 175
#: espeak-ng's own bounds (espeakRATE_MINIMUM / espeakRATE_MAXIMUM).
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
DEFAULT_PITCH = 50
MIN_PITCH, MAX_PITCH = 0, 100
#: Longest text accepted, in characters: what a tts.speech.requested may carry, so the two agree.
MAX_TEXT_CHARS = MAX_SPEECH_CHARS
#: Synthesis stops past this much audio: bounds memory (about 2.6 MiB a minute) whatever the text
#: does; 50 minutes is what MAX_TEXT_CHARS of ordinary prose take at the slowest rate, 80 wpm.
MAX_AUDIO_SECONDS = 3000
#: Most characters spoken in one espeak_Synth call.
CHUNK_CHARS = 2000
_SENTENCE_END = re.compile(r"(?<=[.!?;:\n])\s+")
_MAX_VOICE_CHARS = 100


@dataclass(frozen=True, slots=True)
class Speech:
    """A synthesized utterance: a mono 16-bit WAV file and what describes it."""

    wav: bytes
    sample_rate: int
    duration_s: float
    voice: str


class SpeechEngine:
    """espeak-ng speech synthesis; loads the library lazily, once per process.

    `library_path`/`data_path` pin a libespeak-ng and its espeak-ng-data;
    without them the espeakng-loader wheel is used, else the system library.
    """

    def __init__(
        self,
        library_path: Path | None = None,
        data_path: Path | None = None,
        *,
        max_text_chars: int = MAX_TEXT_CHARS,
        max_audio_seconds: int = MAX_AUDIO_SECONDS,
    ) -> None:
        if max_text_chars < 1 or max_audio_seconds < 1:
            msg = "max_text_chars and max_audio_seconds must be positive"
            raise ValueError(msg)
        self._library_path = library_path
        self._data_path = data_path
        self._max_text_chars = max_text_chars
        self._max_audio_seconds = max_audio_seconds
        self._library: EspeakLibrary | None = None

    def _engine(self) -> EspeakLibrary:
        """The loaded library; raises EngineUnavailable (transient) when it cannot load."""
        if self._library is None:
            self._library = open_library(self._library_path, self._data_path)
        return self._library

    def available(self) -> bool:
        """True when libespeak-ng and its data load and initialize on this host."""
        return self.unavailable() is None

    def unavailable(self) -> str | None:
        """None when libespeak-ng and its data load and initialize on this host, else why not."""
        try:
            self._engine()
        except EngineUnavailable as exc:
            return str(exc)
        return None

    @property
    def library_path(self) -> Path | None:
        """The libespeak-ng this engine was pinned to (None: the wheel's, else the system's)."""
        return self._library_path

    def version(self) -> str:
        """The espeak-ng version string, e.g. "1.52.0"."""
        engine = self._engine()
        with LOCK:
            return engine.version()

    def voices(self) -> list[Voice]:
        """Every installed voice, in espeak-ng's order."""
        engine = self._engine()
        with LOCK:
            return list(engine.catalog().voices)

    def variants(self) -> list[str]:
        """Voice variants, usable as a suffix: "en+f3"."""
        engine = self._engine()
        with LOCK:
            return list(engine.catalog().variants)

    def synthesize(
        self,
        text: str,
        voice: str = DEFAULT_VOICE,
        rate_wpm: int = DEFAULT_RATE_WPM,
        pitch: int = DEFAULT_PITCH,
    ) -> Speech:
        """Speak `text` into a WAV; blocks.

        `voice` is a listed voice's name, identifier or language, optionally
        with "+variant"; `rate_wpm` is in 80..450 and `pitch` in 0..100.
        """
        self._check_text(text)
        _check_range("rate_wpm", rate_wpm, MIN_RATE_WPM, MAX_RATE_WPM)
        _check_range("pitch", pitch, MIN_PITCH, MAX_PITCH)
        _check_voice_name(voice)
        engine = self._engine()
        budget = engine.sample_rate * self._max_audio_seconds
        pieces: list[bytes] = []
        for part in split_text(text):
            with LOCK:
                if not engine.set_voice(voice):
                    raise UnknownVoice(f"no espeak-ng voice named {voice!r}; see SpeechEngine.voices()")
                engine.set_prosody(rate_wpm, pitch)
                output = engine.synth(part, budget)
            if output.truncated:
                raise InvalidSpeechRequest(f"speech would last over {self._max_audio_seconds} s; send shorter text")
            pieces.append(output.pcm)
            budget -= len(output.pcm) // SAMPLE_WIDTH
        pcm = b"".join(pieces)
        frames = len(pcm) // SAMPLE_WIDTH
        return Speech(
            wav=encode_wav(pcm, engine.sample_rate),
            sample_rate=engine.sample_rate,
            duration_s=frames / engine.sample_rate,
            voice=voice,
        )

    async def synthesize_async(
        self,
        text: str,
        voice: str = DEFAULT_VOICE,
        rate_wpm: int = DEFAULT_RATE_WPM,
        pitch: int = DEFAULT_PITCH,
    ) -> Speech:
        """`synthesize` in a worker thread, so the event loop keeps running meanwhile."""
        return await asyncio.to_thread(self.synthesize, text, voice, rate_wpm, pitch)

    def _check_text(self, text: object) -> None:
        if not isinstance(text, str):
            raise InvalidSpeechRequest(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise InvalidSpeechRequest("text is empty")
        if len(text) > self._max_text_chars:
            raise InvalidSpeechRequest(f"text has {len(text)} characters; the limit is {self._max_text_chars}")
        if "\x00" in text:
            raise InvalidSpeechRequest("text contains a NUL character")
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise InvalidSpeechRequest(f"text is not valid Unicode: {exc.reason}") from exc


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSpeechRequest(f"{name} must be an integer in {low}..{high}, got {value!r}")


def _check_voice_name(voice: object) -> None:
    if not isinstance(voice, str) or len(voice) > _MAX_VOICE_CHARS:
        raise UnknownVoice(f"{voice!r} is not a voice name; see SpeechEngine.voices()")


def split_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters: whole sentences packed together where they fit,
    else cut at a space, else (one unbroken word) cut hard."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        rest = sentence
        while len(rest) > limit:
            cut = rest.rfind(" ", 0, limit + 1)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(rest[:cut])
            rest = rest[cut:].lstrip()
        if current and len(current) + 1 + len(rest) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {rest}" if current else rest
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()]
