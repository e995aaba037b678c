"""Fixtures for the DLQ tests: the CLI on an `aiwf`-like app, and a world with three dead letters."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
import typer
from dlq_world import Cli, World, poison
from typer.testing import CliRunner, Result

from aiwf.bus.config import BusConfig
from aiwf.cli import dlq, streams


@pytest.fixture
def cli(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Invoke the registered commands against the test Redis; returns click's Result (stdout, stderr apart)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("USER", "tester")
    app = typer.Typer()
    dlq.register(app)
    streams.register(app)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
async def world(client: aioredis.Redis, config: BusConfig) -> World:
    """Two letters on `testing` (group counter) and one on `testdlq` (group things)."""
    return await poison(client, config)
