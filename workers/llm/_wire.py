"""The OpenAI chat-completions wire format: completions, stream chunks, error bodies, Retry-After.

Pure parsing, no I/O beyond reading a capped body: what `backends.py` sends and receives.
A stream is folded by `StreamFold` the way the official client's `ChatCompletionStream`
accumulates it (text, refusal, tool calls by index, finish reason, usage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from aiwf.workers.llm.chat import ChatRequest, ChatResult, ToolCall, Usage, whitespace_tokens
from aiwf.workers.llm.errors import BackendUnavailable, InvalidResponse

__all__ = ["StreamFold", "error_detail", "parse_chunk", "parse_completion", "read_capped", "retry_after"]


def parse_completion(name: str, raw: bytes, request: ChatRequest, model: str) -> ChatResult:
    """A non-streamed completion body as a ChatResult; InvalidResponse when it is not one."""
    try:
        payload = json.loads(raw)
        choice = payload["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        refusal = message.get("refusal") or None
        calls = tuple(_tool_call(c) for c in message.get("tool_calls") or [])
        finish = choice.get("finish_reason")
        model = str(payload.get("model") or model)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        msg = f"{name}: response is not a chat completion ({type(exc).__name__}: {exc})"
        raise InvalidResponse(msg) from exc
    if not isinstance(text, str) or not isinstance(refusal, str | None):
        msg = f"{name}: completion content is {type(text).__name__}, not text"
        raise InvalidResponse(msg)
    return ChatResult(
        text=text,
        usage=usage_of(payload.get("usage"), request, text),
        backend=name,
        model=model,
        finish_reason=finish if isinstance(finish, str) else None,
        refusal=refusal,
        tool_calls=calls,
    )


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    function = raw.get("function") or {}
    return ToolCall(id=str(raw.get("id") or ""), name=str(function["name"]), arguments=str(function.get("arguments")))


def usage_of(raw: object, request: ChatRequest, text: str) -> Usage:
    """The backend's token counts, or whitespace counts marked as estimated."""
    if isinstance(raw, dict):
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return Usage(prompt_tokens=prompt, completion_tokens=completion)
    return Usage(request.prompt_tokens(), whitespace_tokens(text), estimated=True)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamFold:
    """Folds the chunks of one streamed completion into its ChatResult."""

    name: str
    model: str
    parts: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish: str | None = None
    usage: object = None

    def add(self, chunk: dict[str, Any]) -> list[str]:
        """Take one chunk; returns its new text fragments, in order."""
        self.model = str(chunk.get("model") or self.model)
        self.usage = chunk.get("usage") or self.usage
        fragments: list[str] = []
        for choice in chunk.get("choices") or []:
            self.finish = choice.get("finish_reason") or self.finish
            delta = choice.get("delta") or {}
            content, refusal = delta.get("content"), delta.get("refusal")
            if isinstance(content, str) and content:
                self.parts.append(content)
                fragments.append(content)
            if isinstance(refusal, str):
                self.refusal.append(refusal)
            for raw in delta.get("tool_calls") or []:
                self._call(raw)
        return fragments

    def _call(self, raw: dict[str, Any]) -> None:
        call = self.calls.setdefault(int(raw.get("index", len(self.calls))), _PartialCall())
        function = raw.get("function") or {}
        call.id = str(raw.get("id") or call.id)
        call.name = str(function.get("name") or call.name)
        if isinstance(function.get("arguments"), str):
            call.arguments.append(function["arguments"])

    def result(self, request: ChatRequest) -> ChatResult:
        """The completion the chunks added up to."""
        text = "".join(self.parts)
        calls = tuple(ToolCall(c.id, c.name, "".join(c.arguments)) for _, c in sorted(self.calls.items()))
        return ChatResult(
            text=text,
            usage=usage_of(self.usage, request, text),
            backend=self.name,
            model=self.model,
            finish_reason=self.finish,
            refusal="".join(self.refusal) or None,
            tool_calls=calls,
        )


async def read_capped(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """Read at most `limit` bytes of the body; past it, truncate or refuse."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            msg = f"response body passed {limit} bytes"
            raise InvalidResponse(msg)
    return bytes(body)


def parse_chunk(name: str, data: str) -> dict[str, Any]:
    """One `data:` payload of a stream as a chunk; an error chunk is BackendUnavailable."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        msg = f"{name}: stream event is not JSON: {data[:80]!r}"
        raise InvalidResponse(msg) from exc
    if not isinstance(chunk, dict):
        msg = f"{name}: stream event is not an object: {data[:80]!r}"
        raise InvalidResponse(msg)
    if "error" in chunk:
        msg = f"{name}: backend reported an error mid-stream: {error_detail(data.encode())}"
        raise BackendUnavailable(msg)
    return chunk


def error_detail(raw: bytes) -> str:
    """The backend's own error message if it sent OpenAI-style JSON, else the body's start."""
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200] or "(empty body)"
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:200]
    if isinstance(error, str):
        return error[:200]
    return " ".join(text.split())[:200]


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; HTTP-date forms are ignored."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
