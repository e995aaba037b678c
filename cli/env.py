"""`aiwf env` and `aiwf status`: which Redis this data dir uses, so a second shell or tool finds it.

`aiwf env` prints shell `export` lines (`eval "$(aiwf env)"`); `aiwf status` says where
everything is: the Redis URL and where it came from, the server's version, the data dir, the
`aiwf up` running on it, and the redis-server recorded for its embedded data.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
import urllib.request
from typing import Annotated, Any

import typer

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect, server_version
from aiwf.bus.health import heartbeats, summarize
from aiwf.bus.redis_data import read_record
from aiwf.bus.server import EmbeddedRedis, running_embedded_url
from aiwf.cli.startup import shown_url
from aiwf.cli.supervise import GATEWAY
from aiwf.cli.support import JsonOpt, emit_json, emit_table, fail, load_config, redis_url
from aiwf.cli.uplock import holder
from aiwf.schemas.keyring import keys_dir

__all__ = ["env", "redis_line", "register", "status"]

#: A worker in one of these states has started: alive and beating (degraded or paused for a backend included).
READY_STATES = frozenset({"running", "degraded", "paused"})


def register(app: typer.Typer) -> None:
    """Add `env` and `status` to `app`."""
    app.command()(env)
    app.command()(status)


def redis_line(config: BusConfig, url: str, started: EmbeddedRedis | None) -> str:
    """What `aiwf up` says about its Redis: the REDIS_URL other tools need, and where it came from."""
    if started:
        version = started.server.version_text if started.server else "?"
        return (
            f"embedded Redis {version}: REDIS_URL={url} (data in {config.data_dir}/, where every aiwf command "
            'run here finds it; for other tools: eval "$(aiwf env)")'
        )
    if config.redis_url:
        return f"Redis: REDIS_URL={shown_url(url)} (from REDIS_URL)"
    return f"Redis: REDIS_URL={url} (the embedded server already running for {config.data_dir}/)"


def env(as_json: JsonOpt = False) -> None:
    """Print `export REDIS_URL=... AIWF_DATA_DIR=...` for the Redis every aiwf command here uses.

    REDIS_URL if set, else the embedded server `aiwf up` runs for the data dir; none: exit 1.
    In another shell: eval "$(.venv/bin/aiwf env)".
    """
    config = load_config()
    values = {"REDIS_URL": redis_url(config), "AIWF_DATA_DIR": str(config.data_dir.resolve())}
    if as_json:
        emit_json(values)
        return
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")


def status(
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="First wait up to SECONDS until Redis answers and every worker of the `aiwf up` here runs.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where things are: the Redis URL and its source, the server's version, the data dir, `aiwf up`.

    Exit 1 (with the rest still shown) when no Redis answers, or --wait ran out."""
    config = load_config()
    facts = _facts(config)
    still_missing = ""
    if wait is not None:
        still_missing = _wait(config, facts, wait)
        facts = _facts(config)
    if as_json:
        emit_json(facts)
    else:
        record = facts["embedded_server"]
        rows = [
            ("redis", f"{facts['redis_url'] or '-'} ({facts['redis_source'] or 'none'})"),
            ("server", f"redis {facts['redis_version']}" if facts["redis_answers"] else "not answering"),
            ("data dir", facts["data_dir"]),
            ("aiwf up", _up_cell(facts)),
            ("embedded data", f"redis-server {record['version']} ({record['binary']})" if record else "-"),
            ("blobs", facts["blob_dir"]),
            ("keys", facts["keys_dir"]),
        ]
        emit_table("aiwf status", ["what", "where"], rows)
    if still_missing:
        fail(f"waited {wait:g}s: {still_missing}")
    if not facts["redis_answers"]:
        fail(
            "no Redis answers: start one with `aiwf up`, or set REDIS_URL"
            if facts["redis_url"] is None
            else f"Redis at {facts['redis_url']} does not answer ({facts['redis_error']})"
        )


def _facts(config: BusConfig) -> dict[str, Any]:
    url = config.redis_url or running_embedded_url(config.data_dir)
    source = None if url is None else ("REDIS_URL" if config.redis_url else "embedded")
    version, error = asyncio.run(_version(url, config)) if url else (None, None)
    record = read_record(config.data_dir)
    up = holder(config.data_dir)
    return {
        "redis_url": shown_url(url) if url else None,
        "redis_source": source,
        "redis_answers": version is not None,
        "redis_version": version,
        "redis_error": error,
        "data_dir": str(config.data_dir.resolve()),
        "up_pid": up.pid if up else None,
        "up_workers": list(up.workers) if up else [],
        "embedded_server": {"version": record.version_text, "binary": record.binary, "files": list(record.files)}
        if record
        else None,
        "blob_dir": str(config.blob_path.resolve()),
        "keys_dir": str(keys_dir().resolve()),
    }


async def _version(url: str, config: BusConfig) -> tuple[str | None, str | None]:
    client = connect(url, config)
    try:
        return ".".join(map(str, await server_version(client))), None
    except Exception as exc:  # noqa: BLE001 - status reports any failure as "not answering"
        return None, str(exc) or type(exc).__name__
    finally:
        await client.aclose()


def _up_cell(facts: dict[str, Any]) -> str:
    if not facts["up_pid"]:
        return "not running"
    return f"pid {facts['up_pid']} ({', '.join(facts['up_workers'])})"


def _wait(config: BusConfig, facts: dict[str, Any], seconds: float) -> str:
    """Poll until ready; '' when it is, else what is still missing when `seconds` ran out."""
    deadline = time.monotonic() + seconds
    while True:
        missing = asyncio.run(_not_ready(config, facts))
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.25)
        facts = _facts(config)


async def _not_ready(config: BusConfig, facts: dict[str, Any]) -> str:
    """'' once Redis answers and each worker of the `aiwf up` on the data dir has a live heartbeat."""
    if not facts["redis_answers"]:
        return "no Redis answers yet (is `aiwf up` starting?)"
    client = connect(facts["redis_url"] if facts["redis_source"] == "embedded" else redis_url(config), config)
    try:
        beats = await heartbeats(client)
    finally:
        await client.aclose()
    alive = [b for b in beats if _alive(b.get("pid"))]
    workers = [w for w in facts["up_workers"] if w != GATEWAY]
    rows = summarize(alive, workers)
    waiting = [r["service"] for r in rows if r["state"] not in READY_STATES]
    if GATEWAY in facts["up_workers"] and not _gateway_answers():
        waiting.append(GATEWAY)  # an HTTP server, no heartbeat: its own GET /health says
    return f"{', '.join(waiting)} not running yet (see `aiwf health`)" if waiting else ""


def _gateway_answers() -> bool:
    """Whether the gateway `aiwf up` supervises answers 200 on GET /health (AIWF_GATEWAY_HOST / _PORT)."""
    from aiwf.gateway.settings import GatewaySettings  # noqa: PLC0415 - FastAPI loads only when asked

    settings = GatewaySettings.from_env()
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host  # noqa: S104 - a listen address
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.port}/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _alive(pid: str | None) -> bool:
    """Whether the process of a heartbeat exists (a beat left by a killed worker does not count)."""
    try:
        os.kill(int(pid or 0), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid or 0) > 0
