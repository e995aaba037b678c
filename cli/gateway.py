"""`aiwf gateway`: the HTTP gateway (FastAPI on uvicorn) in front of the bus; `aiwf gateway openapi`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aiwf.bus.errors import ConfigError
from aiwf.bus.logs import configure_logging
from aiwf.cli.support import EXIT_USAGE, check_login, fail, load_config, redis_url


def register(app: typer.Typer) -> None:
    """Add `gateway` (and `gateway openapi`) to `app`."""
    group = typer.Typer(help="The HTTP gateway: requests become events, their replies responses.")
    app.add_typer(group, name="gateway")
    group.callback(invoke_without_command=True)(gateway)
    group.command("openapi")(openapi)


def _settings(**overrides: Any) -> Any:
    from aiwf.gateway.settings import GatewaySettings  # noqa: PLC0415 - FastAPI loads only for this command

    try:
        return GatewaySettings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def gateway(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Listen address (AIWF_GATEWAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (AIWF_GATEWAY_PORT).")] = None,
) -> None:
    """Serve the gateway and its page at / until SIGTERM/SIGINT (routes: `aiwf gateway openapi`, README)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn  # noqa: PLC0415 - the server loads only for this command

    from aiwf.gateway import create_app  # noqa: PLC0415

    settings = _settings(host=host, port=port)
    config = load_config("gateway", producer="gateway")
    url = redis_url(config)
    check_login(url, config)  # wrong credentials: one line here, not a traceback from the app's startup
    configure_logging("gateway")
    print(f"aiwf gateway on http://{settings.host}:{settings.port}/", flush=True)
    uvicorn.run(create_app(config, settings, url), host=settings.host, port=settings.port, log_config=None)


def openapi(
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the gateway's OpenAPI document."""
    from aiwf.gateway import create_app  # noqa: PLC0415

    document = create_app(load_config(), _settings(), "redis://unused").openapi()
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
