"""tts service engine: espeak-ng speech synthesis, no Redis and no bus.

Files in reading order: errors.py (what can go wrong, and whether to wait),
voices.py (installed voices), _espeak.py (ctypes binding, lock, one init per
process), wav.py (PCM to WAV), engine.py (SpeechEngine: validate, synthesize).
"""

from aiwf.workers.tts.engine import Speech, SpeechEngine
from aiwf.workers.tts.errors import (
    EngineUnavailable,
    InvalidSpeechRequest,
    TtsError,
    UnknownVoice,
)
from aiwf.workers.tts.voices import Voice

__all__ = [
    "EngineUnavailable",
    "InvalidSpeechRequest",
    "Speech",
    "SpeechEngine",
    "TtsError",
    "UnknownVoice",
    "Voice",
]
