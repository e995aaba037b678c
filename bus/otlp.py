"""Spans out of the process: the OpenTelemetry SDK with the OTLP/HTTP exporter, set by the standard OTEL_* variables.

Nothing is installed unless an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), so a worker without it keeps the API's no-op tracer and
bus/telemetry.py's hot path stays span-free. OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
turn it off as well. Everything else is the SDK's own reading of the environment: the sampler
(OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), the batch processor (OTEL_BSP_*), the
exporter's headers, timeout and compression (OTEL_EXPORTER_OTLP_*), resource attributes
(OTEL_RESOURCE_ATTRIBUTES). The service name is OTEL_SERVICE_NAME when set, else the worker's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace

from aiwf.bus import telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted() -> bool:
    """True when the environment asks for spans to be exported."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINTS)


def configure_tracing(service: str) -> TracerProvider | None:
    """Install an SDK TracerProvider exporting over OTLP/HTTP when configured; None (nothing installed) otherwise.

    The caller shuts the provider down at exit, which flushes the spans still batched.
    """
    if not wanted():
        return None
    # Imported here: the exporter pulls in protobuf, which a worker without OTLP never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME", "").strip() else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    telemetry.refresh()
    return provider
