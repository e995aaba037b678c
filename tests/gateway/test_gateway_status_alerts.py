"""GET /api/v1/status lists the alerts that hold (`aiwf alerts`) and the open incidents (`aiwf incidents`)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from http_support import Gateway, account
from service_support import serving

from aiwf.bus import Context, PermanentError, Publisher, RetryPolicy, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.schemas import Event
from aiwf.workers.auth.service import SERVICE as AUTH
from tests.contract.harness import drain, running
from tests.events import ItemCreated

ONE_SHOT = RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, outage_after=1000)


async def test_status_lists_firing_alerts_and_open_incidents(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """Three dead letters of one cause are one incident; a service last seen two minutes ago fires offline,
    and is an incident of its own."""
    sub = Subscription(stream="testing", group="broken", retry=ONE_SHOT)

    @sub.handler
    async def fail(event: ItemCreated, ctx: Context) -> list[Event]:
        raise PermanentError(f"cannot take {event.title}")

    for n in range(3):
        await Publisher(client, bus).publish(ItemCreated(title=f"t{n}"))
    async with running(sub, bus, service="broken"):
        await drain(client, sub)
    await client.hset(keys.SERVICES_SEEN, "llm", str(int(time.time()) - 120))
    async with serving(AUTH, bus), gateway() as http:  # /api/v1/status needs a signed-in user
        response = await http.get("/api/v1/status", headers=await account(http, "ada"))
    assert response.status_code == 200
    body = response.json()
    [offline] = [a for a in body["alerts"] if a["alert"] == "AiwfServiceOffline"]
    assert (offline["service"], offline["state"], offline["severity"]) == ("llm", "firing", "critical")
    kinds = sorted((i["kind"], i["service"], i["count"]) for i in body["incidents"])
    assert kinds == [("alert", "llm", 1), ("dead_letters", "broken", 3)]
