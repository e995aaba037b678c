"""`aiwf worker NAME` and `aiwf up`: one worker, or every worker supervised with a live table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect
from aiwf.bus.errors import AiwfError
from aiwf.bus.health import describe, summarize
from aiwf.bus.reclaim import hand_back_all
from aiwf.bus.server import running_embedded_url
from aiwf.bus.worker import run_service
from aiwf.cli.ctl import SupervisorChannel
from aiwf.cli.embedded import start_embedded
from aiwf.cli.env import redis_line
from aiwf.cli.health import heartbeats
from aiwf.cli.keys import ensure_keys
from aiwf.cli.logsink import LogCollector, log_dir
from aiwf.cli.service_path import load_service
from aiwf.cli.startup import run_worker
from aiwf.cli.supervise import GATEWAY, Child, Supervisor, child_env
from aiwf.cli.support import check_url, console, fail, load_config, load_release, redis_url
from aiwf.cli.uplock import claim
from aiwf.workers import WORKERS


def register(app: typer.Typer) -> None:
    """Add `worker` and `up` to `app`."""
    app.command()(worker)
    app.command()(up)


def worker(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME|MODULE:SERVICE",
            help="auth | calendar | documents | llm | tts | pipeline, or your own `package.module:service`",
        ),
    ],
    health_port: Annotated[int | None, typer.Option("--health-port", envvar="AIWF_HEALTH_PORT")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of an error as well.")] = False,
    release_name: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="Run as this release (default AIWF_RELEASE, else v1); only the active release reads "
            "(`aiwf release ls`).",
        ),
    ] = None,
) -> None:
    """Run one worker (what each container runs) until SIGTERM/SIGINT; an error is one line, exit 1;
    exit 3 once /health has answered 503 for AIWF_EXIT_WHEN_UNHEALTHY_S seconds."""

    _configure_logging()
    try:
        service = load_service(name)
    except KeyError as exc:  # an unknown built-in name; str(KeyError) would quote it
        fail(str(exc.args[0]))
    except AiwfError as exc:
        fail(str(exc))
    config = load_config(service.name, producer=service.name)
    if release_name is not None:
        config = config.model_copy(update={"release": load_release(release_name)})
    url = redis_url(config)
    run_worker(service.name, url, config, lambda: run_service(service, config, url, health_port), debug=debug)


def up(
    only: Annotated[
        str | None, typer.Option("--only", help="Comma-separated workers, `gateway` among them (default: all).")
    ] = None,
    table: Annotated[bool, typer.Option("--table/--no-table", help="Live status table.")] = True,
) -> None:
    """Embedded Redis if REDIS_URL is unset, plus every worker and the gateway, supervised and restarted on crash;
    each one's output goes to <AIWF_DATA_DIR>/logs/<name>.log (`aiwf logs`)."""

    _configure_logging()
    names = only.split(",") if only else [*WORKERS, GATEWAY]
    unknown = set(names) - {*WORKERS, GATEWAY}
    if unknown:
        fail(f"unknown worker(s): {', '.join(sorted(unknown))}; known: {', '.join([*WORKERS, GATEWAY])}", 2)
    page = _gateway_url() if GATEWAY in names else None
    stop = _StopSignal()
    config = load_config("cli")  # this process only reads heartbeats; each worker logs in as itself
    claim(config.data_dir, names)  # held until this process ends: one `aiwf up` per data dir
    server = None
    url = check_url(config.redis_url) if config.redis_url else running_embedded_url(config.data_dir)
    if url is None:
        server = start_embedded(config)
        url = server.url
    console.print(redis_line(config, url, server), style="dim", soft_wrap=True, highlight=False)
    ensure_keys()
    logs = LogCollector(log_dir(config.data_dir), config.logs.file_bytes, config.logs.file_backups)
    console.print(f"logs in {log_dir(config.data_dir)}/ (`aiwf logs --follow`)", style="dim")
    supervisor = Supervisor(names, child_env(url), config.worker.restart_unhealthy_after_s, logs=logs)
    supervisor.start()
    if page:
        console.print(f"aiwf page: {page}", style="bold")
    try:
        _watch(supervisor, url, config, table, stop)
        if table and not console.is_terminal:
            console.line()  # rich ends a live table with a newline only on a terminal
        console.print("stopping: draining every worker…", style="dim")
    finally:
        supervisor.stop()
        logs.close()
        if server:
            server.stop()


class _StopSignal:
    """SIGTERM and SIGINT both mean "drain and stop", recorded as a flag the watch loop reads.

    Never raised as KeyboardInterrupt: one raised inside Popen's fork callbacks (a worker being
    started) is swallowed by Python, and the stop would be lost. Set for SIGINT too, since a
    shell starts background jobs with SIGINT ignored. A signal during start-up stops right after.
    """

    def __init__(self) -> None:
        self.received = False
        signal.signal(signal.SIGTERM, self._record)
        signal.signal(signal.SIGINT, self._record)

    def _record(self, _signum: int, _frame: object) -> None:
        self.received = True


def _gateway_url() -> str:
    """Where the supervised gateway will listen (AIWF_GATEWAY_HOST / _PORT); a bad setting is a usage error."""
    from aiwf.gateway.settings import GatewaySettings  # noqa: PLC0415 - FastAPI loads only when the gateway runs

    try:
        settings = GatewaySettings.from_env()
    except AiwfError as exc:
        fail(str(exc), 2)
    return f"http://{settings.host}:{settings.port}/"


def _watch(supervisor: Supervisor, url: str, config: BusConfig, table: bool, stop: _StopSignal) -> None:

    def restarted(child: Child, code: int, delay_s: float) -> None:
        why = f" ({child.last_kill})" if child.last_kill else ""
        if delay_s < 0:
            console.print(f"{child.name} exited with {code}: {child.given_up}", style="red")
        else:
            console.print(f"{child.name} exited with {code}{why}; restarting in {delay_s:.1f}s", style="yellow")

    async def loop() -> None:
        client = connect(url, config)
        channel = SupervisorChannel(supervisor)
        live = Live(console=console, refresh_per_second=2) if table else None
        with live or contextlib.nullcontext():
            while not stop.received:
                try:
                    beats: list[dict[str, str]] | None = await heartbeats(client)
                    await channel.serve_once(client)
                except Exception:  # noqa: BLE001 - Redis away: restart the dead, judge no one hung
                    beats = None
                supervisor.tick(restarted, beats)
                await _hand_back_the_dead(client, supervisor, beats or [])
                if live:
                    live.update(_status_table(supervisor, beats or []))
                await asyncio.sleep(0.5)

    asyncio.run(loop())


async def _hand_back_the_dead(client: Redis, supervisor: Supervisor, beats: list[dict[str, str]]) -> None:
    """What a worker that died held goes back to its group at once, not after the reclaim idle time."""
    while supervisor.died:
        service, pid = supervisor.died.pop()
        for beat in beats:
            if beat.get("service") == service and beat.get("pid") == str(pid):
                try:
                    await hand_back_all(client, beat["consumer"])
                except Exception as exc:  # noqa: BLE001 - they are reclaimed after the idle time anyway
                    logging.getLogger("aiwf.up").warning("handing back %s's entries failed: %s", service, exc)


def _status_table(supervisor: Supervisor, beats: list[dict[str, str]]) -> Any:

    rows = {r["service"]: r for r in summarize(beats, list(supervisor.children))}
    table = Table(title=f"aiwf up — {time.strftime('%H:%M:%S')}", title_justify="left")
    for column in ("service", "pid", "state", "processed", "failed", "dead", "pending", "restarts", "reason"):
        table.add_column(column)
    for name, child in supervisor.children.items():
        row = rows[name]
        state = describe(row) if row["state"] != "offline" else ("starting" if child.process else child.state)
        state = child.state if child.state in {"stopped", "stopping", "failed"} else state
        table.add_row(
            name,
            str(child.process.pid if child.process else "-"),
            state,
            str(row["processed"]),
            str(row["failed"]),
            str(row["dead_lettered"]),
            str(row["pending"]),
            str(child.restarts),
            str(child.given_up or row["reason"])[:40],
        )
    return table


def _configure_logging() -> None:
    level = os.environ.get("AIWF_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
