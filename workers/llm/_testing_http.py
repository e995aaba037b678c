"""The HTTP side of the testing chat server: routes, plain and streamed completions, errors.

`testing_server.ChatServer` holds the state (replies, faults, received requests); this
handler only turns one request into the answer the state asks for.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiwf.workers.llm.testing_server import ChatServer

__all__ = ["MAX_REQUEST_BYTES", "Answer", "ChatHandler"]

MAX_REQUEST_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """What a reply may return instead of plain text: a refusal, tool calls, or an explicit finish."""

    text: str = ""
    refusal: str | None = None
    #: (name, JSON arguments) of each function call the "model" asks for.
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    finish_reason: str | None = None


class ChatHandler(BaseHTTPRequestHandler):
    """One request against the ChatServer `chat` (set by the subclass the server builds)."""

    chat: ChatServer
    server_version = "aiwf-chat-test/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read `ChatServer.requests` instead of stderr."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") not in {"/health", "/v1/models"}:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
        elif (status := self.chat.health_status()) is not None:
            self._error(status, "injected failure")
        else:
            self._json(HTTPStatus.OK, {"object": "list", "data": [{"id": self.chat.model, "object": "model"}]})

    def do_POST(self) -> None:
        body = self._read_json()
        if body is None:
            return
        if self.path.rstrip("/") == "/_control":
            try:
                self.chat.apply_control(body)
            except (ValueError, TypeError, KeyError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            else:
                self._json(HTTPStatus.OK, {"ok": True})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
            return
        self.chat.record(body)
        self._complete(body)

    def _complete(self, body: dict[str, Any]) -> None:
        faults = self.chat.take_fault(body)
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
        reply = self.chat.reply(messages)
        answer = reply if isinstance(reply, Answer) else Answer(text=reply)
        words = answer.text.split(" ") if answer.text else []
        max_tokens = body.get("max_tokens")
        finish = answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            words, finish = words[:max_tokens], "length"
        text = " ".join(words)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        }
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time())}
        base["model"] = str(body.get("model") or self.chat.model)
        calls = [
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": args}}
            for n, (name, args) in enumerate(answer.tool_calls)
        ]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(base, words, answer, calls, finish, usage if include_usage else None, faults)
            return
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": answer.refusal}
        if calls:
            message["tool_calls"] = calls
        choice = {"index": 0, "message": message, "finish_reason": finish}
        self._json(HTTPStatus.OK, base | {"object": "chat.completion", "choices": [choice], "usage": usage})

    def _stream(
        self,
        base: dict[str, Any],
        words: list[str],
        answer: Answer,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int] | None,
        faults: Any,
    ) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def send(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any) -> None:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
            data = json.dumps(base | {"object": "chat.completion.chunk", "choices": choices} | extra)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        with suppress(BrokenPipeError, ConnectionResetError):
            send({"role": "assistant"})
            for n, word in enumerate(words):
                if faults.cut_stream_after is not None and n >= faults.cut_stream_after:
                    self.close_connection = True
                    return
                send({"content": word if n == len(words) - 1 else word + " "})
                if faults.chunk_delay_s:
                    time.sleep(faults.chunk_delay_s)
            if answer.refusal:
                send({"refusal": answer.refusal})
            for n, call in enumerate(calls):
                send({"tool_calls": [{"index": n, **call}]})
            send({}, finish)
            if usage is not None:
                send(usage=usage)
            if faults.omit_done:
                self.close_connection = True
                return
            self.wfile.write(b"data: [DONE]\n\n")

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
