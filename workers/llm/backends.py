"""OpenAIChatBackend: any server speaking OpenAI chat-completions (OpenAI, vLLM, llama.cpp, Ollama).

Retries are bounded and jittered, and only for what can heal by itself:
connect/read failures, timeouts, 5xx and 429. Any other 4xx is the request's
fault and raises PermanentLLMError at once. A streamed attempt is never retried
once a fragment has reached `on_delta`, so no caller sees a fragment twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from aiwf.bus.backoff import Backoff
from aiwf.schemas.errors import TransientError
from aiwf.workers.llm._sse import sse_data
from aiwf.workers.llm._wire import StreamFold, error_detail, parse_chunk, parse_completion, read_capped, retry_after
from aiwf.workers.llm.chat import ChatRequest, ChatResult, DeltaCallback
from aiwf.workers.llm.errors import BackendUnavailable, InvalidResponse, LLMConfigError, PermanentLLMError

__all__ = ["OpenAIChatBackend"]

log = logging.getLogger(__name__)

MAX_RETRIES_LIMIT = 10
_ERROR_BODY_BYTES = 4096
_STREAM_DEADLINE_FACTOR = 10  # a stream may run this many read-timeouts in total
_HEALTH_TIMEOUT_S = 5.0


class _RetryableStatus(TransientError):
    """A 5xx or 429 answer, carried through tenacity until retries are spent."""

    def __init__(self, status: int, detail: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.retry_after = retry_after


class OpenAIChatBackend:
    """A chat-completions client with bounded retries and typed errors."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        *,
        retry_wait_s: float = 0.5,
        retry_max_wait_s: float = 8.0,
        max_response_bytes: int = 8 * 1024 * 1024,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not name:
            msg = "backend name must not be empty"
            raise LLMConfigError(msg)
        if not base_url.startswith(("http://", "https://")):
            msg = f"backend {name!r}: base_url must start with http:// or https://, got {base_url!r}"
            raise LLMConfigError(msg)
        if not model:
            msg = f"backend {name!r}: model must not be empty"
            raise LLMConfigError(msg)
        if timeout_s <= 0 or retry_wait_s < 0 or retry_max_wait_s < retry_wait_s:
            msg = f"backend {name!r}: need timeout_s > 0 and 0 <= retry_wait_s <= retry_max_wait_s"
            raise LLMConfigError(msg)
        if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
            msg = f"backend {name!r}: max_retries must be within [0, {MAX_RETRIES_LIMIT}], got {max_retries}"
            raise LLMConfigError(msg)
        if max_response_bytes <= 0:
            msg = f"backend {name!r}: max_response_bytes must be > 0"
            raise LLMConfigError(msg)
        self._name = name
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.models_url = base_url.rstrip("/") + "/models"
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_response_bytes = max_response_bytes
        self.retry_backoff = Backoff(retry_wait_s, retry_max_wait_s, jitter="full")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    @property
    def name(self) -> str:
        """The name reported in ChatResult.backend."""
        return self._name

    def __repr__(self) -> str:
        return f"OpenAIChatBackend(name={self._name!r}, url={self.url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> OpenAIChatBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def health(self) -> str | None:
        """GET /models, once and briefly: None when the server answers 2xx, else why not.

        It depends on no request, so a request that keeps failing while this passes is
        the request's own problem, not an outage.
        """
        try:
            response = await self._client.get(
                self.models_url, headers=self._headers, timeout=min(self.timeout_s, _HEALTH_TIMEOUT_S)
            )
        except httpx.HTTPError as exc:
            return f"{self._name}: {type(exc).__name__}: {exc}"
        if not 200 <= response.status_code < 300:
            return f"{self._name}: GET /models answered HTTP {response.status_code}"
        return None

    async def complete(self, request: ChatRequest, *, on_delta: DeltaCallback | None = None) -> ChatResult:
        """POST the request; retry transient failures; return the completion or raise typed errors."""
        body = self._body(request)
        delivered = [False]  # set once a fragment reached on_delta: from then on, no retry

        def should_retry(exc: BaseException) -> bool:
            transient = isinstance(exc, _RetryableStatus | httpx.TransportError | TimeoutError | InvalidResponse)
            return transient and not delivered[0]

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(body, request, on_delta, delivered)
        except _RetryableStatus as exc:
            msg = f"{self._name}: {exc} (after {self._attempts(retrying)} attempts)"
            raise BackendUnavailable(msg) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            msg = f"{self._name}: timed out after {self.timeout_s}s (after {self._attempts(retrying)} attempts)"
            raise BackendUnavailable(msg) from exc
        except httpx.TransportError as exc:
            msg = f"{self._name}: {type(exc).__name__}: {exc} (after {self._attempts(retrying)} attempts)"
            raise BackendUnavailable(msg) from exc
        msg = "unreachable: tenacity returned without a result"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "stream": request.stream,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _attempt(
        self,
        body: dict[str, Any],
        request: ChatRequest,
        on_delta: DeltaCallback | None,
        delivered: list[bool],
    ) -> ChatResult:
        deadline = self.timeout_s * (_STREAM_DEADLINE_FACTOR if request.stream else 1)
        async with (
            asyncio.timeout(deadline),
            self._client.stream(
                "POST",
                self.url,
                json=body,
                headers=self._headers,
            ) as response,
        ):
            if not 200 <= response.status_code < 300:
                await self._raise_for_status(response)
            if request.stream:
                return await self._read_stream(response, request, on_delta, delivered)
            raw = await read_capped(response, self.max_response_bytes)
            return parse_completion(self._name, raw, request, request.model or self.model)

    async def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        detail = error_detail(await read_capped(response, _ERROR_BODY_BYTES, truncate=True))
        if status == 429 or status >= 500:
            raise _RetryableStatus(status, detail, retry_after(response.headers.get("retry-after")))
        msg = f"{self._name}: HTTP {status} from {self.url}: {detail}"
        raise PermanentLLMError(msg, status=status)

    async def _read_stream(
        self,
        response: httpx.Response,
        request: ChatRequest,
        on_delta: DeltaCallback | None,
        delivered: list[bool],
    ) -> ChatResult:
        fold = StreamFold(self._name, request.model or self.model)
        done = False
        async for data in sse_data(response.aiter_bytes(), max_bytes=self.max_response_bytes):
            if data.strip() == "[DONE]":
                done = True
                break
            for fragment in fold.add(parse_chunk(self._name, data)):
                if on_delta is not None:
                    delivered[0] = True
                    await on_delta(fragment)
        # Like the official client, a stream may simply end without [DONE]; but one that ends
        # before any choice said how it finished was cut short (a dropped connection looks the same).
        if not done and fold.finish is None:
            msg = f"{self._name}: event stream ended before [DONE] and before a finish_reason"
            raise BackendUnavailable(msg) if delivered[0] else InvalidResponse(msg)
        return fold.result(request)

    def _wait(self, state: RetryCallState) -> float:
        """Jittered exponential backoff, stretched to honour a 429/503 Retry-After within the cap."""
        wait = self.retry_backoff.wait(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.retry_backoff.max_s))
        return wait

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "llm backend %s: attempt %d failed (%s: %s); retrying",
            self._name,
            state.attempt_number,
            type(exc).__name__,
            exc,
        )

    @staticmethod
    def _attempts(retrying: AsyncRetrying) -> int:
        return int(retrying.statistics.get("attempt_number", 1))
