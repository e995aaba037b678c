"""Configuration from the environment: `REDIS_URL` and `AIWF_*`, the same names as compose.yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aiwf.bus.errors import ConfigError

DEFAULT_DATA_DIR = Path(".aiwf")
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


@dataclass(frozen=True)
class BusConfig:
    """Everything the bus needs to connect; validated on construction."""

    redis_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    producer: str = "aiwf"
    socket_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    attempts: int = DEFAULT_ATTEMPTS
    marker_ttl_s: int = DEFAULT_MARKER_TTL_S
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.socket_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ConfigError("AIWF_SOCKET_TIMEOUT / AIWF_CONNECT_TIMEOUT must be > 0 seconds")
        if not 1 <= self.attempts <= 10:
            raise ConfigError(f"AIWF_REDIS_ATTEMPTS must be 1..10, got {self.attempts}")
        if self.marker_ttl_s < 60:
            raise ConfigError(f"AIWF_MARKER_TTL must be >= 60 seconds, got {self.marker_ttl_s}")
        if not 1024 <= self.max_event_bytes <= 64_000_000:
            raise ConfigError(f"AIWF_MAX_EVENT_BYTES must be 1024..64000000, got {self.max_event_bytes}")

    @classmethod
    def from_env(cls, **overrides: object) -> BusConfig:
        """Read REDIS_URL and AIWF_* from the environment; keyword overrides win."""
        env = os.environ
        values: dict[str, object] = {
            "redis_url": env.get("REDIS_URL") or None,
            "data_dir": Path(env.get("AIWF_DATA_DIR", str(DEFAULT_DATA_DIR))),
            "producer": env.get("AIWF_PRODUCER", "aiwf"),
            "socket_timeout_s": _number(env, "AIWF_SOCKET_TIMEOUT", DEFAULT_SOCKET_TIMEOUT_S),
            "connect_timeout_s": _number(env, "AIWF_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT_S),
            "attempts": int(_number(env, "AIWF_REDIS_ATTEMPTS", DEFAULT_ATTEMPTS)),
            "marker_ttl_s": int(_number(env, "AIWF_MARKER_TTL", DEFAULT_MARKER_TTL_S)),
            "max_event_bytes": int(_number(env, "AIWF_MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES)),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def env_number(name: str, default: float) -> float:
    """A number from the environment variable `name`, or `default` when unset; ConfigError names a bad value."""
    return _number(os.environ, name, default)


def _number(env: os._Environ[str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
