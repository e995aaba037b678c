"""The services. Each package `workers/<name>/` declares `SERVICE` in its `service.py`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiwf.bus.worker import Service

#: Every worker `aiwf up` starts and compose.yaml must run, in start order.
WORKERS = ("auth", "calendar", "documents", "llm", "tts", "pipeline")


def known_services(beats: Iterable[Mapping[str, str]]) -> list[str]:
    """The built-in workers, then every other service with a heartbeat (`aiwf worker module:service`)."""
    return list(dict.fromkeys([*WORKERS, *sorted(b["service"] for b in beats if b.get("service"))]))


def load(name: str) -> Service:
    """The Service declared by `workers.<name>.service`."""
    if name not in WORKERS:
        raise KeyError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    module = importlib.import_module(f"aiwf.workers.{name}.service")
    service: Service = module.SERVICE
    return service
