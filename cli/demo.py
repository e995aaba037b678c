"""`aiwf demo`: documents -> llm -> tts on the sample article, narrated event by event."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from aiwf.bus.errors import AiwfError
from aiwf.bus.server import running_embedded_url
from aiwf.cli.embedded import start_embedded
from aiwf.cli.supervise import Supervisor, child_env
from aiwf.cli.support import check_url, console, fail, load_config
from aiwf.workers.pipeline.demo import run_blocking


def register(app: typer.Typer) -> None:
    """Add `demo` to `app`."""
    app.command()(demo)


def demo(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the whole pipeline.")] = 120.0,
) -> None:
    """Run documents -> llm -> tts on the sample article and narrate each event as it happens.

    While it waits it says for what, and names any service that is degraded or offline, with
    the reason. The spoken summary is written to ./summary.wav (the path is printed)."""

    config = load_config()
    server = None
    url = check_url(config.redis_url) if config.redis_url else running_embedded_url(config.data_dir)
    if url is None:
        server = start_embedded(config)
        url = server.url
    supervisor = Supervisor(["documents", "llm", "tts", "pipeline"], child_env(url))
    supervisor.start()
    console.print(f"Redis {url}; started workers documents, llm, tts, pipeline", style="dim")
    try:
        summary, wav = run_blocking(url, config, lambda line: console.print(line, highlight=False), timeout)
    except (TimeoutError, RuntimeError, AiwfError) as exc:
        supervisor.stop()
        if server:
            server.stop()
        fail(str(exc))
    supervisor.stop()
    if server:
        server.stop()
    console.print("\n[bold]Summary[/bold] (extractive unless AIWF_LLM_URL names a model server):")
    console.print(summary, highlight=False)
    out = Path.cwd() / "summary.wav"
    try:
        shutil.copyfile(wav, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}; the speech stays at {wav}")
    console.print(f"\n[bold]Spoken summary:[/bold] {out}", highlight=False)
