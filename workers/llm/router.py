"""FallbackRouter: the primary backend while it works, the fallback while it does not.

A circuit breaker (aiwf.bus.breaker) guards the primary: after repeated failures the
router stops trying it (no timeouts paid per request) and sends a single probe after a
cool-down that grows while probes fail; a successful probe brings traffic back to the primary.
"""

from __future__ import annotations

import logging

from aiwf.bus.breaker import CircuitBreaker
from aiwf.workers.llm.chat import ChatBackend, ChatRequest, ChatResult, DeltaCallback
from aiwf.workers.llm.errors import BackendUnavailable, PermanentLLMError

__all__ = ["FallbackRouter"]

log = logging.getLogger(__name__)


class FallbackRouter:
    """A ChatBackend that routes to `primary`, else `fallback`; BackendUnavailable only if both fail.

    Not a fallback trigger: PermanentLLMError from the primary (a 4xx such as a bad
    key or an oversized prompt). It means the request or the configuration is
    wrong, and answering from the fallback would hide that; it propagates.
    A streamed completion that already sent fragments is not restarted elsewhere.
    """

    def __init__(
        self,
        primary: ChatBackend,
        fallback: ChatBackend,
        *,
        breaker: CircuitBreaker | None = None,
        name: str = "router",
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker or CircuitBreaker()
        self._name = name

    @property
    def name(self) -> str:
        """The router's own name (results name the backend that actually answered)."""
        return self._name

    async def complete(self, request: ChatRequest, *, on_delta: DeltaCallback | None = None) -> ChatResult:
        """Answer from the primary if its breaker allows and it succeeds, else from the fallback."""
        primary_error: BackendUnavailable | None = None
        if self.breaker.allow():
            forwarded = False

            async def relay(fragment: str) -> None:
                nonlocal forwarded
                forwarded = True
                if on_delta is not None:
                    await on_delta(fragment)

            try:
                result = await self.primary.complete(request, on_delta=relay if on_delta else None)
            except BackendUnavailable as exc:
                self.breaker.record_failure()
                if forwarded:
                    raise
                primary_error = exc
                log.warning("llm primary %s failed (%s); using %s", self.primary.name, exc, self.fallback.name)
            except PermanentLLMError:
                self.breaker.record_success()  # it answered: the backend is up, the request is wrong
                raise
            else:
                self.breaker.record_success()
                return result
        try:
            return await self.fallback.complete(request, on_delta=on_delta)
        except BackendUnavailable as exc:
            why = primary_error or f"circuit {self.breaker.state.value}"
            msg = f"all backends failed: {self.primary.name}: {why}; {self.fallback.name}: {exc}"
            raise BackendUnavailable(msg) from exc

    async def health(self) -> str | None:
        """None when either backend answers its health check (a request may still fail on its own)."""
        primary = await self.primary.health()
        if primary is None:
            return None
        fallback = await self.fallback.health()
        return None if fallback is None else f"{self.primary.name}: {primary}; {self.fallback.name}: {fallback}"

    async def aclose(self) -> None:
        """Close both backends."""
        try:
            await self.primary.aclose()
        finally:
            await self.fallback.aclose()
