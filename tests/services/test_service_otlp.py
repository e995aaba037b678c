"""Spans leave the worker processes over OTLP/HTTP (standard OTEL_* variables): one trace across the services."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from service_support import envelopes

from aiwf.bus import Publisher, otlp
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.cli.supervise import Supervisor, child_env
from aiwf.schemas import new_id
from aiwf.schemas.events.documents import DocumentUploaded

pytestmark = pytest.mark.slow


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP collector stand-in: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        #: (service.name, trace id hex, span id hex, parent span id hex, span name, attributes)
        self.spans: list[tuple[str, str, str, str, str, dict[str, str]]] = []
        self.paths: set[str] = set()
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.paths.add(self.path)
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            (
                                attrs.get("service.name", ""),
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                                span.name,
                                {a.key: a.value.string_value for a in span.attributes},
                            )
                        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_one_trace_across_the_services_reaches_the_collector(
    client: aioredis.Redis, config: BusConfig, redis_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """documents -> pipeline -> llm -> pipeline -> tts as processes exporting to OTEL_EXPORTER_OTLP_ENDPOINT: every
    handle span of the run is in one trace, each parented by the span that caused it, named by service."""
    env = {k: v for k, v in child_env(redis_url).items() if not k.startswith(("AIWF_", "OTEL_"))} | {
        "AIWF_DATA_DIR": str(tmp_path / "data"),
        "AIWF_BLOB_DIR": str(tmp_path / "blobs"),
        "AIWF_DRAIN_TIMEOUT": "5",
        "AIWF_LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    run = new_id()
    supervisor = Supervisor(["documents", "llm", "tts", "pipeline"], env)
    supervisor.start()
    try:
        await Publisher(client, config).publish(
            DocumentUploaded(document_id="otlp-1", text="One sentence. Another one."), correlation_id=run
        )

        async def done() -> bool:
            return any(e.correlation_id == run for e in await envelopes(client, "pipeline"))

        await wait_until(done, 60, "the run to finish")
    finally:
        supervisor.stop(timeout_s=15)  # SIGTERM: each worker shuts its provider down, flushing its spans

    def mine() -> list[tuple[str, str, str, str, str, dict[str, str]]]:
        with receiver.lock:
            return [s for s in receiver.spans if s[5].get("aiwf.correlation_id") == run]

    async def exported() -> bool:
        return {s[0] for s in mine()} >= {"documents", "pipeline", "llm", "tts"}

    await wait_until(exported, 20, "spans of all four services at the collector")
    spans = mine()
    assert receiver.paths == {"/v1/traces"}
    assert len({s[1] for s in spans}) == 1, "one trace"
    ids = {s[2] for s in spans}
    roots = [s for s in spans if s[3] not in ids]
    assert [r[4] for r in roots] == ["handle documents.document.uploaded"]
    names = {(s[0], s[4]) for s in spans}
    assert ("llm", "handle llm.chat.requested") in names
    assert ("tts", "handle tts.speech.requested") in names


def test_nothing_is_installed_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: no provider."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert otlp.configure_tracing("x") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    assert otlp.wanted()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not otlp.wanted()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not otlp.wanted()
