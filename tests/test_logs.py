"""Structured logs: JSON and console rendering, the event's ids on every line, secrets masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from nacl.public import PrivateKey
from pydantic import BaseModel

from aiwf.bus.errors import ConfigError
from aiwf.bus.logs import configure_logging, event_logger, reset_logging
from aiwf.bus.middleware.logging import logging_middleware
from aiwf.schemas import Envelope
from aiwf.schemas.secrets import MASK, seal
from tests.events import ItemCreated

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
AIWF = str(Path(sys.executable).parent / "aiwf")
IDS = ("event_id", "event_type", "correlation_id", "causation_id", "trace_id", "service", "consumer", "group")


@pytest.fixture(autouse=True)
def _clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AIWF_LOG_FORMAT", raising=False)
    monkeypatch.delenv("AIWF_LOG_LEVEL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield
    reset_logging()


@dataclass(frozen=True)
class Ctx:
    """The attributes of a handler's Context that the logging middleware reads."""

    envelope: Envelope
    service: str = "llm"
    consumer: str = "llm-host-1"
    group: str = "llm"
    deliveries: int = 1


def envelope(traceparent: str | None = TRACEPARENT) -> Envelope:
    """A caused event, so every id differs from the others."""
    return Envelope.wrap(
        ItemCreated(title="t"),
        producer="tests",
        correlation_id="corr-1",
        causation_id="cause-1",
        traceparent=traceparent,
    )


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of `stream`, each parsed on its own (one JSON object per line)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_handler_line_is_one_json_object_with_the_event_ids() -> None:
    """A handler's line in JSON carries timestamp (ISO, UTC), level, logger, message, service and the event's ids."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    env = envelope()
    log = event_logger(env, service="llm", consumer="llm-host-1", group="llm")
    log.info("summarised", words=42)
    log.warning("slow backend")
    first, second = json_lines(out)
    assert first["message"] == "summarised"
    assert first["level"] == "info"
    assert first["logger"] == "aiwf.handler"
    assert first["words"] == 42
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert {k: first[k] for k in IDS} == {
        "event_id": env.id,
        "event_type": "testing.item.created",
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "trace_id": TRACE_ID,
        "service": "llm",
        "consumer": "llm-host-1",
        "group": "llm",
    }
    assert second["level"] == "warning"
    assert second["event_id"] == env.id


def test_event_without_traceparent_has_no_trace_id() -> None:
    """An envelope without trace context logs trace_id null rather than a made-up one."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    event_logger(envelope(traceparent=None), service="llm", consumer="c", group="g").info("x")
    assert json_lines(out)[0]["trace_id"] is None


def test_json_when_stderr_is_not_a_terminal() -> None:
    """With no format given and no AIWF_LOG_FORMAT, a stream that is not a terminal gets JSON lines."""
    out = io.StringIO()
    configure_logging("tts", stream=out)
    logging.getLogger("aiwf.worker").warning("started %d consumers", 2)
    (line,) = json_lines(out)
    assert line["message"] == "started 2 consumers"
    assert line["service"] == "tts"
    assert line["logger"] == "aiwf.worker"


def _pty_output(write: Any) -> str:
    """What a logger configured on a pseudo-terminal printed (configure + log done by `write`)."""
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stream:
            write(stream)
            stream.flush()
        return os.read(leader, 65536).decode()
    finally:
        os.close(leader)
        os.close(follower)


def test_console_with_colours_on_a_terminal() -> None:
    """On a terminal the line is readable and coloured, not JSON."""

    def write(stream: Any) -> None:
        configure_logging("documents", stream=stream)
        event_logger(envelope(), service="documents", consumer="c", group="g").info("extracted")

    text = _pty_output(write)
    assert "\x1b[" in text
    assert "extracted" in text
    assert "event_id" in text
    assert not text.lstrip().startswith("{")


def test_aiwf_log_format_forces_either_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """AIWF_LOG_FORMAT=console gives console lines off a terminal (uncoloured); =json gives JSON on one."""
    monkeypatch.setenv("AIWF_LOG_FORMAT", "console")
    out = io.StringIO()
    configure_logging("llm", stream=out)
    event_logger(envelope(), service="llm", consumer="c", group="g").info("asked")
    text = out.getvalue()
    assert "asked" in text
    assert "correlation_id=corr-1" in text
    assert "\x1b[" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)

    monkeypatch.setenv("AIWF_LOG_FORMAT", "json")

    def write(stream: Any) -> None:
        configure_logging("llm", stream=stream)
        logging.getLogger("aiwf.consume").warning("on a terminal")

    assert json.loads(_pty_output(write))["message"] == "on a terminal"


def test_level_from_aiwf_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """AIWF_LOG_LEVEL=WARNING drops info lines of structlog and stdlib loggers; a bad level is a ConfigError."""
    monkeypatch.setenv("AIWF_LOG_LEVEL", "warning")
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    log = event_logger(envelope(), service="llm", consumer="c", group="g")
    log.info("dropped")
    logging.getLogger("aiwf.store").info("dropped too")
    log.warning("kept")
    assert [line["message"] for line in json_lines(out)] == ["kept"]
    monkeypatch.setenv("AIWF_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="AIWF_LOG_LEVEL"):
        configure_logging("llm", stream=out)


def test_configure_twice_is_configure_once() -> None:
    """A second configure_logging replaces the first: each line is written once, to the new stream."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("llm", fmt="json", stream=first)
    configure_logging("llm", fmt="json", stream=second)
    logging.getLogger("aiwf.consume").warning("once")
    event_logger(envelope(), service="llm", consumer="c", group="g").warning("once more")
    assert first.getvalue() == ""
    assert [line["message"] for line in json_lines(second)] == ["once", "once more"]


def test_reset_logging_removes_the_handler() -> None:
    """After reset_logging nothing more reaches the configured stream, and the root level is back."""
    before = logging.getLogger().level
    out = io.StringIO()
    configure_logging("llm", fmt="json", level="DEBUG", stream=out)
    reset_logging()
    logging.getLogger("aiwf.consume").warning("after reset")
    assert out.getvalue() == ""
    assert logging.getLogger().level == before


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_sealed_values_never_reach_a_line(fmt: str) -> None:
    """A sealed token logged as a value, nested, in a message, in stdlib args or in an exception shows as ***."""
    plaintext = "s3cr3t-plaintext"  # a local of the raising frame: tracebacks must not show locals
    token = seal(plaintext, PrivateKey.generate().public_key)
    body = token.split(":")[-1]
    out = io.StringIO()
    configure_logging("auth", fmt=fmt, stream=out)  # type: ignore[arg-type]
    log = event_logger(envelope(), service="auth", consumer="c", group="g")
    log.info("value", field=token)
    log.info("nested", payload={"user": "ann", "items": [{"p": token}]})
    log.info(f"in the message {token} itself")
    logging.getLogger("aiwf.consume").warning("stdlib arg %s", token)

    def use() -> None:
        raise ValueError(f"could not use {token}")

    try:
        use()
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    assert body[:24] not in text
    assert plaintext not in text
    assert "sealed:v1:" not in text
    assert text.count(MASK) >= 5
    assert "ann" in text


def test_values_under_secret_keys_are_masked() -> None:
    """Values under keys named like password, token, secret or api_key are *** at any depth; others stay."""
    out = io.StringIO()
    configure_logging("auth", fmt="json", stream=out)
    log = event_logger(envelope(), service="auth", consumer="c", group="g")
    log.info("login", password="hunter2", user={"name": "ann", "api_key": "k-123", "accessToken": "t-456"})
    log.info("counted", max_tokens=512, client_secret="cs-789")
    logging.getLogger("aiwf.auth").warning("refresh", extra={"refresh_token": "rt-000"})
    text = out.getvalue()
    for plaintext in ("hunter2", "k-123", "t-456", "cs-789", "rt-000"):
        assert plaintext not in text
    login, counted, refresh = json_lines(out)
    assert login["password"] == MASK
    assert login["user"] == {"name": "ann", "api_key": MASK, "accessToken": MASK}
    assert counted["max_tokens"] == 512
    assert refresh["refresh_token"] == MASK


async def test_stdlib_lines_inside_the_middleware_carry_the_event_ids() -> None:
    """A stdlib logger used by bus code during a handler call logs the event's ids; after the call it does not."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    env = envelope()
    internal = logging.getLogger("aiwf.store")

    async def handler(event: Any, ctx: Ctx) -> list[str]:
        internal.warning("store read took %d ms", 12)
        return ["out"]

    assert await logging_middleware()(handler)(None, Ctx(env)) == ["out"]
    internal.warning("between events")
    inside, after = json_lines(out)
    assert inside["message"] == "store read took 12 ms"
    assert {k: inside[k] for k in IDS} == {
        "event_id": env.id,
        "event_type": env.type,
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "trace_id": TRACE_ID,
        "service": "llm",
        "consumer": "llm-host-1",
        "group": "llm",
    }
    assert "event_id" not in after


async def test_keys_bound_with_structlog_contextvars_join_the_event_ids() -> None:
    """Keys a handler binds with structlog.contextvars appear beside the event's ids, in tasks it starts too."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    env = envelope()

    async def handler(event: Any, ctx: Ctx) -> list[str]:
        with structlog.contextvars.bound_contextvars(model="tiny"):
            await asyncio.create_task(_log_from_a_task())
        return []

    await logging_middleware()(handler)(None, Ctx(env))
    (line,) = json_lines(out)
    assert line["model"] == "tiny"
    assert line["event_id"] == env.id
    assert line["message"] == "from a task"


async def _log_from_a_task() -> None:
    logging.getLogger("aiwf.llm").warning("from a task")


async def test_middleware_logs_handled_with_its_duration_at_debug() -> None:
    """At DEBUG a finished call logs one "handled" line with the event's ids and a duration in ms."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", level="DEBUG", stream=out)
    env = envelope()

    async def handler(event: Any, ctx: Ctx) -> list[str]:
        return []

    await logging_middleware()(handler)(None, Ctx(env))
    (line,) = json_lines(out)
    assert line["message"] == "handled"
    assert line["level"] == "debug"
    assert line["event_id"] == env.id
    assert line["duration_ms"] >= 0


class _Payload(BaseModel):
    count: int


async def test_middleware_failure_is_a_warning_without_the_payload() -> None:
    """A raising handler logs a warning with the error type and message, never the payload, and re-raises."""
    out = io.StringIO()
    configure_logging("llm", fmt="json", stream=out)
    env = envelope()

    async def handler(event: Any, ctx: Ctx) -> list[str]:
        _Payload.model_validate({"count": "private-words-of-the-payload"})
        return []

    with pytest.raises(ValueError, match="validation error"):
        await logging_middleware()(handler)(None, Ctx(env))
    assert "private-words-of-the-payload" not in out.getvalue()
    (line,) = json_lines(out)
    assert line["level"] == "warning"
    assert line["error_type"] == "ValidationError"
    assert "count" in line["error"]
    assert line["event_id"] == env.id


def test_a_worker_process_writes_json_lines_named_by_its_service(tmp_path: Path, redis_url: str) -> None:
    """`aiwf worker documents` with stderr on a pipe logs JSON lines whose service is "documents".

    (Against a real Redis, at DEBUG: a worker without Redis now stops at start with one `aiwf:` line.)"""
    env = {**os.environ, "REDIS_URL": redis_url, "AIWF_DATA_DIR": str(tmp_path), "AIWF_LOG_LEVEL": "DEBUG"}
    env.pop("AIWF_LOG_FORMAT", None)
    proc = subprocess.Popen(
        [AIWF, "worker", "documents"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[dict[str, Any]] = []
        while not any(line.get("service") == "documents" for line in lines) and len(lines) < 50:
            ready, _, _ = select.select([proc.stderr], [], [], 30)
            assert ready, f"the worker wrote no line of its service on stderr within 30 s: {lines}"
            lines.append(json.loads(proc.stderr.readline()))  # every line is JSON, the CLI's own too
    finally:
        proc.kill()
        proc.communicate()
    line = next(line for line in lines if line.get("service") == "documents")
    assert {"timestamp", "level", "logger", "message"} <= set(line)  # asyncio's own DEBUG lines too


def test_a_bad_log_level_is_one_cli_line(tmp_path: Path) -> None:
    """AIWF_LOG_LEVEL=loud makes any command exit 1 with one `aiwf:` line naming the variable."""
    env = {**os.environ, "AIWF_LOG_LEVEL": "loud", "AIWF_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [AIWF, "health"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    expected = "aiwf: AIWF_LOG_LEVEL='loud' is not a level; use DEBUG, INFO, WARNING or ERROR"
    assert result.stderr.splitlines() == [expected]
