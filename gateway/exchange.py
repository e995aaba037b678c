"""Request and reply over streams: publish the request event, wait for its reply, or say where it will be.

`Exchange.ask` is the one path of every synchronous route:

    offline service (from heartbeats) ──▶ 503 + Retry-After, nothing published
                                          (unless `Prefer: respond-async`: queued, 202)
    record (route, reply stream position) ──▶ publish the request (event id = request id)
    wait on this process's reply future up to the route's timeout ──▶ the route's response
                                                                  └─▶ 202 + the request's URL

`Exchange.result` answers `GET /api/v1/requests/{id}` on any replica: the record says which
route and where on the reply stream to start looking, and the reply is read from the stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.responses import Response

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.publish import Publisher
from aiwf.gateway.errors import problem
from aiwf.gateway.replies import Replies
from aiwf.gateway.services import ServiceStates
from aiwf.gateway.settings import GatewaySettings
from aiwf.schemas import Envelope, Event, SchemaError
from aiwf.schemas.ids import new_id

__all__ = ["REQUEST_ID", "Exchange", "Route", "accepted", "built", "prefers_async"]

#: Reply-stream entries one GET /api/v1/requests/{id} reads at most, in pages.
SCAN_LIMIT = 100_000
#: Request ids are the UUIDv7 event ids the gateway made; anything else names no request.
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCAN_PAGE = 500
Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class Route:
    """A synchronous route: which service answers, on which stream, with which reply types, how fast."""

    name: str
    service: str
    replies: frozenset[str]
    timeout_s: float
    render: Callable[[Envelope], Awaitable[Response]]
    #: What a person reads when the service is offline.
    offline_message: str

    @property
    def stream(self) -> str:
        """The reply stream: the service's domain stream."""
        return keys.stream(self.service)


def prefers_async(prefer: str | None) -> bool:
    """Whether a `Prefer` header asks for `respond-async` (RFC 7240), among other preferences."""
    return any(p.split("=", 1)[0].strip().lower() == "respond-async" for p in (prefer or "").split(","))


def accepted(request_id: str) -> JSONResponse:
    """202: the work goes on; its result will be at the request's URL (for its owner)."""
    url = f"/api/v1/requests/{request_id}"
    return JSONResponse({"id": request_id, "status": "pending", "url": url}, status_code=202, headers={"Location": url})


class Exchange:
    """Publishes requests and waits for their replies; one per gateway process."""

    def __init__(
        self, client: Redis, config: BusConfig, settings: GatewaySettings, replies: Replies, routes: list[Route]
    ) -> None:
        self.client = client
        self.config = config
        self.settings = settings
        self.replies = replies
        self.routes = {r.name: r for r in routes}
        self.publisher = Publisher(client, config)
        self.states = ServiceStates(client)

    async def ask(self, route: Route, build: Callable[[str], Event], prefer: str | None, owner: str = "") -> Response:
        """Publish `build(request_id)` and answer with its reply, a 202, or a 503 for an offline service.

        `owner` (the caller's user id) alone may read the request later; "" makes it nobody's.
        """
        request_id = new_id()
        event = built(build, request_id)  # a 422 before anything else, offline service or not
        queue = prefers_async(prefer)
        refused = await self.offline(route, prefer)
        if refused is not None:
            return refused
        with self.replies.waiting(request_id) as reply:
            await self._record(route.name, request_id, owner)
            await self.publisher.publish(event, event_id=request_id, correlation_id=request_id)
            if queue:
                return accepted(request_id)
            try:
                env = await asyncio.wait_for(reply, route.timeout_s)
            except TimeoutError:
                return accepted(request_id)
        return await route.render(env)

    async def offline(self, route: Route, prefer: str | None) -> Response | None:
        """The 503 for a call to an offline service (unless `Prefer: respond-async`), else None."""
        if prefers_async(prefer) or await self.states.online(route.service):
            return None
        headers = {"Retry-After": str(self.settings.retry_after_s)}
        return problem(503, f"{route.service}_offline", route.offline_message, headers)

    async def send(self, route: Route, request_id: str, event: Event, owner: str) -> None:
        """Record and publish a request whose reply the caller follows itself (a streamed chat)."""
        await self._record(route.name, request_id, owner)
        await self.publisher.publish(event, event_id=request_id, correlation_id=request_id)

    async def start(self, kind: str, build: Callable[[str], Event], owner: str) -> str:
        """Publish `build(request_id)` for a run followed by its events (no reply awaited); the request id."""
        request_id = new_id()
        event = built(build, request_id)
        await self._record(kind, request_id, owner)
        await self.publisher.publish(event, event_id=request_id, correlation_id=request_id)
        return request_id

    async def _record(self, kind: str, request_id: str, owner: str) -> None:
        key = keys.gateway_request(request_id)
        # Where every followed stream stood: the request's events all come after these positions.
        fields = {"route": kind, "owner": owner, **{s: self.replies.position(s) for s in self.replies.streams}}
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # Mapping keys are invariant in redis-py stubs
            pipe.expire(key, self.settings.request_ttl_s)
            await pipe.execute()

    async def record(self, request_id: str, owner: str) -> dict[str, str] | None:
        """The request's record (its kind under "route", stream positions), if it exists and `owner` made it.

        Another user's request and an unknown one are alike: None (a 404, never a 403 that tells it exists).
        """
        if not REQUEST_ID.fullmatch(request_id):
            return None
        raw = cast("dict[bytes, bytes]", await self.client.hgetall(keys.gateway_request(request_id)))
        record = {k.decode(): v.decode() for k, v in raw.items()}
        if not record or not owner or record.get("owner") != owner:
            return None
        return record

    async def lookup(self, request_id: str, owner: str) -> tuple[Route, Envelope | None] | None:
        """The request's route and its reply (None while there is none yet); None for an unknown request."""
        record = await self.record(request_id, owner)
        route = self.routes.get(record.get("route", "")) if record else None
        if route is None or record is None:
            return None
        found = await self._scan(route.stream, record.get(route.stream, "0-0"), route.replies, request_id, first=True)
        return route, found[0] if found else None

    async def history(self, request_id: str, record: dict[str, str]) -> list[Envelope]:
        """Every event of the request's correlation id on the followed streams, in the order they happened."""
        found: list[Envelope] = []
        for stream in self.replies.streams:
            found += await self._scan(stream, record.get(stream, "0-0"), None, request_id, first=False)
        return sorted(found, key=lambda e: e.id)  # UUIDv7 ids sort by time

    async def _scan(
        self, stream: str, after: str, types: frozenset[str] | None, request_id: str, *, first: bool
    ) -> list[Envelope]:
        """Events after `after` on `stream`: replies caused by the request (`types`) or all of its correlation id."""
        low, read, out = f"({after}", 0, []
        wanted = {t.encode() for t in types} if types is not None else None
        while read < SCAN_LIMIT:
            page = cast("Entries", await self.client.xrange(stream, min=low, max="+", count=SCAN_PAGE))
            for _, fields in page:
                if wanted is not None and fields.get(codec.FIELD_TYPE.encode()) not in wanted:
                    continue
                env = _decoded(fields, self.config)
                if env is None:
                    continue
                if (env.causation_id if wanted is not None else env.correlation_id) == request_id:
                    out.append(env)
                    if first:
                        return out
            if len(page) < SCAN_PAGE:
                break
            read += len(page)
            low = f"({page[-1][0].decode()}"
        return out


def built(build: Callable[[str], Event], request_id: str) -> Event:
    """The request event; a body the event model refuses as a whole (exactly one of two fields...) is a 422."""
    try:
        return build(request_id)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _decoded(fields: dict[bytes, bytes], config: BusConfig) -> Envelope | None:
    try:
        return codec.decode(fields, config.max_event_bytes)
    except SchemaError:
        return None
