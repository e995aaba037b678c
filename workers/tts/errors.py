"""Errors of the tts engine, sorted by what the service does next.

`InvalidSpeechRequest` (and its `UnknownVoice`) are permanent: the same request
fails the same way, so it goes to the dead letters. `EngineUnavailable` is
transient, a BackendUnavailable: the engine is missing or broken on this host, and
requests must wait until it is fixed, not be dead-lettered. `TtsError.transient`
carries that verdict so a handler can map it without a list of classes.
"""

from __future__ import annotations

from typing import ClassVar

from aiwf.schemas.errors import AiwfError, BackendUnavailable, PermanentError

__all__ = ["EngineUnavailable", "InvalidSpeechRequest", "TtsError", "UnknownVoice"]

INSTALL_HINT = "pip install espeakng-loader (or apt install espeak-ng)"


class TtsError(AiwfError):
    """Raised when speech cannot be produced; base of every tts engine error."""

    #: True when retrying later can succeed without changing the request.
    transient: ClassVar[bool] = False


class InvalidSpeechRequest(TtsError, PermanentError):
    """Raised when the request itself is wrong: empty or too long text, rate or pitch out of range."""


class UnknownVoice(InvalidSpeechRequest):
    """Raised when no installed espeak-ng voice answers to the requested name."""


class EngineUnavailable(TtsError, BackendUnavailable):
    """Raised when libespeak-ng or its data cannot be loaded or initialized on this host."""

    transient: ClassVar[bool] = True
