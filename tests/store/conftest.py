"""Store fixtures: an EventStore on the flushed test Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from aiwf.bus.config import BusConfig
from aiwf.bus.store import EventStore


@pytest.fixture
def store(client: aioredis.Redis, config: BusConfig) -> EventStore:
    """An event store on an empty database."""
    return EventStore(client, config)
