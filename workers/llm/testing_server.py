"""A real chat-completions HTTP server for tests and demos, on 127.0.0.1 and a free port.

It speaks the OpenAI protocol (plain JSON and streaming SSE, GET /v1/models for health) and
can be told to fail (answer an HTTP error, drop connections, cut streams short, end them
without [DONE], be slow), to fail only the requests that mention a marker (a poison request
beside healthy ones), and to recover, in-process or over HTTP (`POST /_control`), so a test
can take a "remote" model down and bring it back while a pipeline runs. A reply may return
an `Answer` (refusal, tool calls, finish reason) instead of text. The HTTP side is
_testing_http.py.

    with serve_chat() as server:
        backend = OpenAIChatBackend("primary", server.base_url, None, "test-model")
        server.fail(503)        # every request, /v1/models too, now gets 503
        server.poison("TOO BIG", 429)   # only chat requests whose messages contain it
        server.recover()

Run standalone: `python -m workers.llm.testing_server --port 8099`.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiwf.workers.llm._testing_http import Answer, ChatHandler

__all__ = ["Answer", "ChatServer", "Reply", "echo_reply", "serve_chat"]

Reply = Callable[[Sequence[dict[str, Any]]], "str | Answer"]
"""Computes the assistant's answer (text, or an Answer) from the request's messages."""


def echo_reply(messages: Sequence[dict[str, Any]]) -> str:
    """The default reply: 'echo: ' and the last user message."""
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"echo: {last}"


@dataclass
class _Faults:
    status: int | None = None
    retry_after: float | None = None
    drop: bool = False
    remaining: int | None = None  # None: until recover()
    cut_stream_after: int | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    omit_done: bool = False


class ChatServer:
    """Handle on a running server: its URL, what it received, and fault controls."""

    def __init__(self, *, reply: Reply, model: str, api_key: str | None, host: str, port: int) -> None:
        self.reply = reply
        self.model = model
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        """JSON bodies of chat requests received, in order (including failed ones)."""
        self._faults = _Faults()
        self._poison: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="chat-server",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        """URL to give a backend, e.g. http://127.0.0.1:40123/v1."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def fail(self, status: int = 503, *, times: int | None = None, retry_after: float | None = None) -> None:
        """Answer the next `times` requests (all, if None) with HTTP `status`."""
        with self._lock:
            self._faults = _Faults(status=status, retry_after=retry_after, remaining=times)

    def drop_connections(self, *, times: int | None = None) -> None:
        """Close the next `times` connections (all, if None) without answering."""
        with self._lock:
            self._faults = _Faults(drop=True, remaining=times)

    def cut_streams(self, after_chunks: int = 1) -> None:
        """Close streamed responses after `after_chunks` content chunks, without [DONE]."""
        with self._lock:
            self._faults = _Faults(cut_stream_after=after_chunks)

    def slow(self, delay_s: float) -> None:
        """Wait `delay_s` before answering each request."""
        with self._lock:
            self._faults = _Faults(delay_s=delay_s)

    def streams(self, *, done: bool = True, chunk_delay_s: float = 0.0) -> None:
        """Shape streamed answers: end them without `data: [DONE]`, pause between chunks."""
        with self._lock:
            self._faults = _Faults(omit_done=not done, chunk_delay_s=chunk_delay_s)

    def poison(self, marker: str, status: int = 500) -> None:
        """Answer HTTP `status` to every chat request whose messages contain `marker`, until recover()."""
        with self._lock:
            self._poison[marker] = status

    def recover(self) -> None:
        """Clear every fault: answer normally again."""
        with self._lock:
            self._faults = _Faults()
            self._poison = {}

    def health_status(self) -> int | None:
        """The status GET /v1/models answers with while a fault is set for every request (None: 200)."""
        with self._lock:
            faults = self._faults
        if faults.drop:
            return 503
        return faults.status

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def take_fault(self, body: dict[str, Any]) -> _Faults:
        """The fault for this request (a poison marker's first); counts down `times`-limited faults."""
        text = str(body.get("messages"))
        with self._lock:
            for marker, status in self._poison.items():
                if marker in text:
                    return _Faults(status=status)
            faults = self._faults
            if faults.remaining is not None:
                faults.remaining -= 1
                if faults.remaining <= 0:
                    self._faults = _Faults()
            return faults

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def apply_control(self, command: dict[str, Any]) -> None:
        action = command.get("action")
        times = command.get("times")
        if action == "fail":
            self.fail(int(command.get("status", 503)), times=times, retry_after=command.get("retry_after"))
        elif action == "drop":
            self.drop_connections(times=times)
        elif action == "cut_streams":
            self.cut_streams(int(command.get("after_chunks", 1)))
        elif action == "slow":
            self.slow(float(command.get("delay_s", 1.0)))
        elif action == "poison":
            self.poison(str(command["marker"]), int(command.get("status", 500)))
        elif action == "streams":
            self.streams(done=bool(command.get("done", True)), chunk_delay_s=float(command.get("chunk_delay_s", 0)))
        elif action == "recover":
            self.recover()
        else:
            msg = f"unknown action {action!r}"
            raise ValueError(msg)


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(ChatHandler):
        chat = server

    return Handler


@contextmanager
def serve_chat(
    *,
    reply: Reply = echo_reply,
    model: str = "test-model",
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[ChatServer]:
    """Run a chat-completions server for the duration of the block; yields its handle."""
    server = ChatServer(reply=reply, model=model, api_key=api_key, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted (for demos and black-box tests)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    with serve_chat(model=args.model, api_key=args.api_key, host=args.host, port=args.port) as server:
        print(f"serving chat completions at {server.base_url}", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
