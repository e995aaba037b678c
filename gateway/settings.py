"""The gateway's settings: where it listens, how long a synchronous route waits, what it accepts."""

from __future__ import annotations

from pydantic import Field

from aiwf.bus.settings import Settings

__all__ = ["GatewaySettings"]


class GatewaySettings(Settings):
    """Where the HTTP gateway listens, how long each synchronous route waits, and the largest body it reads."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        validation_alias="AIWF_GATEWAY_HOST",
        description="address the gateway listens on (0.0.0.0 in a container); `aiwf gateway --host` wins",
    )
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias="AIWF_GATEWAY_PORT",
        description="port the gateway listens on; `aiwf gateway --port` wins",
    )
    llm_timeout_s: float = Field(
        30.0,
        gt=0,
        validation_alias="AIWF_GATEWAY_LLM_TIMEOUT",
        description="seconds POST /api/v1/llm/chat waits for the completion before answering 202",
    )
    tts_timeout_s: float = Field(
        30.0,
        gt=0,
        validation_alias="AIWF_GATEWAY_TTS_TIMEOUT",
        description="seconds POST /api/v1/tts/synthesize waits for the audio before answering 202",
    )
    auth_timeout_s: float = Field(
        15.0,
        gt=0,
        validation_alias="AIWF_GATEWAY_AUTH_TIMEOUT",
        description="seconds the /api/v1/auth routes wait for the auth service before answering 202",
    )
    documents_timeout_s: float = Field(
        30.0,
        gt=0,
        validation_alias="AIWF_GATEWAY_DOCUMENTS_TIMEOUT",
        description="seconds POST /api/v1/documents waits for the document to be processed before answering 202",
    )
    calendar_timeout_s: float = Field(
        30.0,
        gt=0,
        validation_alias="AIWF_GATEWAY_CALENDAR_TIMEOUT",
        description="seconds POST /api/v1/calendar/sync waits for the sync before answering 202",
    )
    rate_limit_address: str = Field(
        "600/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        validation_alias="AIWF_GATEWAY_RATE_LIMIT_ADDRESS",
        description="requests one client address may make to /api/v1 (`limits` notation: N/second, N/minute, ...)",
    )
    rate_limit_user: str = Field(
        "300/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        validation_alias="AIWF_GATEWAY_RATE_LIMIT_USER",
        description="requests one signed-in user may make (`limits` notation)",
    )
    audience: str | None = Field(
        None,
        min_length=1,
        validation_alias="AIWF_GATEWAY_AUDIENCE",
        description="audience an access token must name; unset: the one the auth service publishes with its JWKS",
    )
    cors_origins: str = Field(
        "",
        validation_alias="AIWF_GATEWAY_CORS_ORIGINS",
        description="comma-separated origins allowed to call the API from a browser; empty (default): none",
    )
    max_body_bytes: int = Field(
        1_000_000,
        ge=1024,
        le=64_000_000,
        validation_alias="AIWF_GATEWAY_MAX_BODY_BYTES",
        description="largest request body read; a bigger one is refused with 413",
    )
    retry_after_s: int = Field(
        30,
        ge=1,
        validation_alias="AIWF_GATEWAY_RETRY_AFTER",
        description="Retry-After (seconds) of a 503 for an offline service",
    )
    request_ttl_s: int = Field(
        86_400,
        ge=60,
        validation_alias="AIWF_GATEWAY_REQUEST_TTL",
        description="seconds GET /api/v1/requests/{id} can find a request",
    )
