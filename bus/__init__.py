"""The Redis Streams bus. Files in the order one event walks through them:

config.py      BusConfig from REDIS_URL / AIWF_*
server.py      the embedded redis-server when REDIS_URL is unset
connection.py  client with timeouts; tenacity retries within a budget
keys.py        every key, hash-tagged by domain
codec.py       Envelope <-> entry fields (the only orjson user)
publish.py     validate -> envelope -> XADD, concurrent publishes pipelined
groups.py      consumer groups, created idempotently
handler.py     Subscription + the Handler contract
consume.py     read -> dedupe -> handle -> commit, per subscription
outcome.py     Done | Skip | Retry | DeadLetter, and classify()
outage.py      same failure everywhere = backend down: pause and probe
commit.py      the Lua commit: marker + outputs + ack, one round trip per batch
deadletter.py  dead-letter entry fields
reclaim.py     XAUTOCLAIM orphans, lease renewal for live work
retention.py   trim only what every group has acknowledged
worker.py      a service's process: consumers, heartbeat, /health, signals
"""

from bus.config import BusConfig
from bus.errors import (
    AiwfError,
    BackendUnavailable,
    ConfigError,
    GroupMissing,
    PermanentError,
    PublishRefused,
    RedisUnavailable,
    TransientError,
)
from bus.handler import Context, Handler, Subscription
from bus.publish import Publisher
from bus.retry import RetryPolicy

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
