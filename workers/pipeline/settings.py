"""The pipeline worker's settings: AIWF_PIPELINE_* (step deadline, sweep period) and the voice."""

from __future__ import annotations

from pydantic import Field

from aiwf.bus.settings import Settings

__all__ = ["PipelineSettings"]


class PipelineSettings(Settings):
    """How long a step may take, how often late runs are looked for, and the summary's voice."""

    step_timeout_s: float = Field(
        600.0,
        gt=0,
        validation_alias="AIWF_PIPELINE_STEP_TIMEOUT",
        description="seconds a step may go unanswered before its run is failed",
    )
    check_every_s: float = Field(
        5.0, gt=0, validation_alias="AIWF_PIPELINE_CHECK_EVERY", description="seconds between sweeps for late runs"
    )
    voice: str = Field(
        "en", min_length=1, validation_alias="AIWF_SUMMARY_VOICE", description="espeak-ng voice of the spoken summary"
    )
