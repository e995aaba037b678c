"""A real chat-completions HTTP server for tests and demos, on 127.0.0.1 and a free port.

It speaks the OpenAI protocol (plain JSON and streaming SSE) and can be told to
fail (answer an HTTP error, drop connections, cut streams short, be slow) and to
recover, in-process or over HTTP (`POST /_control`), so a test can take a
"remote" model down and bring it back while a pipeline runs.

    with serve_chat() as server:
        backend = OpenAIChatBackend("primary", server.base_url, None, "test-model")
        server.fail(503)        # every request now gets 503
        server.recover()

Run standalone: `python -m workers.llm.testing_server --port 8099`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatServer", "Reply", "echo_reply", "serve_chat"]

Reply = Callable[[Sequence[dict[str, Any]]], str]
"""Computes the assistant's text from the request's messages."""

MAX_REQUEST_BYTES = 10 * 1024 * 1024


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


class ChatServer:
    """Handle on a running server: its URL, what it received, and fault controls."""

    def __init__(self, *, reply: Reply, model: str, api_key: str | None, host: str, port: int) -> None:
        self.reply = reply
        self.model = model
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        """JSON bodies of chat requests received, in order (including failed ones)."""
        self._faults = _Faults()
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

    def recover(self) -> None:
        """Clear every fault: answer normally again."""
        with self._lock:
            self._faults = _Faults()

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _take_fault(self) -> _Faults:
        """The fault for this request; counts down `times`-limited faults."""
        with self._lock:
            faults = self._faults
            if faults.remaining is not None:
                faults.remaining -= 1
                if faults.remaining <= 0:
                    self._faults = _Faults()
            return faults

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def _apply_control(self, command: dict[str, Any]) -> None:
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
        elif action == "recover":
            self.recover()
        else:
            msg = f"unknown action {action!r}"
            raise ValueError(msg)


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_ChatHandler):
        chat = server

    return Handler


class _ChatHandler(BaseHTTPRequestHandler):
    chat: ChatServer
    server_version = "aiwf-chat-test/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read `ChatServer.requests` instead of stderr."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") in {"/health", "/v1/models"}:
            self._json(HTTPStatus.OK, {"object": "list", "data": [{"id": self.chat.model, "object": "model"}]})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")

    def do_POST(self) -> None:
        body = self._read_json()
        if body is None:
            return
        if self.path.rstrip("/") == "/_control":
            try:
                self.chat._apply_control(body)
            except (ValueError, TypeError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            else:
                self._json(HTTPStatus.OK, {"ok": True})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
            return
        self.chat._record(body)
        self._complete(body)

    def _complete(self, body: dict[str, Any]) -> None:
        faults = self.chat._take_fault()
        if faults.delay_s:
            time.sleep(faults.delay_s)
        if faults.drop:
            self.close_connection = True
            return  # the socket closes with no response at all
        if faults.status is not None:
            headers = {"Retry-After": f"{faults.retry_after:g}"} if faults.retry_after is not None else {}
            self._error(faults.status, f"injected failure {faults.status}", headers=headers)
            return
        if self.chat.api_key and self.headers.get("Authorization") != f"Bearer {self.chat.api_key}":
            self._error(HTTPStatus.UNAUTHORIZED, "invalid api key", kind="authentication_error")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            self._error(HTTPStatus.BAD_REQUEST, "'messages' must be a non-empty list of objects")
            return
        words = self.chat.reply(messages).split(" ")
        max_tokens = body.get("max_tokens")
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            words, finish = words[:max_tokens], "length"
        text = " ".join(words)
        model = str(body.get("model") or self.chat.model)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(words, model, finish, usage if include_usage else None, faults.cut_stream_after)
            return
        self._json(
            HTTPStatus.OK,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish},
                ],
                "usage": usage,
            },
        )

    def _stream(
        self,
        words: list[str],
        model: str,
        finish: str,
        usage: dict[str, int] | None,
        cut_after: int | None,
    ) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(base | payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        with suppress(BrokenPipeError, ConnectionResetError):
            send({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for n, word in enumerate(words):
                if cut_after is not None and n >= cut_after:
                    self.close_connection = True
                    return
                fragment = word if n == len(words) - 1 else word + " "
                send({"choices": [{"index": 0, "delta": {"content": fragment}, "finish_reason": None}]})
            send({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if usage is not None:
                send({"choices": [], "usage": usage})
            send("[DONE]")

    def _read_json(self) -> dict[str, Any] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body must be 0..{MAX_REQUEST_BYTES} bytes")
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
            return None
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
            return None
        return body

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _error(
        self, status: int, message: str, *, kind: str = "invalid_request_error", headers: dict[str, str] | None = None
    ) -> None:
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            kind = "server_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)


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
