"""The tts service's settings: which libespeak-ng speaks."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from aiwf.bus.settings import Settings

__all__ = ["TTSSettings"]


class TTSSettings(Settings):
    """The speech engine's library; the voice and rate come with each request."""

    espeak_library: Path | None = Field(
        None,
        validation_alias="AIWF_ESPEAK_LIBRARY",
        description="libespeak-ng to load; default: the espeakng-loader wheel's, else the system's",
    )
