"""`aiwf config`: the effective configuration, every part and variable, where each value came from.

The rows come from the settings models themselves (bus/config.py, schemas/keyring.py,
workers/<name>/settings.py), so a variable a model declares is always listed and documented.
Secret values (SecretStr fields, and fields named like keys or passwords) show as `***`.
`reference_markdown()` renders the same models as the README's Configuration tables.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from pydantic import SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource

from aiwf.bus.config import (
    AlertSettings,
    BusConfig,
    LogFileSettings,
    RedisAccess,
    ServerSettings,
    WorkerSettings,
)
from aiwf.bus.errors import ConfigError
from aiwf.bus.settings import Settings, is_secret, variable
from aiwf.cli.support import EXIT_USAGE, emit_json, emit_table, fail
from aiwf.schemas.secrets import ENV_PREFIX, ENV_PUBLIC_PREFIX, MASK, KeyringSettings

#: Every part of the tree: the bus's, then each service's (module:class, imported on demand).
PARTS: dict[str, type[BaseSettings] | str] = {
    "bus": BusConfig,
    "bus.server": ServerSettings,
    "bus.worker": WorkerSettings,
    "bus.access": RedisAccess,
    "bus.alerts": AlertSettings,
    "bus.logs": LogFileSettings,
    "secrets": KeyringSettings,
    "auth": "aiwf.workers.auth.settings:AuthServiceSettings",
    "calendar": "aiwf.workers.calendar.settings:CalendarSettings",
    "documents": "aiwf.workers.documents.settings:DocumentsSettings",
    "llm": "aiwf.workers.llm.settings:LLMSettings",
    "tts": "aiwf.workers.tts.settings:TTSSettings",
    "pipeline": "aiwf.workers.pipeline.settings:PipelineSettings",
    "gateway": "aiwf.gateway.settings:GatewaySettings",
}
SHARED = ("bus", "bus.server", "bus.worker", "bus.access", "bus.alerts", "bus.logs", "secrets")


def model_of(part: str) -> type[BaseSettings]:
    """The settings class of one part."""
    ref = PARTS[part]
    if isinstance(ref, str):
        module, _, name = ref.partition(":")
        found: type[BaseSettings] = getattr(importlib.import_module(module), name)
        return found
    return ref


def rows(model: type[BaseSettings]) -> list[dict[str, Any]]:
    """One row per variable of `model`: its effective value (secrets masked), source and description."""
    values = model.from_env() if issubclass(model, Settings) else model()
    raw = EnvSettingsSource(model)()
    out = []
    for field, info in type(values).model_fields.items():
        name = variable(info)
        if name is None or info.exclude:  # a nested part (listed on its own) or another part's variable
            continue
        value = MASK if is_secret(name, info) and getattr(values, field) is not None else shown(getattr(values, field))
        out.append(
            {
                "variable": name,
                "value": value,
                "source": "env" if name in raw else "default",
                "field": field,
                "description": info.description or "",
            }
        )
    return out


def shown(value: object) -> object:
    """A value as `aiwf config` prints it: JSON-ready, a password inside a URL masked."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:
        url = urlsplit(value)
        if url.password:
            return url._replace(netloc=url.netloc.replace(f":{url.password}@", f":{MASK}@")).geturl()
    return value


def key_rows() -> list[dict[str, Any]]:
    """AIWF_SECRET_KEY_<SERVICE> / AIWF_SECRET_PUBKEY_<SERVICE> that are set: key material, read by name prefix."""
    return [
        {
            "variable": name,
            "value": MASK if name.startswith(ENV_PREFIX) else value,
            "source": "env",
            "field": "",
            "description": "private key of a service"
            if name.startswith(ENV_PREFIX)
            else "public key of a service (seal only)",
        }
        for name, value in sorted(os.environ.items())
        if name.startswith((ENV_PREFIX, ENV_PUBLIC_PREFIX))
    ]


def effective(service: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows of every part, or of the shared parts and one service's; ConfigError on a bad value."""
    names = list(PARTS) if service is None else [*SHARED, service]
    tree = {part: rows(model_of(part)) for part in names}
    tree["secrets"] += key_rows()
    return tree


def reference_markdown() -> str:
    """Every part's variables, defaults and descriptions as Markdown tables (the README's reference)."""
    lines: list[str] = []
    for part in PARTS:
        model = model_of(part)
        lines += [
            "",
            f"**{part}** — {(model.__doc__ or '').strip().splitlines()[0]}",
            "",
            "| variable | default | meaning |",
            "|---|---|---|",
        ]
        for _, info in model.model_fields.items():
            name = variable(info)
            if name is None or info.exclude:
                continue
            default = info.get_default(call_default_factory=True)
            shown = "" if default is None else f"`{default}`"
            lines.append(f"| `{name}` | {shown} | {info.description or ''} |")
    return "\n".join(lines[1:]) + "\n"


def register(app: typer.Typer) -> None:
    """Add `aiwf config` to `app`."""

    @app.command("config")
    def config_command(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document: part -> rows.")] = False,
        service: Annotated[str | None, typer.Option("--service", help="Only the bus parts and this service's.")] = None,
    ) -> None:
        """The effective configuration: every variable, its value (secrets masked) and whether env or default set it."""
        if service is not None and (service not in PARTS or service in SHARED):
            known = ", ".join(p for p in PARTS if p not in SHARED)
            fail(f"unknown service {service!r}; known: {known}", EXIT_USAGE)
        try:
            tree = effective(service)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
        if as_json:
            emit_json(tree)
            return
        for part, found in tree.items():
            emit_table(
                part,
                ["variable", "value", "source", "meaning"],
                [[r["variable"], r["value"], r["source"], r["description"]] for r in found],
            )
