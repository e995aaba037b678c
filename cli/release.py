"""`aiwf release ls|promote|rollback|retire|shadow|diff`: which release of a service reads, switched without
losing an event, and a new one tried on real input first."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from aiwf.bus import release
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import AiwfError
from aiwf.bus.health import STALE_AFTER_S, heartbeats
from aiwf.bus.shadow import Verdict, compare, shadow_releases, shadowed
from aiwf.bus.worker import run_service
from aiwf.cli.service_path import load_service
from aiwf.cli.support import JsonOpt, emit_json, emit_table, fail, load_config, load_release, redis_url, run, suggest

__all__ = ["register"]

app = typer.Typer(no_args_is_help=True, help="Releases of a service: list, promote, roll back, retire, shadow, diff.")
Service = Annotated[str, typer.Argument(help="The service (llm, tts, ... or your own).")]
Release = Annotated[str, typer.Argument(help="A release name, as given to `aiwf worker NAME --release`.")]


def register(root: typer.Typer) -> None:
    """Add `release` to `root`."""
    root.add_typer(app, name="release")


async def _known(client: Redis) -> list[str]:
    found = [k.decode() async for k in client.scan_iter(match="aiwf:release:*", count=200)]
    return sorted({k.split(":", 2)[2] for k in found if not k.endswith(":retired")})


async def _checked(client: Redis, service: str) -> release.ReleaseState:
    known = await _known(client)
    if service not in known:
        raise release.ReleaseRefused(f"no releases of {service!r} recorded{suggest(service, known)}")
    return await release.read_state(client, service)


async def _rows(client: Redis, services: list[str]) -> list[dict[str, Any]]:
    now = time.time()
    beats = [b for b in await heartbeats(client) if b.get("state") != "stopped"]
    rows = []
    for service in services:
        state = await release.read_state(client, service)
        mine = [b for b in beats if b.get("service") == service and now - float(b.get("beat_at") or 0) <= STALE_AFTER_S]
        names = {b.get("release", "") for b in mine} | {state.active, state.previous} | set(state.retired)
        for name in sorted(n for n in names if n):
            live = [b for b in mine if b.get("release") == name]
            role = (
                "retired"
                if name in state.retired
                else "active"
                if name == state.active
                else "fallback"
                if name == state.previous
                else "warm"
            )
            rows.append(
                {
                    "service": service,
                    "release": name,
                    "role": role,
                    "instances": len(live),
                    "stable": role == "active" and state.stable(now),
                    "fell_back_from": state.fell_back_from if role == "active" else "",
                    "fell_back_reason": state.fell_back_reason if role == "active" else "",
                }
            )
    return rows


@app.command("ls")
def ls(
    service: Annotated[str | None, typer.Argument(help="Only this service.")] = None, as_json: JsonOpt = False
) -> None:
    """Every release of every service: its role (active, fallback, warm, retired), live instances, stability."""

    async def body(client: Redis, _config: BusConfig) -> list[dict[str, Any]]:
        if service is not None:
            await _checked(client, service)
        return await _rows(client, [service] if service else await _known(client))

    rows = run(body)
    if as_json:
        emit_json(rows)
        return
    columns = ["service", "release", "role", "instances", "stable", "fell_back_from", "fell_back_reason"]
    emit_table("releases", columns, [[r[c] for c in columns] for r in rows])


@app.command()
def promote(
    service: Service,
    name: Release,
    stable_after: Annotated[
        float | None,
        typer.Option("--stable-after", help="Seconds until stable (default AIWF_RELEASE_STABLE_AFTER).", min=0),
    ] = None,
) -> None:
    """Make RELEASE the one that reads; the active release becomes its fallback (it finishes what it holds)."""

    async def body(client: Redis, config: BusConfig) -> release.ReleaseState:
        await _checked(client, service)
        live = [r for r in await _rows(client, [service]) if r["release"] == name and r["instances"]]
        if not live:
            raise release.ReleaseRefused(
                f"no live instance of {service} release {name}; start one with `aiwf worker {service} --release {name}`"
            )
        after = config.release.stable_after_s if stable_after is None else stable_after
        return await release.promote(client, service, name, after)

    state = run(body)
    print(f"{service}: {state.active} active, {state.previous} its fallback (stable after {state.stable_after_s:.0f}s)")


@app.command()
def rollback(service: Service) -> None:
    """Make the fallback release read again; the rolled-back release stays warm until retired."""

    async def body(client: Redis, _config: BusConfig) -> tuple[str, release.ReleaseState]:
        before = await _checked(client, service)
        return before.active, await release.rollback(client, service)

    was, state = run(body)
    print(f"{service}: {state.active} active again ({was} rolled back)")


@app.command()
def retire(service: Service, name: Release) -> None:
    """Stop every instance of RELEASE; refused for the active release, and for its fallback until it is stable."""

    async def body(client: Redis, _config: BusConfig) -> None:
        state = await _checked(client, service)
        known = {r["release"] for r in await _rows(client, [service])}
        if name not in known:
            raise release.ReleaseRefused(f"{service} has no release {name!r}{suggest(name, known)}")
        del state
        await release.retire(client, service, name)

    run(body)
    print(f"{service}: {name} retired; its instances stop")


@app.command()
def shadow(
    target: Annotated[str, typer.Argument(metavar="NAME|MODULE:SERVICE", help="The service, as for `aiwf worker`.")],
    name: Release,
) -> None:
    """Run RELEASE of the service as a shadow until SIGTERM/SIGINT: the same input in its own consumer group
    (new events from now on), its outputs and dead letters under `aiwf:shadow:RELEASE:` (never a real
    stream), its event-store appends and read-model writes dropped. Compare with `aiwf release diff`."""

    try:
        service = load_service(target)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except AiwfError as exc:
        fail(str(exc))
    config = load_config(producer=f"{service.name}.shadow")
    config = config.model_copy(update={"release": load_release(name).model_copy(update={"shadow": True})})
    run_service(shadowed(service, name), config, redis_url(config), None)


@app.command()
def diff(
    service: Service,
    name: Annotated[str | None, typer.Argument(help="The shadow release (default: the only one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare a shadow's outputs with the active release's, per input event (causation id): equal,
    different (with a diff), failed (dead-lettered in the shadow) or pending. Exit 1 if any differs or failed."""

    async def body(client: Redis, _config: BusConfig) -> tuple[str, list[Verdict]]:
        shadows = await shadow_releases(client)
        chosen = name or (shadows[0] if len(shadows) == 1 else "")
        if not chosen:
            raise release.ReleaseRefused(
                f"name the shadow release: {', '.join(shadows)}" if shadows else "no shadow outputs recorded"
            )
        if chosen not in shadows:
            raise release.ReleaseRefused(f"no shadow outputs of release {chosen!r}{suggest(chosen, shadows)}")
        return chosen, await compare(client, service, chosen)

    chosen, verdicts = run(body)
    if as_json:
        emit_json([{"causation_id": v.causation_id, "verdict": v.verdict, "diff": v.diff} for v in verdicts])
    else:
        counts = {k: sum(v.verdict == k for v in verdicts) for k in ("equal", "different", "failed", "pending")}
        print(f"{service} vs shadow {chosen}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for v in verdicts:
            if v.verdict != "equal":
                print(f"{v.causation_id}: {v.verdict}")
                if v.diff:
                    print(v.diff)
    if any(v.verdict in {"different", "failed"} for v in verdicts):
        raise typer.Exit(1)
