"""OpenTelemetry: the trace context rides in the envelope's `traceparent`.

Publish opens a PRODUCER span and writes its context into the envelope; handle opens a
CONSUMER span whose parent is read back from it, so one trace follows an event across
every service. Without a configured TracerProvider the API's no-op tracer costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aiwf.schemas import Envelope

_PROPAGATOR = TraceContextTextMapPropagator()
tracer = trace.get_tracer("aiwf")


_checked_at = -1.0
_enabled = False


def enabled() -> bool:
    """True once the application has installed a real TracerProvider (the SDK's, say).

    Looked up at most once a second: the lookup reads the environment, which costs more than
    the rest of a disabled span.
    """
    global _checked_at, _enabled  # noqa: PLW0603 - a one-second cache for the hot path
    now = time.monotonic()
    if now - _checked_at > 1.0:
        _enabled = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider)
        _checked_at = now
    return _enabled


def refresh() -> None:
    """Forget the cached `enabled()` answer (after installing a TracerProvider, say)."""
    global _checked_at  # noqa: PLW0603 - see enabled()
    _checked_at = -1.0


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, or None when nothing is recording."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


_NO_SPAN = nullcontext(INVALID_SPAN)


def publish_span(event_type: str) -> AbstractContextManager[Span]:
    """A PRODUCER span around one publish (a shared no-op while tracing is off: it is on the hot path)."""
    return _publish_span(event_type) if enabled() else _NO_SPAN


def handle_span(env: Envelope, group: str) -> AbstractContextManager[Span]:
    """A CONSUMER span around one handler run, parented by the event's traceparent."""
    return _handle_span(env, group) if enabled() else _NO_SPAN


@contextmanager
def _publish_span(event_type: str) -> Iterator[Span]:
    with tracer.start_as_current_span(f"publish {event_type}", kind=SpanKind.PRODUCER) as span:
        span.set_attribute("messaging.system", "redis")
        yield span


@contextmanager
def _handle_span(env: Envelope, group: str) -> Iterator[Span]:
    parent = _PROPAGATOR.extract({"traceparent": env.traceparent}) if env.traceparent else None
    with tracer.start_as_current_span(f"handle {env.type}", context=parent, kind=SpanKind.CONSUMER) as span:
        if span.is_recording():
            span.set_attribute("messaging.system", "redis")
            span.set_attribute("messaging.consumer.group.name", group)
            span.set_attribute("messaging.message.id", env.id)
            span.set_attribute("aiwf.correlation_id", env.correlation_id)
        yield span
