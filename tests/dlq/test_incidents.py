"""Incidents: dead letters grouped by fingerprint (service, event type, error type, failing frame)."""

from __future__ import annotations

import contextlib

import orjson
import pytest
import redis.asyncio as aioredis
import typer
from dlq_world import Cli, poison, run_cli
from typer.testing import CliRunner, Result

from aiwf.bus import Context, Publisher, RetryPolicy, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.cli import dlq, incidents
from aiwf.dlq import incidents as incidents_
from aiwf.dlq.fingerprint import failing_frame, without_variables
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCreated

ONE_SHOT = RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, reclaim_idle_s=1.0, outage_after=1000)


def _parse(event: ItemCreated) -> None:
    raise ValueError(f"title {event.title!r} cannot be parsed (quantity {event.quantity})")


def _check(event: ItemCreated) -> None:
    raise ValueError(f"quantity {event.quantity} of {event.title} is over the limit")


class Broken:
    """A `counter` group on `testing` failing two ways: every third event in _parse, the others in _check."""

    fixed = False

    def subscription(self) -> Subscription:
        sub = Subscription(stream="testing", group="counter", retry=ONE_SHOT)

        @sub.handler
        async def count(event: ItemCreated, ctx: Context) -> list[Event]:
            if not self.fixed:
                _parse(event) if event.quantity % 3 == 0 else _check(event)
            return []

        return sub

    async def run(self, client: aioredis.Redis, config: BusConfig, quantities: range) -> None:
        pub = Publisher(client, config)
        for q in quantities:
            await pub.publish(ItemCreated(title=f"item-{q}", quantity=q))
        sub = self.subscription()
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(running(sub, config))
            await drain(client, sub, timeout_s=60)


@pytest.fixture
def cli(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`aiwf incidents` and `aiwf dlq` against the test Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "250")
    app = typer.Typer()
    incidents.register(app)
    dlq.register(app)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input)

    return invoke


async def _listed(cli: Cli) -> list[dict[str, object]]:
    result = await run_cli(cli, "incidents", "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = orjson.loads(result.stdout)
    return rows


async def test_thousand_letters_of_two_causes_are_two_incidents(
    client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """1,000 letters with 1,000 different messages and two failing frames make two incidents, counted right.

    Quantities 0..999: the 334 multiples of three fail in _parse, the 666 others in _check.
    Ten more (1000..1009, three multiples of three) bump the two counts; no third incident opens.
    """
    broken = Broken()
    await broken.run(client, config, range(1000))
    assert await client.xlen(keys.dead_letters("testing")) == 1000

    rows = await _listed(cli)
    by_frame = {str(r["frame"]).split(":")[1]: r for r in rows}
    assert {f: r["count"] for f, r in by_frame.items()} == {"_parse": 334, "_check": 666}
    for row in rows:
        assert row["service"] == "counter"
        assert row["error_type"] == "ValueError"
        assert row["event_types"] == ["testing.item.created"]
        assert str(row["first_seen"]) < str(row["last_seen"])
    assert "_parse(event) if event.quantity % 3 == 0 else _check(event)" not in str(by_frame["_parse"]["frame"])

    await broken.run(client, config, range(1000, 1010))
    again = {str(r["frame"]).split(":")[1]: r for r in await _listed(cli)}
    assert {f: r["count"] for f, r in again.items()} == {"_parse": 337, "_check": 673}
    assert {f: r["id"] for f, r in again.items()} == {f: r["id"] for f, r in by_frame.items()}
    assert {f: r["first_seen"] for f, r in again.items()} == {f: r["first_seen"] for f, r in by_frame.items()}


async def test_replaying_or_purging_an_incident_resolves_it(
    client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """`dlq replay --incident` takes exactly that incident's letters away; `dlq purge --incident` the other's."""
    broken = Broken()
    await broken.run(client, config, range(30))
    found = {inc.fingerprint.frame.split(":")[1]: inc for inc in await incidents_.open_incidents(client)}
    parse, check = found["_parse"], found["_check"]

    result = await run_cli(cli, "dlq", "replay", "--incident", parse.id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["replayed"] == 10
    broken.fixed = True
    await broken.run(client, config, range(0))  # the fixed handler consumes the replayed events
    rows = await _listed(cli)
    assert [(r["id"], r["count"]) for r in rows] == [(check.id, 20)]

    result = await run_cli(cli, "dlq", "purge", "--incident", check.id, "--yes")
    assert result.exit_code == 0, result.output
    assert await _listed(cli) == []
    result = await run_cli(cli, "incidents", "show", check.id)
    assert result.exit_code == 1
    assert "no open incident" in result.stderr


async def test_report_is_markdown_with_secrets_masked(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """`incidents show` is a Markdown bug report: counts, times, masked envelope, traceback, replay commands."""
    await poison(client, config, items=2, things=3)
    rows = await _listed(cli)
    assert sorted(int(str(r["count"])) for r in rows) == [2, 3]
    things = next(r for r in rows if r["service"] == "things")
    result = await run_cli(cli, "incidents", "show", str(things["id"]))
    assert result.exit_code == 0, result.output
    report = result.stdout
    assert report.startswith("# ValueError in things handling testdlq.thing.happened\n")
    assert "| dead letters | 3 |" in report
    assert f"| first seen | {things['first_seen']} |" in report
    assert "Traceback (most recent call last)" in report
    assert f"aiwf dlq replay --incident {things['id']} --dry-run" in report
    assert "c2VjcmV0IGJ5dGVz" not in report  # the sealed secret of the sample payload
    assert '"payload"' in report


def test_bad_incident_ids_are_usage_errors(cli: Cli) -> None:
    """A malformed id is exit 2 with one line, before Redis is asked."""
    for args in (("incidents", "show", "nope"), ("dlq", "purge", "--incident", "XYZ", "--yes")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "12 hex digits" in result.stderr


def test_failing_frame_is_the_innermost_application_frame() -> None:
    """Library frames are skipped, line numbers dropped; the source line is kept."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "/app/workers/llm/handlers.py", line 40, in complete\n'
        "    reply = client.post(url)\n"
        '  File "/venv/lib/python3.11/site-packages/httpx/_client.py", line 1000, in post\n'
        "    raise HTTPError(msg)\n"
        "httpx.HTTPError: 500 for request 1234\n"
    )
    assert failing_frame(text) == "handlers.py:complete: reply = client.post(url)"
    moved = text.replace("line 40", "line 52")
    assert failing_frame(moved) == failing_frame(text)
    assert failing_frame("ValueError: no frames here") is None


def test_message_fallback_drops_variable_parts() -> None:
    """Two messages that differ only in ids, names and numbers normalise to the same text."""
    a = without_variables("user 'ann' order 12 of 0190b2c4-1c2d-7e3f-8a9b-0123456789ab failed")
    b = without_variables("user 'bob' order 977 of 0190b2c4-ffff-7e3f-8a9b-0123456789ab failed")
    assert a == b == "user <str> order <n> of <uuid> failed"
