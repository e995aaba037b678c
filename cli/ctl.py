"""`aiwf ctl ls|stop|start|restart SERVICE`: operate one worker of a running `aiwf up`.

The channel is Redis, not a socket or a file in the data dir: `aiwf up` already talks to
Redis twice a second, every terminal (and host) that can run `aiwf health` reaches the same
Redis, embedded or REDIS_URL alike, and nothing on disk goes stale when `aiwf up` is killed.
Each `aiwf up` keeps `aiwf:sup:<id>` (its pid, host, workers) alive with a short TTL and
reads requests from its inbox list; a request names a reply list the command waits on.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Annotated, Any, cast

import orjson
import typer

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import AiwfError
from aiwf.cli.supervise import Supervisor
from aiwf.cli.support import JsonOpt, emit_json, emit_table, run, suggest

__all__ = ["SupervisorChannel", "register"]

#: A supervisor's registration lives this long unless refreshed (it refreshes every loop).
REGISTRATION_TTL_S = 5
REPLY_TIMEOUT_S = 10
app = typer.Typer(no_args_is_help=True, help="Operate one worker of a running `aiwf up`: ls, stop, start, restart.")
Service = Annotated[str, typer.Argument(help="A worker `aiwf up` supervises (see `aiwf ctl ls`).")]


def register(root: typer.Typer) -> None:
    """Add `ctl` to `root`."""
    root.add_typer(app, name="ctl")


class ControlRefused(AiwfError):
    """Raised when no `aiwf up` supervises the service, or it does not answer."""


class SupervisorChannel:
    """The `aiwf up` side: keep the registration fresh, answer what is in the inbox."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"

    async def serve_once(self, client: Redis) -> None:
        """Refresh the registration and answer every waiting request."""
        rows = [
            {"service": c.name, "pid": c.process.pid if c.process else None, "state": c.state, "restarts": c.restarts}
            | {"why": c.given_up or c.unhealthy_why}
            for c in self.supervisor.children.values()
        ]
        info = {"pid": os.getpid(), "host": socket.gethostname(), "children": orjson.dumps(rows).decode()}
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.supervisor(self.id), mapping=info)  # type: ignore[arg-type]
            pipe.expire(keys.supervisor(self.id), REGISTRATION_TTL_S)
            await pipe.execute()
        while raw := cast("bytes | None", await client.lpop(keys.supervisor_inbox(self.id))):
            request = orjson.loads(raw)
            reply = self._answer(request.get("action", ""), request.get("service", ""))
            async with client.pipeline(transaction=True) as pipe:
                pipe.rpush(keys.control_reply(request["id"]), orjson.dumps(reply))
                pipe.expire(keys.control_reply(request["id"]), 30)
                await pipe.execute()

    def _answer(self, action: str, service: str) -> dict[str, Any]:
        if service not in self.supervisor.children:
            return {"ok": False, "message": f"this aiwf up does not supervise {service!r}"}
        act = {
            "stop": self.supervisor.stop_child,
            "start": self.supervisor.start_child,
            "restart": self.supervisor.restart_child,
        }.get(action)
        if act is None:
            return {"ok": False, "message": f"unknown action {action!r}"}
        return {"ok": True, "message": act(service)}


async def _supervisors(client: Redis) -> dict[str, list[dict[str, Any]]]:
    """Every live `aiwf up`: id -> its children."""
    found = {}
    async for key in client.scan_iter(match=keys.supervisor("*"), count=200):
        raw = cast("bytes | None", await client.hget(key, "children"))
        if raw:
            found[key.decode().removeprefix(keys.supervisor(""))] = orjson.loads(raw)
    return found


async def _send(client: Redis, action: str, service: str) -> list[str]:
    sups = await _supervisors(client)
    if not sups:
        raise ControlRefused("no `aiwf up` is running against this Redis; start one with `.venv/bin/aiwf up`")
    known = {c["service"] for children in sups.values() for c in children}
    targets = [sid for sid, children in sups.items() if any(c["service"] == service for c in children)]
    if not targets:
        raise ControlRefused(f"no `aiwf up` supervises {service!r}{suggest(service, known)}")
    answers = []
    for sid in targets:
        request_id = secrets.token_hex(8)
        await client.rpush(
            keys.supervisor_inbox(sid), orjson.dumps({"id": request_id, "action": action, "service": service})
        )
        reply = await client.blpop([keys.control_reply(request_id)], timeout=REPLY_TIMEOUT_S)
        if reply is None:
            raise ControlRefused(f"aiwf up {sid} did not answer within {REPLY_TIMEOUT_S}s")
        answer = orjson.loads(reply[1])
        if not answer["ok"]:
            raise ControlRefused(answer["message"])
        answers.append(answer["message"])
    return answers


def _command(action: str) -> Any:
    def command(service: Service) -> None:
        for line in run(lambda client, _config: _send(client, action, service)):
            print(line)

    command.__doc__ = {
        "stop": "Drain one worker (SIGTERM) and keep it stopped until `aiwf ctl start`.",
        "start": "Start one stopped (or given-up) worker now.",
        "restart": "Drain one worker and start it again at once.",
    }[action]
    return command


for _action in ("stop", "start", "restart"):
    app.command(_action)(_command(_action))


@app.command("ls")
def ls(as_json: JsonOpt = False) -> None:
    """Every worker of every running `aiwf up`: pid, state (running, stopped, restarting, failed), restarts."""

    async def body(client: Redis, _config: BusConfig) -> list[dict[str, Any]]:
        return [{"supervisor": sid, **c} for sid, children in (await _supervisors(client)).items() for c in children]

    rows = run(body)
    if as_json:
        emit_json(rows)
        return
    columns = ["service", "pid", "state", "restarts", "why", "supervisor"]
    emit_table("workers under aiwf up", columns, [[r[c] for c in columns] for r in rows])
