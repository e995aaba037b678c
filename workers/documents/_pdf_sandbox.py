"""PDF extraction in a child process with a time, memory and output bound per document.

pypdf works in pure Python on untrusted bytes: a 25 KB PDF whose text inflates to
megabytes keeps a thread busy for tens of seconds and leaves the worker's heap grown for
good (CPython rarely returns such memory). A thread cannot be stopped from outside, so each
PDF is read by a process of its own: it caps its own address space and CPU time
(resource.setrlimit) before it reads a byte, the parent kills it at the wall-clock bound,
and its memory goes back to the system when it exits.

The readers are forked by a small server (`_serve`, in `python -c` with a socket path),
started once per worker process with pypdf already imported: a fork costs
milliseconds where a fresh interpreter costs ~0.4 s. It is single-threaded, so forking it
is safe (forking the worker itself, with its threads and event loop, is not), and it exits
when its parent closes its stdin. multiprocessing's forkserver would do the same, but its
children re-import the parent's `__main__` (the whole CLI) on every start.

Wire, per PDF on a fresh connection: the parent sends a length-prefixed JSON header (limits,
password) and the PDF; the child answers its pid (8 bytes, so the parent can kill it) and
then one JSON object, {"text": ...} or {"error": class, "message": ...}, up to end of stream.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

import orjson

from aiwf.workers.documents._pdf import pdf_to_text
from aiwf.workers.documents.errors import CorruptDocument, DocumentError, DocumentTooLarge, EmptyDocument

__all__ = ["pdf_to_text_bounded"]

_ERRORS: Final[dict[str, type[DocumentError]]] = {
    cls.__name__: cls for cls in (CorruptDocument, DocumentTooLarge, EmptyDocument)
}
_SIZE: Final = struct.Struct(">Q")
#: `-c`, not `-m`: the package imports this module, and runpy warns when `-m` runs it a second time.
_SERVER: Final = "import sys; from aiwf.workers.documents._pdf_sandbox import _serve; _serve(sys.argv[1])"
_server_lock = threading.Lock()
_server: tuple[subprocess.Popen[bytes], str] | None = None


def pdf_to_text_bounded(
    data: bytes,
    *,
    max_pages: int,
    max_chars: int,
    seconds: float,
    memory_bytes: int,
    password: str | None = None,
) -> str:
    """`pdf_to_text` in a child process; DocumentTooLarge past `seconds` or `memory_bytes`."""
    header = orjson.dumps(
        {
            "max_pages": max_pages,
            "max_chars": max_chars,
            "memory_bytes": memory_bytes,
            "cpu_seconds": int(seconds) + 1,
            "password": password,
        }
    )
    with _connect() as conn:
        conn.settimeout(seconds)
        try:
            conn.sendall(_SIZE.pack(len(header)) + header + _SIZE.pack(len(data)) + data)
            pid = _SIZE.unpack(_read_exactly(conn, _SIZE.size))[0]
            reply = _read_to_end(conn)
        except TimeoutError:
            with contextlib.suppress(NameError, ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            msg = f"PDF extraction took longer than {seconds:g} s; the document is too complex or inflates too much"
            raise DocumentTooLarge(msg) from None
    try:
        answer: dict[str, Any] = orjson.loads(reply)
    except orjson.JSONDecodeError:
        answer = {}
    if "text" in answer:
        return str(answer["text"])
    if "error" in answer:
        raise _ERRORS.get(str(answer["error"]), CorruptDocument)(str(answer["message"]))
    msg = f"PDF extraction passed its bounds ({memory_bytes // 2**20} MiB, {seconds:g} s) and was stopped"
    raise DocumentTooLarge(msg)


def _connect() -> socket.socket:
    """A connection to this process's fork server, (re)started when it is not running."""
    global _server  # noqa: PLW0603 - one server per worker process, shared by its threads
    with _server_lock:
        if _server is None or _server[0].poll() is not None:
            path = str(Path(tempfile.mkdtemp(prefix="aiwf-pdf-")) / "fork.sock")
            process = subprocess.Popen(  # noqa: S603 - our own module, run by this interpreter
                [sys.executable, "-c", _SERVER, path], stdin=subprocess.PIPE
            )
            deadline = time.monotonic() + 30
            while not Path(path).exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    msg = "the PDF reader process did not start"
                    raise CorruptDocument(msg)
                time.sleep(0.01)
            _server = (process, path)
        path = _server[1]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    return conn


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        part = conn.recv(size - len(got))
        if not part:
            raise EOFError
        got += part
    return got


def _read_to_end(conn: socket.socket) -> bytes:
    parts = []
    while part := conn.recv(1 << 20):
        parts.append(part)
    return b"".join(parts)


def _limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def _read_one(conn: socket.socket) -> None:
    """In a forked child: announce the pid, bound this process, extract, answer."""
    conn.sendall(_SIZE.pack(os.getpid()))
    header = orjson.loads(_read_exactly(conn, _SIZE.unpack(_read_exactly(conn, _SIZE.size))[0]))
    data = _read_exactly(conn, _SIZE.unpack(_read_exactly(conn, _SIZE.size))[0])
    _limit(resource.RLIMIT_AS, int(header["memory_bytes"]))
    _limit(resource.RLIMIT_CPU, int(header["cpu_seconds"]))
    try:
        text = pdf_to_text(
            data, max_pages=int(header["max_pages"]), max_chars=int(header["max_chars"]), password=header["password"]
        )
        answer: dict[str, str] = {"text": text}
    except DocumentError as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)}
    except MemoryError:
        answer = {
            "error": "DocumentTooLarge",
            "message": f"PDF extraction needs more than {int(header['memory_bytes']) // 2**20} MiB",
        }
    conn.sendall(orjson.dumps(answer))


def _serve(path: str) -> None:
    """Fork one reader per connection until stdin closes (the worker is gone)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # the socket appears only once it accepts
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                return
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                status = 0
                try:
                    _read_one(conn)
                except BaseException:  # noqa: BLE001 - the parent reads a missing answer as a failure
                    status = 1
                finally:
                    os._exit(status)
            conn.close()
