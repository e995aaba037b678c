"""Per-service Redis users (bus/acl.py, `aiwf acl generate`): each flow runs under its own user; nothing else does.

Every flow test ends by reading the server's ACL LOG: a denial anywhere in the flow (a retried
NOPERM the worker survived, say) fails it, not only a missing output.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import NoPermissionError, ResponseError

from aiwf.bus import Publisher, codec, keys
from aiwf.bus.connection import connect
from aiwf.bus.testing import wait_until
from aiwf.schemas import Envelope
from aiwf.schemas.events.auth import LoginRequested, RegistrationRequested
from aiwf.schemas.events.calendar import SyncRequested
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.workers import WORKERS, load
from tests.security.world import AclRedis
from tests.worker_support import serving

MakeClient = Callable[[str], aioredis.Redis]
"""`as_user(identity)`: a client logged in as aiwf-<identity>."""
SAMPLES = Path(__file__).resolve().parents[2] / "workers" / "calendar" / "samples"
PASSWORD = "Correct-Horse-Battery-42"


async def events(client: aioredis.Redis, domain: str, type_: str | None = None) -> list[Envelope]:
    """Every event on a domain stream (of one type, if given)."""
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(keys.stream(domain)))
    found = [codec.decode(fields, 64_000_000) for _, fields in rows]
    return [e for e in found if type_ is None or e.type == type_]


async def denials(client: aioredis.Redis) -> list[dict[str, Any]]:
    """The server's ACL LOG: every command some user was refused since the last reset."""
    return cast("list[dict[str, Any]]", await client.acl_log())


async def until(admin: aioredis.Redis, condition: Any, timeout_s: float, what: str) -> None:
    """wait_until, and on a timeout say which commands were refused (the usual reason under ACLs)."""
    try:
        await wait_until(condition, timeout_s, what)
    except AssertionError as exc:
        refused = [(d.get("username"), d.get("object"), d.get("reason")) for d in await denials(admin)]
        seen = {d: [e.type for e in await events(admin, d)] for d in ("auth", "calendar", "pipeline")}
        raise AssertionError(f"{exc}; ACL LOG: {refused}; events: {seen}") from None


@pytest.fixture
async def operator(acl: AclRedis, admin: aioredis.Redis) -> Any:
    """A client and publisher as aiwf-operator (what `aiwf publish` uses); the ACL LOG reset first."""
    await admin.acl_log_reset()
    config = acl.config("operator")
    client = connect(acl.url, config)
    yield client, Publisher(client, config)
    await client.aclose()


async def test_the_document_pipeline_runs_with_each_service_as_its_own_user(
    acl: AclRedis, admin: aioredis.Redis, operator: Any, tmp_path: Path, sealing_keys: Path
) -> None:
    """documents, llm, tts and pipeline, each as aiwf-<name>, take an upload to a spoken summary with no denial."""
    blobs = tmp_path / "blobs"
    _, publisher = operator
    names = ("documents", "llm", "tts", "pipeline")
    async with (
        serving(load(names[0]), acl.config(names[0], blob_dir=blobs)),
        serving(load(names[1]), acl.config(names[1], blob_dir=blobs)),
        serving(load(names[2]), acl.config(names[2], blob_dir=blobs)),
        serving(load(names[3]), acl.config(names[3], blob_dir=blobs)),
    ):
        text = "Redis streams carry events. Each service reads its own. The pipeline asks for the next step."
        await publisher.publish(DocumentUploaded(document_id="doc-acl", filename="a.txt", text=text))

        async def completed() -> bool:
            return bool(await events(admin, "pipeline", "pipeline.summary.completed"))

        await until(admin, completed, 60, "pipeline.summary.completed")
    producers = {e.producer for d in ("documents", "llm", "tts", "pipeline") for e in await events(admin, d)}
    assert producers == {"operator", *names}
    assert [k async for k in admin.scan_iter(match=keys.DEAD_LETTER_PATTERN)] == []
    assert await denials(admin) == []


async def test_auth_registers_and_logs_in_as_its_own_user(
    acl: AclRedis, admin: aioredis.Redis, operator: Any, sealing_keys: Path
) -> None:
    """aiwf-auth keeps its event store, publishes the JWKS and answers register + login with no denial."""
    _, publisher = operator
    async with serving(load("auth"), acl.config("auth")):
        await publisher.publish(RegistrationRequested(username="ada@example.org", password=SecretStr(PASSWORD)))

        async def registered() -> bool:
            return bool(await events(admin, "auth", "auth.user.registered"))

        await until(admin, registered, 30, "auth.user.registered")
        await publisher.publish(LoginRequested(username="ada@example.org", password=SecretStr(PASSWORD)))

        async def answered() -> bool:
            return bool(await events(admin, "auth", "auth.login.succeeded"))

        await until(admin, answered, 30, "auth.login.succeeded")
    assert await events(admin, "auth", "auth.user.registered")
    assert await admin.get(keys.AUTH_JWKS) is not None
    assert [k async for k in admin.scan_iter(match=keys.aggregate_events("user", "*"))]
    assert await denials(admin) == []


async def test_calendar_syncs_and_projects_its_agenda_as_its_own_user(
    acl: AclRedis, admin: aioredis.Redis, operator: Any
) -> None:
    """aiwf-calendar syncs a feed into its store and its agenda projection reads it back, with no denial."""
    _, publisher = operator
    start, end = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ics = (SAMPLES / "weekly_exceptions.ics").read_text()
    async with serving(load("calendar"), acl.config("calendar")):
        await publisher.publish(SyncRequested(calendar_id="team", ics=ics, window_start=start, window_end=end))

        async def projected() -> bool:
            done = await events(admin, "calendar", "calendar.sync.completed")
            agenda = [k async for k in admin.scan_iter(match=keys.projection_prefix("es-calendar", "*") + "*")]
            return bool(done and agenda)

        await until(admin, projected, 30, "calendar.sync.completed and its agenda")
    assert await denials(admin) == []


async def refused(*calls: Callable[[], Awaitable[Any]]) -> None:
    """Each call answers NOPERM."""
    for call in calls:
        with pytest.raises(NoPermissionError):
            await call()


def other_service(name: str) -> str:
    """A built-in service none of whose input streams `name` reads."""
    mine = {s.stream for s in load(name).subscriptions}
    return next(o for o in WORKERS if o != name and not mine & {s.stream for s in load(o).subscriptions})


@pytest.fixture
async def as_user(acl: AclRedis, admin: aioredis.Redis) -> AsyncIterator[MakeClient]:
    """`as_user(identity)`: a client logged in as aiwf-<identity>."""
    made: list[aioredis.Redis] = []

    def make(identity: str) -> aioredis.Redis:
        made.append(connect(acl.url, acl.config(identity)))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.mark.parametrize("name", WORKERS)
async def test_a_service_user_is_refused_everything_that_is_not_its_own(
    name: str, as_user: MakeClient, admin: aioredis.Redis
) -> None:
    """Another service's input stream, FLUSHALL, CONFIG SET, KEYS and another service's keys answer NOPERM."""
    client = as_user(name)
    other = other_service(name)
    other_stream = keys.stream(load(other).subscriptions[0].stream)
    await admin.xadd(other_stream, {"k": "v"})
    store = "calendar" if name == "auth" else "user"
    foreign: list[Callable[[], Awaitable[Any]]] = [
        lambda: client.xadd(other_stream, {"forged": "1"}),
        lambda: client.xrange(other_stream),
        lambda: client.xreadgroup(other, "me", {other_stream: ">"}),
        client.flushall,
        lambda: client.config_set("appendonly", "no"),
        lambda: client.keys("*"),
        client.script_flush,
        lambda: client.xrange(keys.aggregate_events(store, "someone")),
        lambda: client.hset(keys.processed_bucket(keys.stream_domain(other_stream) or "", other, 1, 0), "f", "1"),
    ]
    if name != "pipeline":
        foreign.append(lambda: client.set(keys.service_prefix("pipeline") + "run", "forged"))
    await refused(*foreign)
    assert await admin.xlen(other_stream) == 1  # nothing was added


async def test_the_pipeline_acks_documents_but_cannot_append_to_them(as_user: MakeClient) -> None:
    """pipeline acks on `documents` (its group) but may not add to it, even inside a script, nor DEL/SET/EXPIRE it."""
    client = as_user("pipeline")
    stream = keys.stream("documents")
    with pytest.raises(NoPermissionError):
        await client.xadd(stream, {"forged": "1"})
    await refused(
        lambda: client.delete(stream),  # nor wipe it, replace it or make it expire
        lambda: client.set(stream, "gone"),
        lambda: client.expire(stream, 1),
    )
    forge = client.register_script("return redis.call('XADD', KEYS[1], '*', 'forged', '1')")
    with pytest.raises(ResponseError, match="can't access at least one of the keys"):
        await forge(keys=[stream])
    await client.xgroup_create(stream, "pipeline", id="0", mkstream=True)  # its own group: allowed


async def test_the_gateway_user_cannot_read_the_auth_event_store(as_user: MakeClient, admin: aioredis.Redis) -> None:
    """aiwf-gateway gets NOPERM for auth's aggregates, their index, the category view and the global log."""
    await admin.xadd(keys.aggregate_events("user", "u1"), {"id": "e1"}, id="1-0")
    await admin.hset(keys.aggregate_index("user", "u1"), "e1", 1)
    await admin.xadd(keys.category_stream("user"), {"id": "e1"})
    await admin.xadd(keys.GLOBAL_STREAM, {"id": "e1"})
    gateway = as_user("gateway")
    await refused(
        lambda: gateway.xrange(keys.aggregate_events("user", "u1")),
        lambda: gateway.hgetall(keys.aggregate_index("user", "u1")),
        lambda: gateway.xrange(keys.category_stream("user")),
        lambda: gateway.xinfo_stream(keys.category_stream("user")),
        lambda: gateway.xrevrange(keys.GLOBAL_STREAM, count=1),
    )
    assert await gateway.xrange(keys.stream("llm")) == []  # what it serves, it reads


async def test_the_gateway_user_reads_the_agenda_and_its_position_and_writes_neither(
    as_user: MakeClient, admin: aioredis.Redis
) -> None:
    """aiwf-gateway answers GET /agenda and waits for it after a sync: it reads the agenda's keys and its
    stream's position; it may not write them, nor read the calendar aggregates."""
    from aiwf.workers.calendar.agenda import AGENDA, agenda

    stream = keys.stream(AGENDA.domain)
    await admin.xadd(stream, {"id": "e1"})
    await admin.xgroup_create(stream, AGENDA.name, id="$")
    gateway = as_user("gateway")
    start, end = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    assert await agenda(gateway, "u1:work", start, end) == []
    assert await AGENDA.settled(gateway, timeout_s=1)
    await refused(
        lambda: gateway.zadd(AGENDA.key("start", "u1:work"), {"x": 1}),
        lambda: gateway.xadd(stream, {"forged": "1"}),
        lambda: gateway.xrange(keys.aggregate_events("calendar", "u1:work")),
    )


async def test_the_cli_user_reads_everything_and_writes_nothing(as_user: MakeClient, admin: aioredis.Redis) -> None:
    """aiwf-cli can tail and inspect any aiwf stream but not add, ack, delete or replay."""
    await admin.xadd(keys.stream("llm"), {"k": "v"})
    cli = as_user("cli")
    assert len(cast("list[object]", await cli.xrange(keys.stream("llm")))) == 1
    await refused(
        lambda: cli.xadd(keys.stream("llm"), {"forged": "1"}),
        lambda: cli.delete(keys.stream("llm")),
        lambda: cli.xtrim(keys.stream("llm"), maxlen=0),
        lambda: cli.hset(keys.heartbeat("llm", "x"), "state", "running"),
    )


async def test_the_operator_may_replay_but_not_flush_or_reconfigure(as_user: MakeClient) -> None:
    """aiwf-operator writes any aiwf key; FLUSHALL, FLUSHDB, CONFIG SET, KEYS, DEBUG stay refused."""
    op = as_user("operator")
    await op.xadd(keys.dead_letters("llm"), {"k": "v"})
    await op.delete(keys.dead_letters("llm"))
    await refused(op.flushall, op.flushdb, lambda: op.config_set("save", ""), lambda: op.keys("*"))


def test_a_worker_with_a_wrong_password_stops_at_start_naming_its_user(acl: AclRedis, tmp_path: Path) -> None:
    """`aiwf worker llm` with a wrong password exits 1 with one `aiwf:` line naming aiwf-llm, before any event."""
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    wrong.chmod(0o400)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    env |= {"REDIS_URL": acl.url, "AIWF_REDIS_USERNAME": "aiwf-llm", "AIWF_REDIS_PASSWORD_FILE": str(wrong)}
    aiwf = str(Path(sys.executable).parent / "aiwf")
    done = subprocess.run([aiwf, "worker", "llm"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aiwf: Redis refused user 'aiwf-llm'")


def test_a_password_file_readable_by_others_is_refused(acl: AclRedis, tmp_path: Path) -> None:
    """AIWF_REDIS_PASSWORD_FILE with mode 0644 stops the worker with one line saying the mode, never read."""
    loose = tmp_path / "loose"
    loose.write_text((acl.passwords / "aiwf-llm").read_text())
    loose.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    env |= {"REDIS_URL": acl.url, "AIWF_REDIS_USERNAME": "aiwf-llm", "AIWF_REDIS_PASSWORD_FILE": str(loose)}
    aiwf = str(Path(sys.executable).parent / "aiwf")
    done = subprocess.run([aiwf, "worker", "llm"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"aiwf: AIWF_REDIS_PASSWORD_FILE {loose} has mode 0644; a secret file may be at most 0440 (chmod 0400 {loose})"
    ]


async def test_retention_and_alarms_run_as_the_service_user(as_user: MakeClient, admin: aioredis.Redis) -> None:
    """A worker's retention pass (trim.lua) and its alarm record work under aiwf-llm on its own stream."""
    from aiwf.bus import retention
    from aiwf.bus.alarms import record_trim

    await admin.acl_log_reset()
    stream = keys.stream("llm")
    for i in range(30):
        await admin.xadd(stream, {"n": str(i)})
    await admin.xgroup_create(stream, "llm", id="$")
    llm = as_user("llm")
    report = await retention.trim(llm, stream, keep=5)
    assert report.trimmed > 0
    await record_trim(llm, report)
    assert await admin.exists(keys.stream_alarms("llm"))
    assert await denials(admin) == []


async def test_a_poison_event_is_dead_lettered_by_the_service_user(
    acl: AclRedis, admin: aioredis.Redis, tmp_path: Path
) -> None:
    """aiwf-tts dead-letters a malformed entry on its stream (the commit script's XADD to its dead letters)."""
    await admin.acl_log_reset()
    await admin.xadd(keys.stream("tts"), {"id": "bad", "type": "tts.speech.requested", "body": "{not json"})
    async with serving(load("tts"), acl.config("tts", blob_dir=tmp_path / "blobs")):

        async def dead() -> bool:
            return int(await admin.xlen(keys.dead_letters("tts"))) == 1

        await until(admin, dead, 30, "the dead letter")
    assert await denials(admin) == []
