"""PDF extraction in a child process with a time, memory and output bound per document.

pypdf works in pure Python on untrusted bytes: a 25 KB PDF whose text inflates to
megabytes keeps a thread busy for tens of seconds and leaves the worker's heap grown for
good (CPython rarely returns such memory). A thread cannot be stopped from outside, so each
PDF is read by `python -m aiwf.workers.documents._pdf_sandbox`: it caps its own address
space and CPU time (resource.setrlimit) before it reads a byte, the parent kills it at the
wall-clock bound, and its memory goes back to the system when it exits. A process per PDF
costs about 0.2 s of start-up, small beside the seconds a hostile file could take; a pool
would be faster but a pool worker cannot be killed without losing its neighbours' work.

Wire: the parent writes one JSON header line (limits, password) and then the PDF to the
child's stdin; the child answers one JSON object, {"text": ...} or {"error": class, "message": ...}.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from typing import Any, Final

import orjson

from aiwf.workers.documents._pdf import pdf_to_text
from aiwf.workers.documents.errors import CorruptDocument, DocumentError, DocumentTooLarge, EmptyDocument

__all__ = ["pdf_to_text_bounded"]

_ERRORS: Final[dict[str, type[DocumentError]]] = {
    cls.__name__: cls for cls in (CorruptDocument, DocumentTooLarge, EmptyDocument)
}


def pdf_to_text_bounded(
    data: bytes, *, max_pages: int, max_chars: int, seconds: float, memory_bytes: int, password: str | None = None,
) -> str:
    """`pdf_to_text` in a child process; DocumentTooLarge past `seconds` or `memory_bytes`."""
    header = {"max_pages": max_pages, "max_chars": max_chars, "memory_bytes": memory_bytes,
              "cpu_seconds": int(seconds) + 1, "password": password}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aiwf.workers.documents._pdf_sandbox"],
            input=orjson.dumps(header) + b"\n" + data, capture_output=True, timeout=seconds, check=False,
        )
    except subprocess.TimeoutExpired:
        msg = f"PDF extraction took longer than {seconds:g} s; the document is too complex or inflates too much"
        raise DocumentTooLarge(msg) from None
    try:
        answer: dict[str, Any] = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        answer = {}
    if "text" in answer:
        return str(answer["text"])
    if "error" in answer:
        raise _ERRORS.get(str(answer["error"]), CorruptDocument)(str(answer["message"]))
    if done.returncode < 0 or b"MemoryError" in done.stderr:
        msg = (f"PDF extraction passed its bounds ({memory_bytes // 2**20} MiB, {seconds:g} s) "
               f"and was stopped (exit {done.returncode})")
        raise DocumentTooLarge(msg)
    last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    msg = f"PDF reader failed: {last[0][:200]}"
    raise CorruptDocument(msg)


def _limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def _child() -> None:
    """Read header and PDF from stdin, bound this process, extract, answer on stdout."""
    header = orjson.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    _limit(resource.RLIMIT_AS, int(header["memory_bytes"]))
    _limit(resource.RLIMIT_CPU, int(header["cpu_seconds"]))
    try:
        text = pdf_to_text(data, max_pages=int(header["max_pages"]), max_chars=int(header["max_chars"]),
                           password=header["password"])
        answer: dict[str, str] = {"text": text}
    except DocumentError as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)}
    except MemoryError:
        answer = {"error": "DocumentTooLarge",
                  "message": f"PDF extraction needs more than {int(header['memory_bytes']) // 2**20} MiB"}
    sys.stdout.buffer.write(orjson.dumps(answer))


if __name__ == "__main__":
    _child()
