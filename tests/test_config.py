"""The settings tree: BusConfig and its parts, each service's settings, RetryPolicy.resolved, bad values in one line."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from aiwf.bus.blobs import store_for
from aiwf.bus.config import BusConfig, WorkerSettings
from aiwf.bus.consume import Consumer
from aiwf.bus.errors import ConfigError
from aiwf.bus.handler import Subscription
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.settings import Settings, variable
from aiwf.bus.worker import Startup
from aiwf.cli.config import PARTS, model_of
from aiwf.schemas.secrets import keys_dir
from aiwf.workers.auth.runtime import Settings as AuthRuntimeSettings
from aiwf.workers.documents.settings import DocumentsSettings
from aiwf.workers.llm.settings import LLMSettings


def test_direct_construction_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """BusConfig(...) is exactly its keyword arguments plus defaults, whatever the environment says."""
    monkeypatch.setenv("AIWF_SOCKET_TIMEOUT", "9")
    monkeypatch.setenv("AIWF_RECLAIM_IDLE", "2")
    config = BusConfig(redis_url="redis://h:1/0", producer="p")
    assert config.socket_timeout_s == 1.0
    assert config.worker.reclaim_idle_s == 30.0
    assert (config.redis_url, config.producer) == ("redis://h:1/0", "p")


def test_from_env_reads_every_part_and_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads REDIS_URL / AIWF_* into the bus and its nested parts; keyword overrides win over variables."""
    monkeypatch.setenv("REDIS_URL", "redis://env:6379/0")
    monkeypatch.setenv("AIWF_SOCKET_TIMEOUT", "2.5")
    monkeypatch.setenv("AIWF_PRODUCER", "from-env")
    monkeypatch.setenv("AIWF_RECLAIM_IDLE", "2")
    monkeypatch.setenv("AIWF_APPENDFSYNC", "always")
    monkeypatch.setenv("AIWF_LOG_LEVEL", "debug")
    config = BusConfig.from_env(producer="override")
    assert config.redis_url == "redis://env:6379/0"
    assert config.socket_timeout_s == 2.5
    assert config.producer == "override"
    assert config.worker.reclaim_idle_s == 2.0
    assert config.worker.log_level == "DEBUG"
    assert config.server.appendfsync == "always"


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set to '' (compose's `${X:-}`) is the default, not an error."""
    monkeypatch.setenv("AIWF_SOCKET_TIMEOUT", "")
    monkeypatch.setenv("AIWF_LLM_MODEL", "")
    assert BusConfig.from_env().socket_timeout_s == 1.0
    assert LLMSettings.from_env().model == "default"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AIWF_SOCKET_TIMEOUT", "abc", "AIWF_SOCKET_TIMEOUT must be a number > 0, got 'abc'"),
        ("AIWF_SOCKET_TIMEOUT", "0", "AIWF_SOCKET_TIMEOUT must be a number > 0, got '0'"),
        ("AIWF_REDIS_ATTEMPTS", "99", "AIWF_REDIS_ATTEMPTS must be an integer 1..10, got '99'"),
        ("AIWF_MARKER_TTL", "5", "AIWF_MARKER_TTL must be an integer >= 60, got '5'"),
        ("AIWF_APPENDFSYNC", "sometimes", "AIWF_APPENDFSYNC must be one of always|everysec|no, got 'sometimes'"),
        ("AIWF_RECLAIM_IDLE", "0", "AIWF_RECLAIM_IDLE must be a number >= 0.05, got '0'"),
        ("AIWF_HEALTH_PORT", "99999", "AIWF_HEALTH_PORT must be an integer 1..65535, got '99999'"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    """A bad value is a ConfigError whose single line names the variable, what it accepts and what it got."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        BusConfig.from_env()
    assert str(caught.value) == message


def test_a_bad_keyword_is_a_config_error_too() -> None:
    """Direct construction validates as well: a bad keyword value or an unknown name is a one-line ConfigError."""
    with pytest.raises(ConfigError, match=r"^AIWF_SOCKET_TIMEOUT must be a number > 0, got 0$"):
        BusConfig(socket_timeout_s=0)
    with pytest.raises(ConfigError, match="has no setting 'socket_timeout'"):
        BusConfig(socket_timeout=1)  # type: ignore[call-arg]  # the unknown name is the point


def test_every_part_documents_every_variable() -> None:
    """Every field of every part names its variable (or is a nested part) and has a description."""
    for part in PARTS:
        model = model_of(part)
        for field, info in model.model_fields.items():
            nested = isinstance(info.annotation, type) and issubclass(info.annotation, Settings)
            assert nested or variable(info), f"{part}.{field} names no variable"
            assert info.exclude or info.description, f"{part}.{field} has no description"


def test_retry_policy_takes_reclaim_idle_from_the_bus() -> None:
    """RetryPolicy() leaves reclaim_idle_s to the bus: resolved(config) fills it in, an explicit value is kept."""
    config = BusConfig(worker=WorkerSettings(reclaim_idle_s=2.0))
    assert RetryPolicy().reclaim_idle_s is None
    assert RetryPolicy().resolved(config).reclaim_idle_s == 2.0
    assert RetryPolicy().resolved(config).lease_renew_s == pytest.approx(2.0 / 3)
    assert RetryPolicy(reclaim_idle_s=1.0).resolved(config).reclaim_idle_s == 1.0
    with pytest.raises(ConfigError, match="resolved"):
        _ = RetryPolicy().lease_renew_s


async def test_a_consumer_resolves_its_policy_without_touching_the_subscription(client: aioredis.Redis) -> None:
    """A Consumer reclaims after the bus's reclaim idle time; the shared Subscription object keeps its own policy."""
    sub = Subscription(stream="s", group="g")
    consumer = Consumer(client, BusConfig(worker=WorkerSettings(reclaim_idle_s=4.0)), sub, "tests")
    assert consumer.sub.retry.reclaim_idle_s == 4.0
    assert sub.retry.reclaim_idle_s is None


def test_blob_and_keys_dirs_default_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Blobs and keys live under AIWF_DATA_DIR unless AIWF_BLOB_DIR / AIWF_KEYS_DIR set them apart."""
    monkeypatch.delenv("AIWF_KEYS_DIR", raising=False)
    monkeypatch.setenv("AIWF_DATA_DIR", str(tmp_path))
    assert store_for(BusConfig.from_env()).root == tmp_path / "blobs"
    assert keys_dir() == tmp_path / "keys"
    monkeypatch.setenv("AIWF_BLOB_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("AIWF_KEYS_DIR", str(tmp_path / "k"))
    assert store_for(BusConfig.from_env()).root == tmp_path / "b"
    assert keys_dir() == tmp_path / "k"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AIWF_CHUNK_SIZE": "100", "AIWF_CHUNK_OVERLAP": "100"}, "AIWF_CHUNK_OVERLAP (100) must be < AIWF_CHUNK_SIZE"),
        ({"AIWF_LLM_URL": "ftp://x"}, "AIWF_LLM_URL: must start with http:// or https://, got 'ftp://x'"),
        ({"AIWF_LLM_TIMEOUT": "-1"}, "AIWF_LLM_TIMEOUT must be a number > 0, got '-1'"),
        ({"AIWF_CALENDAR_PAST_DAYS": "200", "AIWF_CALENDAR_FUTURE_DAYS": "365"}, "at most 400 days"),
        ({"AIWF_CALENDAR_DEFAULT_TZ": "Mars/Olympus"}, "unknown default_tz 'Mars/Olympus'"),
        ({"AIWF_AUTH_ACCESS_TTL": "900", "AIWF_AUTH_REFRESH_TTL": "60"}, "access_ttl_s < refresh_ttl_s"),
        ({"AIWF_AUTH_LOCKOUT_FAILURES": "0"}, "AIWF_AUTH_LOCKOUT_FAILURES must be an integer 1..100, got '0'"),
    ],
)
def test_a_bad_service_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    """Each service's from_env refuses an impossible value with one ConfigError line that names the variable."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    part = next(
        p
        for p in PARTS
        if p not in {"bus", "bus.server", "bus.worker", "secrets"}
        and any(variable(i) in env for i in model_of(p).model_fields.values())
    )
    model = model_of(part)
    assert issubclass(model, Settings)
    with pytest.raises(ConfigError) as caught:
        model.from_env()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_llm_api_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """AIWF_LLM_API_KEY is held as a SecretStr: its value never shows in the model's repr."""
    monkeypatch.setenv("AIWF_LLM_API_KEY", "sk-do-not-print")
    settings = LLMSettings.from_env()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-do-not-print"
    assert "sk-do-not-print" not in repr(settings)


def test_auth_runtime_settings_come_from_the_auth_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """auth's runtime Settings carry AIWF_AUTH_* values; the key grace defaults to the access TTL + 300 s."""
    monkeypatch.setenv("AIWF_AUTH_ACCESS_TTL", "600")
    monkeypatch.setenv("AIWF_AUTH_LOCKOUT_FAILURES", "3")
    monkeypatch.setenv("AIWF_AUTH_ISSUER", "issuer-x")
    settings = AuthRuntimeSettings.from_env()
    assert settings.auth.access_ttl_s == 600
    assert settings.auth.lockout.max_failures == 3
    assert settings.auth.issuer == "issuer-x"
    assert settings.grace_s == 900


def test_documents_settings_shape_the_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """AIWF_MAX_DOCUMENT_BYTES becomes the extractor's byte limit; chunk size and overlap are read as given."""
    monkeypatch.setenv("AIWF_MAX_DOCUMENT_BYTES", "4096")
    monkeypatch.setenv("AIWF_CHUNK_SIZE", "300")
    settings = DocumentsSettings.from_env()
    assert settings.limits.max_bytes == 4096
    assert (settings.chunk_size, settings.chunk_overlap) == (300, 150)


@pytest.mark.parametrize(
    ("service", "name", "value"),
    [
        ("llm", "AIWF_LLM_TIMEOUT", "soon"),
        ("pipeline", "AIWF_PIPELINE_STEP_TIMEOUT", "never"),  # tts reads the bus part from its worker's config
        ("documents", "AIWF_CHUNK_SIZE", "big"),
    ],
)
async def test_services_read_settings_at_startup_not_import(
    monkeypatch: pytest.MonkeyPatch, service: str, name: str, value: str
) -> None:
    """llm, pipeline and documents import cleanly under a bad setting; their lifespan refuses it naming the variable."""
    monkeypatch.setenv(name, value)
    module = importlib.import_module(f"aiwf.workers.{service}.service")
    assert not hasattr(module, "deps")  # no module-global state: the lifespan yields it
    client = aioredis.Redis()  # never connected: the lifespan fails before any command
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        async with module.SERVICE.lifespan(Startup(service, BusConfig(), client)):
            pass
    await client.aclose()
