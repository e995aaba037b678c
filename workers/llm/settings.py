"""The llm service's settings: AIWF_LLM_* (primary and fallback servers, timeouts, retries, breaker)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from aiwf.bus.settings import Settings
from aiwf.workers.llm.backends import MAX_RETRIES_LIMIT

__all__ = ["LLMSettings"]


class LLMSettings(Settings):
    """Which OpenAI-compatible servers answer; with no URL at all the extractive summarizer does."""

    url: str | None = Field(
        None,
        validation_alias="AIWF_LLM_URL",
        description="primary chat-completions server (http[s]://...); unset: extractive only",
    )
    model: str = Field(
        "default", min_length=1, validation_alias="AIWF_LLM_MODEL", description="model name asked of the primary"
    )
    api_key: SecretStr | None = Field(
        None, validation_alias="AIWF_LLM_API_KEY", description="bearer token of the primary"
    )
    api_key_file: Path | None = Field(
        None,
        validation_alias="AIWF_LLM_API_KEY_FILE",
        description="file holding it (a mounted secret, mode 0400/0440); used when AIWF_LLM_API_KEY is unset",
    )
    fallback_url: str | None = Field(
        None,
        validation_alias="AIWF_LLM_FALLBACK_URL",
        description="server used while the primary is down; unset: the extractive summarizer",
    )
    fallback_model: str = Field(
        "default",
        min_length=1,
        validation_alias="AIWF_LLM_FALLBACK_MODEL",
        description="model name asked of the fallback",
    )
    fallback_api_key: SecretStr | None = Field(
        None, validation_alias="AIWF_LLM_FALLBACK_API_KEY", description="bearer token of the fallback"
    )
    fallback_api_key_file: Path | None = Field(
        None,
        validation_alias="AIWF_LLM_FALLBACK_API_KEY_FILE",
        description="file holding it; used when AIWF_LLM_FALLBACK_API_KEY is unset",
    )
    timeout_s: float = Field(
        60.0,
        gt=0,
        validation_alias="AIWF_LLM_TIMEOUT",
        description="seconds one completion request may take, per server",
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=MAX_RETRIES_LIMIT,
        validation_alias="AIWF_LLM_MAX_RETRIES",
        description="retries of a failed request on the same server before it counts as down",
    )
    breaker_failures: int = Field(
        3,
        ge=1,
        validation_alias="AIWF_LLM_BREAKER_FAILURES",
        description="consecutive failures of the primary that open its circuit breaker",
    )
    breaker_reset_s: float = Field(
        30.0,
        gt=0,
        validation_alias="AIWF_LLM_BREAKER_RESET",
        description="seconds an open breaker waits before trying the primary again",
    )

    @field_validator("url", "fallback_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value
