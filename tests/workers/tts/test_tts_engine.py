"""SpeechEngine against the real libespeak-ng from the espeakng-loader wheel."""

from __future__ import annotations

import array
import asyncio
import ctypes.util
import io
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from aiwf.workers.tts import (
    EngineUnavailable,
    InvalidSpeechRequest,
    Speech,
    SpeechEngine,
    TtsError,
    UnknownVoice,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engine() -> SpeechEngine:
    engine = SpeechEngine()
    if not engine.available():
        pytest.fail("espeak-ng is not available: pip install espeakng-loader")
    return engine


def _read_wav(speech: Speech) -> tuple[wave._wave_params, array.array[int]]:
    with wave.open(io.BytesIO(speech.wav), "rb") as wav:
        params = wav.getparams()
        samples = array.array("h", wav.readframes(params.nframes))
    if sys.byteorder == "big":
        samples.byteswap()
    return params, samples


def test_produces_real_wav(engine: SpeechEngine) -> None:
    """The WAV parses as mono 16-bit at the engine's rate, with audible samples and a matching duration."""
    speech = engine.synthesize("Hello world. The event was processed.")
    params, samples = _read_wav(speech)
    assert params.nchannels == 1
    assert params.sampwidth == 2
    assert params.framerate == speech.sample_rate == 22050
    assert params.nframes > 0
    assert speech.duration_s == pytest.approx(params.nframes / params.framerate)
    assert speech.duration_s > 0.5
    assert max(abs(s) for s in samples) > 1000
    assert speech.voice == "en"


def test_longer_text_lasts_longer(engine: SpeechEngine) -> None:
    """More words give a longer recording."""
    short = engine.synthesize("Hello.")
    long = engine.synthesize("Hello. This sentence is considerably longer than the first one.")
    assert long.duration_s > short.duration_s * 2


def test_faster_rate_is_shorter(engine: SpeechEngine) -> None:
    """A higher words-per-minute rate gives shorter audio for the same text."""
    text = "Speech rate changes how long this sentence takes to say."
    slow = engine.synthesize(text, rate_wpm=100)
    fast = engine.synthesize(text, rate_wpm=400)
    assert fast.duration_s < slow.duration_s * 0.6


def test_voices_include_english(engine: SpeechEngine) -> None:
    """The voice list is non-empty and has an English voice with its languages decoded."""
    voices = engine.voices()
    assert len(voices) > 10
    english = [v for v in voices if v.language.startswith("en")]
    assert english
    us = next(v for v in voices if v.identifier == "gmw/en-US")
    assert us.languages == ("en-us", "en")
    assert us.gender == "male"
    assert all(v.name and v.identifier for v in voices)


def test_voice_by_name_identifier_and_language(engine: SpeechEngine) -> None:
    """A voice is selected by its language, its identifier or its display name."""
    for voice in ("de", "gmw/en-US", "English (Great Britain)", "EN-us", "chr-US-Qaaa-x-west"):
        speech = engine.synthesize("Guten Tag, hello.", voice=voice)
        assert speech.duration_s > 0
        assert speech.voice == voice


def test_version(engine: SpeechEngine) -> None:
    """version() reports espeak-ng's dotted version."""
    assert engine.version().count(".") >= 1


def test_voice_variant(engine: SpeechEngine) -> None:
    """A listed variant after "+" changes the voice; an unlisted one is an unknown voice."""
    assert "f3" in engine.variants()
    plain = engine.synthesize("Variants change the sound.", voice="en")
    female = engine.synthesize("Variants change the sound.", voice="en+f3")
    assert female.wav != plain.wav
    with pytest.raises(UnknownVoice):
        engine.synthesize("hello", voice="en+no-such-variant")


def _run_fresh(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a new interpreter: a crash in C then fails the test, not pytest."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_listed_voice_speaks() -> None:
    """Every listed voice (by identifier, name and language) and every variant gives audible speech."""
    done = _run_fresh(
        "from workers.tts import SpeechEngine\n"
        "engine = SpeechEngine()\n"
        "specs = [s for v in engine.voices() for s in (v.identifier, v.name, v.language)]\n"
        "specs += ['en+' + variant for variant in engine.variants()]\n"
        "silent = [s for s in specs if engine.synthesize('Hello 123.', voice=s).duration_s < 0.2]\n"
        "print(len(specs), 'silent:', silent)\n"
    )
    assert done.returncode == 0, done.stderr
    count, verdict = done.stdout.split(" ", 1)
    assert int(count) > 300
    assert verdict.strip() == "silent: []"


def test_unlisted_voice_files_refused_before_c() -> None:
    """Voice files espeak-ng would load but cannot speak with ("f3", "gmw") are UnknownVoice, not a segfault."""
    done = _run_fresh(
        "from workers.tts import SpeechEngine, UnknownVoice\n"
        "engine = SpeechEngine()\n"
        "for spec in ('f3', 'gmw', 'gmw/', '!v/f3', 'mb/mb-en1'):\n"
        "    try:\n"
        "        engine.synthesize('hello', voice=spec)\n"
        "    except UnknownVoice:\n"
        "        print('refused', spec)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused") == 5


@pytest.mark.parametrize("voice", ["xx-nope", "", "+f3", "../../../etc/passwd", "/etc/passwd", "v" * 101])
def test_unknown_voice(engine: SpeechEngine, voice: str) -> None:
    """A voice espeak-ng does not know, or a path-like name, raises UnknownVoice."""
    with pytest.raises(UnknownVoice):
        engine.synthesize("hello", voice=voice)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(engine: SpeechEngine, text: str) -> None:
    """Empty or blank text raises InvalidSpeechRequest."""
    with pytest.raises(InvalidSpeechRequest, match="empty"):
        engine.synthesize(text)


def test_text_too_long() -> None:
    """Text over the engine's character limit raises InvalidSpeechRequest before synthesis."""
    small = SpeechEngine(max_text_chars=10)
    with pytest.raises(InvalidSpeechRequest, match="limit"):
        small.synthesize("eleven char")


@pytest.mark.parametrize("text", ["a\x00b", "bad \ud800 surrogate"])
def test_text_that_c_cannot_take(engine: SpeechEngine, text: str) -> None:
    """A NUL character or an unencodable surrogate raises InvalidSpeechRequest."""
    with pytest.raises(InvalidSpeechRequest):
        engine.synthesize(text)


@pytest.mark.parametrize("rate", [79, 451, 0, -5, True, 175.0])
def test_invalid_rate(engine: SpeechEngine, rate: int) -> None:
    """A rate outside 80..450 words per minute, or not an int, raises InvalidSpeechRequest."""
    with pytest.raises(InvalidSpeechRequest, match="rate_wpm"):
        engine.synthesize("hello", rate_wpm=rate)


@pytest.mark.parametrize("pitch", [-1, 101])
def test_invalid_pitch(engine: SpeechEngine, pitch: int) -> None:
    """A pitch outside 0..100 raises InvalidSpeechRequest."""
    with pytest.raises(InvalidSpeechRequest, match="pitch"):
        engine.synthesize("hello", pitch=pitch)


def test_audio_bound_stops_synthesis(engine: SpeechEngine) -> None:
    """Text that would exceed the audio limit raises InvalidSpeechRequest, and the engine still works after."""
    bounded = SpeechEngine(max_audio_seconds=1)
    with pytest.raises(InvalidSpeechRequest, match="last over"):
        bounded.synthesize("This sentence certainly takes more than one second to speak aloud.")
    assert engine.synthesize("Still working.").duration_s > 0


def test_errors_say_whether_to_wait() -> None:
    """EngineUnavailable is transient; request errors are permanent; all are TtsError."""
    assert EngineUnavailable.transient
    assert not InvalidSpeechRequest.transient
    assert not UnknownVoice.transient
    assert issubclass(UnknownVoice, InvalidSpeechRequest)
    assert issubclass(EngineUnavailable, TtsError)


def test_bogus_library_path(tmp_path: Path) -> None:
    """A library path that does not exist gives EngineUnavailable with the fix in the message."""
    bogus = SpeechEngine(library_path=tmp_path / "libespeak-ng-missing.so")
    assert not bogus.available()
    with pytest.raises(EngineUnavailable, match="pip install espeakng-loader"):
        bogus.synthesize("hello")
    with pytest.raises(EngineUnavailable):
        bogus.voices()


def test_garbage_library_file(tmp_path: Path) -> None:
    """A file that is not a shared library gives EngineUnavailable."""
    fake = tmp_path / "libespeak-ng.so"
    fake.write_bytes(b"\x7fELF not really")
    with pytest.raises(EngineUnavailable, match="cannot load"):
        SpeechEngine(library_path=fake).synthesize("hello")


def test_library_without_espeak_symbols() -> None:
    """A real shared library that is not espeak-ng gives EngineUnavailable."""
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.fail("libc not found by ctypes.util.find_library")
    with pytest.raises(EngineUnavailable, match="cannot load"):
        SpeechEngine(library_path=Path(libc)).version()


def test_missing_data_does_not_kill_process(tmp_path: Path) -> None:
    """In a fresh process, an empty data dir gives EngineUnavailable instead of espeak-ng's exit(1)."""
    script = (
        "from pathlib import Path\n"
        "from workers.tts import SpeechEngine, EngineUnavailable\n"
        "import espeakng_loader\n"
        f"engine = SpeechEngine(Path(espeakng_loader.get_library_path()), Path({str(tmp_path)!r}))\n"
        "try:\n"
        "    engine.synthesize('hello')\n"
        "except EngineUnavailable as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    done = _run_fresh(script)
    assert done.returncode == 0, done.stderr
    assert "unavailable: no espeak-ng data" in done.stdout


def test_falls_back_to_system_library() -> None:
    """Without the wheel, the library ctypes.util.find_library finds is used; with neither, the fix is named."""
    done = _run_fresh(
        "import ctypes.util, os, sys\n"
        "import espeakng_loader\n"
        "library, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()\n"
        "sys.modules['espeakng_loader'] = None  # the wheel is gone\n"
        "os.environ['ESPEAK_DATA_PATH'] = data  # where a system espeak-ng would find its data\n"
        "from workers.tts import SpeechEngine, EngineUnavailable\n"
        "ctypes.util.find_library = lambda name: None\n"
        "try:\n"
        "    SpeechEngine().version()\n"
        "except EngineUnavailable as exc:\n"
        "    print('none:', exc)\n"
        "ctypes.util.find_library = lambda name: library if name == 'espeak-ng' else None\n"
        "print('system:', SpeechEngine().synthesize('hello').duration_s > 0)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "none: libespeak-ng not found; pip install espeakng-loader (or apt install espeak-ng)" in done.stdout
    assert "system: True" in done.stdout


@pytest.mark.asyncio
async def test_synthesize_async_concurrently(engine: SpeechEngine) -> None:
    """Concurrent async requests are serialized safely and each gets its own audio."""
    texts = ["One.", "Two words here.", "Three is a longer sentence than both of the others."]
    results = await asyncio.gather(*(engine.synthesize_async(t) for t in texts))
    durations = [r.duration_s for r in results]
    assert durations == sorted(durations)
    for text, speech in zip(texts, results, strict=True):
        expected = engine.synthesize(text).duration_s
        assert speech.duration_s == pytest.approx(expected, rel=0.05)


@pytest.mark.asyncio
async def test_event_loop_runs_during_synthesis(engine: SpeechEngine) -> None:
    """While a synthesis runs in its thread, other coroutines keep running."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await engine.synthesize_async("A long sentence to keep the engine busy for a while. " * 20)
    task.cancel()
    assert ticks > 1


def test_request_and_engine_limits_agree() -> None:
    """The engine takes every text a tts.speech.requested may carry, and no more."""
    from aiwf.schemas.events.tts import MAX_SPEECH_CHARS, SpeechRequested
    from aiwf.workers.tts.engine import MAX_TEXT_CHARS

    limit = next(m.max_length for m in SpeechRequested.model_fields["text"].metadata if hasattr(m, "max_length"))
    assert limit == MAX_SPEECH_CHARS == MAX_TEXT_CHARS == 20_000


def test_long_text_is_spoken_in_pieces_into_one_wav(engine: SpeechEngine) -> None:
    """A 6 143-character summary (over the old 5 000 limit) becomes one WAV, about as long as its pieces together."""
    from aiwf.workers.tts.engine import CHUNK_CHARS, split_text

    sentence = "The pipeline keeps every event in order and nothing is lost. "
    text = (sentence * 101)[:6143]
    pieces = split_text(text)
    assert len(pieces) == 4
    assert all(len(p) <= CHUNK_CHARS for p in pieces)
    assert " ".join(pieces).split() == text.split()
    whole = engine.synthesize(text, rate_wpm=450)
    params, _ = _read_wav(whole)
    assert params.nframes / params.framerate == pytest.approx(whole.duration_s)
    parts = sum(engine.synthesize(p, rate_wpm=450).duration_s for p in pieces)
    assert whole.duration_s == pytest.approx(parts, rel=0.01)
    assert whole.duration_s > 60


def test_split_text_cuts_long_words_and_keeps_every_character() -> None:
    """A word longer than a piece is cut hard; sentences are packed whole where they fit."""
    from aiwf.workers.tts.engine import split_text

    assert split_text("One. Two. Three.", limit=9) == ["One. Two.", "Three."]
    assert split_text("a" * 25, limit=10) == ["a" * 10, "a" * 10, "a" * 5]
