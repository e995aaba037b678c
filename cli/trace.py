"""`aiwf trace CORRELATION_ID`: one run's events as a tree of who caused what, from the streams."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.runtree import Step, find, span, tree
from aiwf.cli.support import JsonOpt, console, emit_json, fail, load_events, plural, run


def register(app: typer.Typer) -> None:
    """Add `trace` to `app`."""
    app.command()(trace)


def trace(
    correlation_id: Annotated[str, typer.Argument(help="The run's correlation id (`aiwf publish` prints it).")],
    json_: JsonOpt = False,
) -> None:
    """One run's events as a tree: each event under the one that caused it, with the service that produced it
    and the time from its cause (queueing plus the handler); dead-lettered steps are marked."""
    load_events()

    async def body(client: Redis, config: BusConfig) -> list[Step]:
        return await find(client, correlation_id, config.max_event_bytes)

    steps = run(body)
    if not steps:
        fail(f"no event with correlation id {correlation_id!r} on any stream (trimmed, or never published?)")
    roots = tree(steps)
    first, last = span(steps) or (None, None)
    services = sorted({s.envelope.producer for s in steps})
    if json_:
        emit_json(
            {
                "correlation_id": correlation_id,
                "events": len(steps),
                "producers": services,
                "started_at": first.isoformat() if first else None,
                "duration_ms": round((last - first).total_seconds() * 1000, 3) if first and last else None,
                "dead_lettered": sum(1 for s in steps if s.dead_letter),
                "roots": [r.as_json() for r in roots],
            }
        )
        return
    took = f"{(last - first).total_seconds() * 1000:.0f} ms" if first and last else "-"
    top = Tree(
        f"run {escape(correlation_id)}: {plural(len(steps), 'event')} by {', '.join(map(escape, services))}, {took}",
        guide_style="dim",
    )
    for root in roots:
        _add(top, root, None)
    console.print(top, highlight=False)


def _add(parent: Any, step: Step, cause: Step | None) -> None:
    env = step.envelope
    after = step.after_ms(cause)
    when = env.occurred_at.strftime("%H:%M:%S.%f")[:-3] if cause is None else f"+{after:.0f} ms"
    label = f"[bold]{escape(env.type)}[/bold]  by {escape(env.producer)}  {when}  [dim]{env.id}[/dim]"
    if step.dead_letter:
        label += f"  [red]dead-lettered ({escape(step.dead_letter)})[/red]"
    node = parent.add(label)
    for child in step.children:
        _add(node, child, step)
