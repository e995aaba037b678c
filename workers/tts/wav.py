"""16-bit mono PCM to a WAV file (stdlib `wave`)."""

from __future__ import annotations

import array
import io
import sys
import wave

__all__ = ["SAMPLE_WIDTH", "encode_wav"]

#: Bytes per sample: espeak-ng emits signed 16-bit samples.
SAMPLE_WIDTH = 2


def encode_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap native-endian 16-bit mono samples in a WAV container (little-endian, as WAV wants)."""
    if sys.byteorder == "big":
        samples = array.array("h", pcm)
        samples.byteswap()
        pcm = samples.tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
