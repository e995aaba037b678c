"""The event store: services keep their state as events, on the bus's Redis and wire format.

Files in the order an event walks through them:

stream_id.py   stream ids (`<category>-<id>`), validated; their keys are in bus/keys.py
append.py      the Lua append: idempotency, expected version, then all writes at once
store.py       EventStore: append, version, read an aggregate / a category / the global log
read.py        entries -> Recorded, upcast to the newest schema version (schemas.REGISTRY)
aggregate.py   Aggregate (state from events) and Repository (snapshot + tail; save)
projection.py  Projection: a read model on a bus consumer group over a category or the log
errors.py      StoreError, ConcurrencyError, IdempotencyConflict

Use:

    store = EventStore(client, config)
    users = Repository(store, User, snapshot_every=100)     # User(Aggregate), category = "user"
    user = await users.load("42")                             # version 0 if it has no events yet
    user.register(...)                                        # a command: checks state, record(event)
    await users.save(user, cause=ctx.envelope)                # ConcurrencyError if someone saved first
                                                              # (any number of events: appends of <= 1000)

    names = Projection("user_names", "user")                 # a consumer group on the category view
    @names.handler
    async def on_registered(event: UserRegistered, env: Envelope, writes: Writes) -> None:
        writes.hset(names.key("by-name"), event.username, event.user_id)
    Service("auth", [names.subscription(), ...])             # applies on the consumer's client

Keys, for an aggregate `user-42`, all tagged `{es-user}`:

    aiwf:es:{es-user}:42      the aggregate's events; entry `<version>-0` is version <version>
    aiwf:esid:{es-user}:42    hash event id -> version (a retried append is a no-op)
    aiwf:snap:{es-user}:42    the latest snapshot
    aiwf:ev:{es-user}         the category view: a bus stream, so projections are consumer groups
    aiwf:ev:{es-all}          the global log, one order over every category

Entries hold the bus codec's fields (id, type, body = the whole Envelope); the views add
`stream` and `version`. One wire format and one upgrade path with the bus: what `publish`
writes and what `append` writes decode the same way, and old versions are upcast on read.

One Redis, one step. A single Lua script appends to the aggregate stream, its index, the
category view and the global log: all or nothing, and the views can never miss or reorder
an event. That needs every key on one node, which a single Redis 6.2/7.x (with replicas) is.
On Redis Cluster the aggregate, its index, snapshot and category view share the category's
slot, but the global log lives in another: there the script writes the aggregate, the index
and the category view (still atomic, still gap-free per category) and puts each event's
global-log entry into the category's outbox (`aiwf:outbox:{es-<category>}`) in the same step;
`append` relays it at once (bus/relay.py: deduplicated on the event id, in order), and a
worker's sweep moves what a crash left behind. The global order is then the relay's order, and
the global log lags an append by one round trip. A category also stays on one shard: spreading
a hot category needs sub-categories (docs/capacity.md).

Never trimmed. The store is the source of truth: nothing here sets MAXLEN or MINID, and the
bus's retention must skip `es-*` streams (bus/keys.py: never_trimmed). It needs Redis with
`appendonly yes` and `maxmemory-policy noeviction` (an eviction policy can drop whole
streams). `appendfsync everysec` (the embedded server's default) loses no acknowledged
append when Redis or its host process is killed, and up to about one second of appends on
power loss; `appendfsync always` (AIWF_APPENDFSYNC=always) bounds that to one write, at a
cost measured by bench/store_bench.py here: one-event appends about -70 % (1.6k/s against
5-6k/s), batches of 100 about -40 % (Redis fsyncs once per event-loop turn, so batching pays).
Every appended event is stored three times (its aggregate, its category, the global log):
size memory for that.
"""

from aiwf.bus.decision import Writes
from aiwf.bus.store.aggregate import Aggregate, Repository, Snapshot
from aiwf.bus.store.append import ANY, MAX_BATCH, NO_STREAM
from aiwf.bus.store.errors import ConcurrencyError, IdempotencyConflict, StoreError
from aiwf.bus.store.projection import Projection
from aiwf.bus.store.read import START, Recorded
from aiwf.bus.store.store import EventStore
from aiwf.bus.store.stream_id import ALL, StreamId

__all__ = [
    "ALL",
    "ANY",
    "MAX_BATCH",
    "NO_STREAM",
    "START",
    "Aggregate",
    "ConcurrencyError",
    "EventStore",
    "IdempotencyConflict",
    "Projection",
    "Recorded",
    "Repository",
    "Snapshot",
    "StoreError",
    "StreamId",
    "Writes",
]
