"""What ACL users and mutual TLS cost: one publisher's throughput on plain TCP, with the generated ACL, and
with ACL + mutual TLS, each on its own embedded redis-server >= 7.0 (TLS build), in one run.

    .venv/bin/python bench/security_bench.py

Two shapes per server: awaited one-at-a-time publishes (a round trip each: TLS and ACL costs
show most) and publish_many batches of 100 (one script call each). Medians of 5 interleaved rounds.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiwf.bus import Publisher
from aiwf.bus.certs import generate
from aiwf.bus.config import BusConfig, RedisAccess
from aiwf.bus.connection import connect
from aiwf.bus.server import EmbeddedRedis, ServerTls, supports_tls
from aiwf.cli.acl import all_grants, write_acl
from aiwf.schemas.events.llm import ChatRequested, Message

SINGLE = 3000
BATCHED = 20_000
ROUNDS = 5


@contextmanager
def server(root: Path, *, acl: bool, tls: bool) -> Iterator[BusConfig]:
    """An embedded server and the operator's settings for it."""
    aclfile = passwords = None
    if acl:
        aclfile, passwords = root / "redis.acl", root / "passwords"
        write_acl(aclfile, passwords, all_grants())
    certs = root / "certs"
    if tls:
        generate(certs, ["127.0.0.1"], ["operator"])
    binary = shutil.which("redis-server")
    with EmbeddedRedis(
        root / "data", binary=binary, aclfile=aclfile, tls=ServerTls.in_dir(certs) if tls else None
    ) as r:
        access = RedisAccess(
            username="aiwf-operator" if acl else None,
            password_file=passwords / "aiwf-operator" if passwords else None,
            tls_ca=certs / "ca.crt" if tls else None,
            tls_cert=certs / "operator.crt" if tls else None,
            tls_key=certs / "operator.key" if tls else None,
        )
        yield BusConfig(redis_url=r.url, producer="bench", access=access)


def request(i: int) -> ChatRequested:
    return ChatRequested(request_id=f"r{i}", messages=[Message(role="user", content="hello " * 20)])


async def rate(config: BusConfig, batched: bool) -> float:
    """Events per second for one shape."""
    client = connect(config.redis_url or "", config)
    publisher = Publisher(client, config)
    try:
        started = time.perf_counter()
        if batched:
            for start in range(0, BATCHED, 100):
                await publisher.publish_many([request(i) for i in range(start, start + 100)])
            count = BATCHED
        else:
            for i in range(SINGLE):
                await publisher.publish(request(i))
            count = SINGLE
        return count / (time.perf_counter() - started)
    finally:
        await client.aclose()


async def main() -> None:
    binary = shutil.which("redis-server")
    if binary is None or not supports_tls(binary):
        sys.exit("needs a redis-server >= 7.0 built with TLS on PATH")
    kinds = {"plain": (False, False), "acl": (True, False), "acl+mtls": (True, True)}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        configs = {
            name: stack.enter_context(server(Path(tmp) / name, acl=acl, tls=tls)) for name, (acl, tls) in kinds.items()
        }
        results: dict[tuple[str, bool], list[float]] = {}
        for _ in range(ROUNDS):
            for name, config in configs.items():
                for batched in (False, True):
                    results.setdefault((name, batched), []).append(await rate(config, batched))
    for (name, batched), rates in results.items():
        shape = "publish_many x100" if batched else "publish, awaited"
        print(f"{name:<9} {shape:<18} {statistics.median(rates):>9,.0f} events/s")


if __name__ == "__main__":
    asyncio.run(main())
