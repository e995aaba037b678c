"""The whole keyspace, in one place.

Each domain's stream, its dead letters and its processed-markers share one `{domain}`
hash tag, so on Redis Cluster they live in one slot and the commit script may touch them
together. (Outputs to another domain's stream are a second slot: on Cluster that needs
an outbox relay, which is not built yet; on a single Redis or a replica set it is one step.)
"""

from __future__ import annotations

PREFIX = "aiwf"


def domain_of(event_type: str) -> str:
    """`documents.document.uploaded` -> `documents`: events live on their domain's stream."""
    return event_type.split(".", 1)[0]


def stream(domain: str) -> str:
    """The event stream of one domain."""
    return f"{PREFIX}:ev:{{{domain}}}"


def dead_letters(domain: str) -> str:
    """The dead-letter stream of one domain's stream (every group's failures)."""
    return f"{PREFIX}:dlq:{{{domain}}}"


def processed(domain: str, group: str, event_id: str) -> str:
    """The marker that `group` has committed `event_id` read from `domain`'s stream."""
    return f"{PREFIX}:done:{{{domain}}}:{group}:{event_id}"


def heartbeat(service: str, consumer: str) -> str:
    """A worker's heartbeat hash, expiring when the worker stops refreshing it."""
    return f"{PREFIX}:hb:{service}:{consumer}"


#: Streams of the event store (bus/store): the source of truth, never trimmed by retention.
STORE_DOMAIN_PREFIX = "es-"


def never_trimmed(domain: str) -> bool:
    """True for event-store streams, which retention must leave whole."""
    return domain.startswith(STORE_DOMAIN_PREFIX)


#: The auth service's public signing keys (JWKS), for verifying tokens offline.
AUTH_JWKS = f"{PREFIX}:auth:jwks"

# Dead-letter tooling (dlq/). Outside `aiwf:dlq:*` and `aiwf:ev:*` so scans for those never
# see them; per-domain ones carry `{domain}` so a replay touches one Redis Cluster slot.

#: One entry per replay or purge run: who, when, how many, which letters.
AUDIT = f"{PREFIX}:audit"
#: The audit stream keeps about this many entries (XADD MAXLEN ~).
AUDIT_MAXLEN = 100_000


def replay_count(domain: str, event_id: str) -> str:
    """How many times one event id was replayed from `domain`'s dead letters."""
    return f"{PREFIX}:replay:count:{{{domain}}}:{event_id}"


def replay_audit(domain: str) -> str:
    """One audit entry per replayed letter of `domain`, written by the replay script itself."""
    return f"{PREFIX}:audit:{{{domain}}}"


def replayed_as(domain: str) -> str:
    """Hash: dead-letter entry id -> stream entry id it was replayed as."""
    return f"{PREFIX}:replay:done:{{{domain}}}"


def stream_alarms(domain: str) -> str:
    """Hash: what the workers noticed about `domain`'s stream (retention backlog, groups recreated)."""
    return f"{PREFIX}:alarm:{{{domain}}}"


HEARTBEAT_PATTERN = f"{PREFIX}:hb:*"
STREAM_PATTERN = f"{PREFIX}:ev:*"
DEAD_LETTER_PATTERN = f"{PREFIX}:dlq:*"


def domain_of_key(key: str) -> str:
    """The domain inside a stream or dead-letter key: `aiwf:ev:{llm}` -> `llm`."""
    return key[key.index("{") + 1 : key.index("}")]


# The event store (bus/store). A category's keys share the tag `{es-<category>}` with its
# category stream, which is a bus stream so that projections are ordinary consumer groups.


def aggregate_events(category: str, aggregate_id: str) -> str:
    """An aggregate's stream; entry `<version>-0` holds version `<version>`."""
    return f"{PREFIX}:es:{{{STORE_DOMAIN_PREFIX}{category}}}:{aggregate_id}"


def aggregate_index(category: str, aggregate_id: str) -> str:
    """Hash: event id -> version, the idempotency index of an aggregate's appends."""
    return f"{PREFIX}:esid:{{{STORE_DOMAIN_PREFIX}{category}}}:{aggregate_id}"


def aggregate_snapshot(category: str, aggregate_id: str) -> str:
    """The latest snapshot of an aggregate (a cache)."""
    return f"{PREFIX}:snap:{{{STORE_DOMAIN_PREFIX}{category}}}:{aggregate_id}"


def projection_prefix(domain: str, name: str) -> str:
    """Every read-model key of projection `name` over `domain`'s stream starts with this."""
    return f"{PREFIX}:proj:{{{domain}}}:{name}:"


#: The event store's global log is the category stream of this reserved name.
STORE_ALL = "all"
