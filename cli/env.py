"""`aiwf env` and `aiwf status`: which Redis this data dir uses, so a second shell or tool finds it.

`aiwf env` prints shell `export` lines (`eval "$(aiwf env)"`); `aiwf status` says where
everything is: the Redis URL and where it came from, the server's version, the data dir, the
`aiwf up` running on it, and the redis-server recorded for its embedded data.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

import typer

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect, server_version
from aiwf.bus.redis_data import read_record
from aiwf.bus.server import EmbeddedRedis, running_embedded_url
from aiwf.cli.startup import shown_url
from aiwf.cli.support import JsonOpt, emit_json, emit_table, fail, load_config, redis_url
from aiwf.cli.uplock import holder
from aiwf.schemas.keyring import keys_dir

__all__ = ["env", "redis_line", "register", "status"]


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


def status(as_json: JsonOpt = False) -> None:
    """Where things are: the Redis URL and its source, the server's version, the data dir, `aiwf up`.

    Exit 1 (with the rest still shown) when no Redis answers."""
    config = load_config()
    facts = _facts(config)
    if as_json:
        emit_json(facts)
    else:
        record = facts["embedded_server"]
        rows = [
            ("redis", f"{facts['redis_url'] or '-'} ({facts['redis_source'] or 'none'})"),
            ("server", f"redis {facts['redis_version']}" if facts["redis_answers"] else "not answering"),
            ("data dir", facts["data_dir"]),
            ("aiwf up", f"pid {facts['up_pid']}" if facts["up_pid"] else "not running"),
            ("embedded data", f"redis-server {record['version']} ({record['binary']})" if record else "-"),
            ("blobs", facts["blob_dir"]),
            ("keys", facts["keys_dir"]),
        ]
        emit_table("aiwf status", ["what", "where"], rows)
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
    return {
        "redis_url": shown_url(url) if url else None,
        "redis_source": source,
        "redis_answers": version is not None,
        "redis_version": version,
        "redis_error": error,
        "data_dir": str(config.data_dir.resolve()),
        "up_pid": holder(config.data_dir),
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
