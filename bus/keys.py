"""The whole keyspace, in one place: every Redis key aiwf builds, and the parsers that read one back.

Each domain's stream, its dead letters, its processed-markers, its retry and replay state, its
alarms and its outbox share one `{domain}` hash tag, so on Redis Cluster they live in one slot
and the commit script may touch them together. Outputs to another domain's stream are another
slot: on a Cluster the commit writes them into the source's outbox (`aiwf:outbox:{domain}`), and
a relay (bus/relay.py) moves them on; on a single Redis the commit writes them directly.

The event store (bus/store) is on the same bus: a category's keys share the tag
`{es-<category>}` with its category stream `aiwf:ev:{es-<category>}`, an ordinary bus stream,
so a projection is an ordinary consumer group on it. Bus domains cannot contain `-`, so an
`es-...` domain never collides with an event domain.

Code elsewhere never takes a key apart by hand: it asks `stream_domain` / `dead_letter_domain`.
"""

from __future__ import annotations

import re

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
    """The plain marker that `group` has committed `event_id` (an id that is not a UUIDv7; bus/markers.py)."""
    return f"{PREFIX}:done:{{{domain}}}:{group}:{event_id}"


def processed_bucket(domain: str, group: str, bucket: int | str, shard: int | str) -> str:
    """Hash of `group`'s markers for UUIDv7 ids made in one time bucket, one shard of it (bus/markers.py)."""
    return f"{PREFIX}:marks:{{{domain}}}:{group}:{bucket}:{shard}"


def heartbeat(service: str, consumer: str) -> str:
    """A worker's heartbeat hash, expiring when the worker stops refreshing it."""
    return f"{PREFIX}:hb:{service}:{consumer}"


def service_stats(service: str) -> str:
    """A service's counters summed over every instance it ever ran (HINCRBY per heartbeat): restarts keep them."""
    return f"{PREFIX}:stats:{service}"


def heartbeat_client(service: str, consumer: str) -> str:
    """The CLIENT SETNAME of a worker's heartbeat connection: gone from CLIENT LIST once its process is."""
    return f"aiwf-hb:{service}:{consumer}"


def outbox(domain: str) -> str:
    """Redis Cluster only: outputs of commits on `domain`'s slot bound for another slot, in commit order."""
    return f"{PREFIX}:outbox:{{{domain}}}"


def outbox_domain(key: str) -> str | None:
    """The domain of an outbox key (`aiwf:outbox:{llm}` -> `llm`); None for any other key."""
    match = _OUTBOX_KEY.match(key)
    return match[1] if match else None


def relay_lease(domain: str) -> str:
    """Who relays `domain`'s outbox right now (one relay at a time keeps the order per source stream)."""
    return f"{PREFIX}:relay:lease:{{{domain}}}"


#: The processed-marker group under which a destination remembers the event ids relayed to it.
RELAY_GROUP = "~relay"
#: Set: every outbox key a process has written to or relays (what a worker's sweep walks; no SCAN).
OUTBOXES = f"{PREFIX}:outboxes"

HEARTBEAT_PATTERN = f"{PREFIX}:hb:*"
#: Hash: service -> epoch seconds of its last heartbeat (outlives the heartbeats; a graceful stop removes it).
SERVICES_SEEN = f"{PREFIX}:seen"
#: Hash: alert id (`<alert>/<service>`) -> JSON of since when its condition holds (`aiwf alerts`).
ALERTS = f"{PREFIX}:alerts"
STREAM_PATTERN = f"{PREFIX}:ev:*"
DEAD_LETTER_PATTERN = f"{PREFIX}:dlq:*"

_STREAM_KEY = re.compile(rf"^{PREFIX}:ev:\{{([^{{}}]+)\}}$")
_DEAD_LETTER_KEY = re.compile(rf"^{PREFIX}:dlq:\{{([^{{}}]+)\}}$")
_OUTBOX_KEY = re.compile(rf"^{PREFIX}:outbox:\{{([^{{}}]+)\}}$")


def stream_domain(key: str) -> str | None:
    """The domain of an event stream key (`aiwf:ev:{llm}` -> `llm`); None for any other key."""
    match = _STREAM_KEY.match(key)
    return match[1] if match else None


def dead_letter_domain(key: str) -> str | None:
    """The domain of a dead-letter stream key (`aiwf:dlq:{llm}` -> `llm`); None for any other key."""
    match = _DEAD_LETTER_KEY.match(key)
    return match[1] if match else None


def gateway_request(request_id: str) -> str:
    """Hash: what the gateway needs to answer `GET /api/v1/requests/{id}` on any replica (route, where to look)."""
    return f"{PREFIX}:gw:req:{request_id}"


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


# The event store (bus/store).

#: The bus domain prefix of every store stream: the source of truth, never trimmed by retention.
STORE_DOMAIN_PREFIX = "es-"
#: The event store's global log is the category stream of this reserved name.
STORE_ALL = "all"


def service_prefix(service: str) -> str:
    """Every key of a service's own records (the pipeline's runs) starts with this: `aiwf:{pipeline}:`."""
    return f"{PREFIX}:{{{service}}}:"


def stream_alarms(domain: str) -> str:
    """Hash: what the workers noticed about `domain`'s stream (retention backlog, groups recreated)."""
    return f"{PREFIX}:alarm:{{{domain}}}"


def store_domain(category: str) -> str:
    """The bus domain of a category's stream (`user` -> `es-user`); STORE_ALL gives the global log's."""
    return STORE_DOMAIN_PREFIX + category


def never_trimmed(domain: str) -> bool:
    """True for event-store streams, which retention must leave whole."""
    return domain.startswith(STORE_DOMAIN_PREFIX)


def category_stream(category: str) -> str:
    """The category view: every event of every aggregate of one category, in append order."""
    return stream(store_domain(category))


GLOBAL_STREAM = category_stream(STORE_ALL)
"""The global log: every appended event, in append order."""


def aggregate_events(category: str, aggregate_id: str) -> str:
    """An aggregate's stream; entry `<version>-0` holds version `<version>`."""
    return f"{PREFIX}:es:{{{store_domain(category)}}}:{aggregate_id}"


def aggregate_index(category: str, aggregate_id: str) -> str:
    """Hash: event id -> version, the idempotency index of an aggregate's appends."""
    return f"{PREFIX}:esid:{{{store_domain(category)}}}:{aggregate_id}"


def aggregate_snapshot(category: str, aggregate_id: str) -> str:
    """The latest snapshot of an aggregate (a cache: deleting it only slows the next load)."""
    return f"{PREFIX}:snap:{{{store_domain(category)}}}:{aggregate_id}"


def projection_prefix(domain: str, name: str) -> str:
    """Every read-model key of projection `name` over `domain`'s stream starts with this."""
    return f"{PREFIX}:proj:{{{domain}}}:{name}:"


def projection_key(domain: str, name: str, *parts: str) -> str:
    """One read-model key of projection `name`, e.g. `aiwf:proj:{es-user}:names:by-name`."""
    return projection_prefix(domain, name) + ":".join(parts)


def release(service: str) -> str:
    """Hash: a service's active release, the one it replaced, and when (bus/release.py)."""
    return f"{PREFIX}:release:{service}"


def supervisor(supervisor_id: str) -> str:
    """Hash, expiring: one running `aiwf up` (its pid, host and services), refreshed while it runs."""
    return f"{PREFIX}:sup:{supervisor_id}"


def supervisor_inbox(supervisor_id: str) -> str:
    """List: `aiwf ctl` requests to one `aiwf up` (cli/ctl.py)."""
    return f"{PREFIX}:ctl:inbox:{supervisor_id}"


def control_reply(request_id: str) -> str:
    """List: the answer to one `aiwf ctl` request."""
    return f"{PREFIX}:ctl:reply:{request_id}"


SUPERVISOR_PATTERN = f"{PREFIX}:sup:*"


def shadow_stream(release: str, domain: str) -> str:
    """Where a shadow release's outputs to `domain` go instead of `stream(domain)` (`aiwf release shadow`)."""
    return f"{PREFIX}:shadow:{release}:ev:{{{domain}}}"


def shadow_dead_letters(release: str, domain: str) -> str:
    """Where a shadow release's failures on `domain` go instead of `dead_letters(domain)`."""
    return f"{PREFIX}:shadow:{release}:dlq:{{{domain}}}"


SHADOW_PATTERN = f"{PREFIX}:shadow:*"


def chaos(service: str) -> str:
    """Hash: the fault `aiwf chaos run` injects into a service (honoured only under AIWF_CHAOS=1)."""
    return f"{PREFIX}:chaos:{service}"
