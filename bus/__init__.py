"""The Redis Streams bus. Files in the order one event walks through them:

    config.py      BusConfig from REDIS_URL / AIWF_*
    server.py      the embedded redis-server when REDIS_URL is unset
    connection.py  client with timeouts; tenacity retries within a budget
    keys.py        every key, hash-tagged by domain
    codec.py       Envelope <-> entry fields (the only orjson user)
    publish.py     validate -> envelope -> XADD, concurrent publishes in one script call
    groups.py      consumer groups, created idempotently
    handler.py     Subscription + the Handler contract + Context
    consume.py     read -> (markers) -> handle -> commit, per subscription
    outcome.py     Done | Skip | Retry | DeadLetter, and classify()
    outage.py      same failure everywhere = backend down: pause and probe
    commit.py      the Lua commit: marker + outputs + ack, one call per batch
    deadletter.py  dead-letter entry fields
    reclaim.py     XAUTOCLAIM orphans, lease renewal for live work
    retention.py   trim only what every group has acknowledged
    telemetry.py   OpenTelemetry spans, trace context carried in the envelope

Around the path:

    worker.py      a service's process: consumers, heartbeat, /health, retention, signals
    process.py     child processes that die with their parent
    health.py      service state from heartbeats
    resources.py   per-loop Redis resources for handlers that keep state (the event store)
    blobs.py       claim-check blob store for large payloads
    store/         the event-sourced store: append, read, aggregates, projections
    testing.py     a real Redis for tests, and waiting on conditions
"""

from aiwf.bus.config import BusConfig
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
from aiwf.bus.publish import Publisher
from aiwf.bus.retry import RetryPolicy

__all__ = [
    "AiwfError",
    "BackendUnavailable",
    "BusConfig",
    "ConfigError",
    "Context",
    "GroupMissing",
    "Handler",
    "PermanentError",
    "PublishRefused",
    "Publisher",
    "RedisUnavailable",
    "RetryPolicy",
    "Subscription",
    "TransientError",
]
