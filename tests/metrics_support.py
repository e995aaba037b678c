"""Read a running worker's GET /metrics the way Prometheus does: the text format, parsed by prometheus_client."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""(sample name, its labels) -> value."""


def scrape(port: int) -> tuple[str, str]:
    """(Content-Type, body) of GET /metrics on loopback."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
        return str(reply.headers["Content-Type"]), reply.read().decode()


def parse(body: str) -> Samples:
    """Every sample of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


async def samples(port: int) -> Samples:
    """The parsed GET /metrics of a worker, without blocking the loop."""
    _, body = await asyncio.to_thread(scrape, port)
    return parse(body)


def value(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and want <= ls)


def label_sets(found: Samples, name: str) -> list[Mapping[str, str]]:
    """The label sets of the samples named `name`."""
    return [dict(ls) for (n, ls) in found if n == name]
