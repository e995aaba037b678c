"""The Redis Streams bus. Files in the order one event walks through them:

    settings.py     the base of every settings part: one variable per field, a bad value in one line
    config.py       BusConfig (and every bus setting) from REDIS_URL / AIWF_*
    server.py       the embedded redis-server when REDIS_URL is unset (ACL file, TLS-only on request)
    redis_binary.py   which redis-server it runs (never by PATH order)
    redis_data.py     which server a data dir holds; an older one is refused
    connection.py   client with timeouts; tenacity retries within a budget; ACL login and mutual TLS
    acl.py          Redis ACL users, least privilege: a service's grant from its subscriptions and outputs
    certs.py        the CA, server and client certificates for mutual TLS (cryptography)
    cluster.py      `aiwf cluster up`: a local 3-master, 3-replica Redis Cluster
    keys.py         the whole keyspace, built and parsed: streams, dead letters, markers, store, read models
    codec.py        Envelope <-> entry fields (the only orjson user)
    publish.py      validate -> envelope -> XADD, concurrent publishes in one script call
    publish_wire.py   one XADD or one script call per flush; retries flagged as possible repeats
    groups.py       consumer groups: created, recreated, and pruned of consumers that are gone
    handler.py      Subscription + the Handler contract + Context
    decision.py     what a handler returns: events, store appends, read-model writes; Nack
    consume.py      the consumer: read -> dispatch slots -> commit pipeline
    read.py           due retries, orphans (XAUTOCLAIM pages), new entries
    dedupe.py         which entries may repeat a committed event, and which did (markers.py)
    dispatch.py       decode -> dedupe -> middleware + handler -> Outcome
    middleware/       logging, tracing, metrics, timeout around every handler call (DEFAULT_MIDDLEWARE)
    outcome.py        Done | Skip | Retry | DeadLetter, and classify()
    outage.py         backend evidence only: pause, probe on a schedule, resume
    pipeline.py       finished entries committed in micro-batches, one at a time
    commit.py         the ops of one commit -> lua/commit.lua (marker + outputs + appends + writes + ack)
    relay.py          Redis Cluster: cross-slot outputs from the source's outbox to their streams, once each
    markers.py        processed-markers: where an event id's marker lives (sharded per-second hashes)
    deadletter.py     dead-letter entry fields
    settle.py         each entry's commit result: done, run again (conflict), retry later, dead letter
    replies.py        Redis error replies sorted: outage (pause) or misconfigured (say so)
    reclaim.py        XCLAIM / XAUTOCLAIM, lease renewal, hand-back on stop
    retention.py    trim only what every group has acknowledged
    telemetry.py    OpenTelemetry spans, trace context carried in the envelope
    otlp.py         the SDK + OTLP/HTTP exporter, from the OTEL_* environment (nothing when unset)

Around the path:

    worker.py       a service's process: lifespan, consumers, signals
    heartbeat.py    heartbeat and retention loop; health_port.py serves GET /health, /ready and /metrics
    metrics/        Prometheus figures per consumer, one registry per Worker (GET /metrics),
                    and window.py: the heartbeat's alert figures over AIWF_ALERT_WINDOW
    alerts.py       alerts.yml's rules evaluated from heartbeats and alarms (`aiwf alerts`)
    alarms.py       retention backlog alarms and recreated groups, per stream, for streams/health
    scripts.py      the loader of lua/*.lua
    logs.py         structlog: JSON or console lines, bound to the event, secrets masked
    backoff.py      the one backoff; breaker.py the one circuit breaker
    stats.py        a consumer's counters
    process.py      child processes that die with their parent
    health.py       service state from heartbeats
    blobs.py        claim-check blob store for large payloads; blob_gc.py: remove the unreferenced
    store/          the event-sourced store: append, read, aggregates, projections
    testing.py      a real Redis for tests, and waiting on conditions
"""

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.decision import Append, Decision, Nack, Writes
from aiwf.bus.errors import (
    AiwfError,
    BackendUnavailable,
    ConfigError,
    GroupMissing,
    PermanentError,
    PublishRefused,
    RedisUnavailable,
    TransientError,
)
from aiwf.bus.handler import Context, Handler, Subscription
from aiwf.bus.middleware import DEFAULT_MIDDLEWARE, Middleware
from aiwf.bus.publish import Publisher
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.worker import Service, Startup, Worker

__all__ = [
    "DEFAULT_MIDDLEWARE",
    "AiwfError",
    "Append",
    "BackendUnavailable",
    "BusConfig",
    "ConfigError",
    "Consumer",
    "Context",
    "Decision",
    "GroupMissing",
    "Handler",
    "Middleware",
    "Nack",
    "PermanentError",
    "PublishRefused",
    "Publisher",
    "RedisUnavailable",
    "RetryPolicy",
    "Service",
    "Startup",
    "Subscription",
    "TransientError",
    "Worker",
    "Writes",
    "connect",
]
