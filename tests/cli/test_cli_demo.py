"""`aiwf demo` as a user runs it: the spoken summary lands in ./summary.wav; a broken engine is named while it waits."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, assert_one_error

pytestmark = pytest.mark.slow


def test_demo_writes_summary_wav_in_the_current_directory(aiwf: Aiwf, r: redis.Redis, tmp_path: Path) -> None:
    """The demo ends 0, prints the path of ./summary.wav, and that file is a mono WAV of a few seconds."""
    result = aiwf("demo", "--timeout", "90", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "summary.wav"
    assert f"Spoken summary: {out}" in result.stdout
    with wave.open(str(out)) as speech:
        assert speech.getnchannels() == 1
        assert speech.getnframes() / speech.getframerate() > 1.0


def test_demo_names_the_degraded_tts_and_its_cause_while_it_waits(aiwf: Aiwf, r: redis.Redis, tmp_path: Path) -> None:
    """With AIWF_ESPEAK_LIBRARY pointing at no library: progress lines while waiting, `tts is degraded` with
    the variable as the cause (not the loader wheel) said during the run, and an error line naming both."""
    bogus = tmp_path / "libespeak-ng.so.1"
    bogus.write_bytes(b"not a library")
    result = aiwf("demo", "--timeout", "25", env={"AIWF_ESPEAK_LIBRARY": str(bogus)}, timeout=60)
    line = assert_one_error(result)
    assert "no tts.speech.synthesized from tts within 25s" in line
    assert f"tts is degraded: espeak-ng unavailable: AIWF_ESPEAK_LIBRARY={bogus} does not load" in line
    said = result.stdout
    assert f"! tts is degraded: espeak-ng unavailable: AIWF_ESPEAK_LIBRARY={bogus}" in said
    assert "waiting for tts (tts.speech.synthesized)" in said
    assert said.index("! tts is degraded") < said.index("waiting for tts")
    assert "pip install" not in said + line
    assert not (tmp_path / "summary.wav").exists()
