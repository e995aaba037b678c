"""A relay alone in its own process, for kill tests: python -m tests.cluster.relay_process REDIS_URL DOMAIN"""

from __future__ import annotations

import asyncio
import sys

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.relay import Relay


async def main(url: str, domain: str) -> None:
    config = BusConfig(redis_url=url, producer="relay")
    client = connect(url, config)
    relay = Relay(client, config)
    relay.watch(domain)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
