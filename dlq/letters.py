"""Dead letters as read from Redis: parse an entry, find letters by id, scan with a Filter, count.

A letter is named `<domain>/<entry id>` (e.g. `testing/1700000000000-0`): the domain picks
the dead-letter stream `aiwf:dlq:{domain}`, the entry id is the letter's id in it. Fields are
read tolerantly: a letter of a malformed event is still listed, shown and purgeable.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from aiwf.bus import codec, deadletter, keys
from aiwf.bus.connection import Redis
from aiwf.dlq.errors import BadArgument, UnknownLetter
from aiwf.dlq.filters import Filter
from aiwf.schemas.masking import mask_sealed_text as mask_text

REF = re.compile(r"^([a-z][a-z0-9_]*)/(\d+-\d+)$")
#: Entries fetched per XRANGE page while scanning.
PAGE = 500
#: Most letters one replay or purge may select: narrow a larger selection with filters or --limit.
MAX_SELECTION = 100_000
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True)
class Letter:
    """One dead-letter entry: its diagnosis fields and the original entry under `orig.`."""

    domain: str
    entry_id: str
    fields: dict[str, bytes]

    @classmethod
    def from_entry(cls, domain: str, entry_id: bytes | str, raw: dict[bytes, bytes]) -> Letter:
        """A letter from a raw XRANGE entry."""
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return cls(domain, eid, {k.decode(errors="replace"): v for k, v in raw.items()})

    def text(self, name: str) -> str:
        """A field as text ('' when absent)."""
        return self.fields.get(name, b"").decode(errors="replace")

    @property
    def ref(self) -> str:
        """The id commands take: `<domain>/<entry id>`."""
        return f"{self.domain}/{self.entry_id}"

    @property
    def source(self) -> str:
        """The stream the failed entry was read from."""
        return self.text(deadletter.FIELD_SOURCE) or keys.stream(self.domain)

    @property
    def source_id(self) -> str:
        """The failed entry's id on its source stream."""
        return self.text(deadletter.FIELD_SOURCE_ID)

    @property
    def group(self) -> str:
        """The consumer group that gave up on it."""
        return self.text(deadletter.FIELD_GROUP)

    @property
    def consumer(self) -> str:
        """The consumer that held it last."""
        return self.text(deadletter.FIELD_CONSUMER)

    @property
    def deliveries(self) -> int | None:
        """Deliveries before it was dead-lettered (None when the field is missing or garbled)."""
        raw = self.text(deadletter.FIELD_DELIVERIES)
        return int(raw) if raw.isdigit() else None

    @property
    def error_type(self) -> str:
        """The exception class name."""
        return self.text(deadletter.FIELD_ERROR_TYPE)

    @property
    def error(self) -> str:
        """The exception message."""
        return self.text(deadletter.FIELD_ERROR)

    @property
    def traceback(self) -> str:
        """The formatted traceback, as the consumer captured it."""
        return self.text(deadletter.FIELD_TRACEBACK)

    @property
    def host(self) -> str:
        """The host the consumer ran on."""
        return self.text(deadletter.FIELD_HOST)

    @property
    def event_id(self) -> str:
        """The original entry's event id field (the key of idempotency)."""
        return self.text(deadletter.ORIGINAL_PREFIX + codec.FIELD_ID)

    @property
    def event_type(self) -> str:
        """The original entry's event type field."""
        return self.text(deadletter.ORIGINAL_PREFIX + codec.FIELD_TYPE)

    @property
    def body(self) -> bytes | None:
        """The original envelope JSON, byte for byte (may be malformed)."""
        return self.fields.get(deadletter.ORIGINAL_PREFIX + codec.FIELD_BODY)

    @property
    def original(self) -> dict[str, bytes]:
        """Every field of the original entry, without the prefix."""
        n = len(deadletter.ORIGINAL_PREFIX)
        return {k[n:]: v for k, v in self.fields.items() if k.startswith(deadletter.ORIGINAL_PREFIX)}

    @property
    def failed_ms(self) -> int:
        """When it was dead-lettered: the time part of its entry id, in epoch milliseconds."""
        return int(self.entry_id.split("-")[0])

    @property
    def failed_at(self) -> str:
        """When it was dead-lettered, ISO 8601 in UTC."""
        return self.text(deadletter.FIELD_FAILED_AT) or datetime.fromtimestamp(self.failed_ms / 1000, UTC).isoformat()

    def order(self) -> tuple[int, int]:
        """Sort key: dead-lettering order within a domain, time order across domains."""
        ms, seq = self.entry_id.split("-")
        return int(ms), int(seq)

    def summary(self) -> dict[str, Any]:
        """The row `aiwf dlq ls --json` prints."""
        return {
            "id": self.ref,
            "domain": self.domain,
            "stream": self.source,
            "source_id": self.source_id,
            "group": self.group,
            "consumer": self.consumer,
            "type": self.event_type,
            "event_id": self.event_id,
            "error_type": self.error_type,
            "error": mask_text(self.error),
            "deliveries": self.deliveries,
            "failed_at": self.failed_at,
        }


def parse_ref(text: str) -> tuple[str, str]:
    """`testing/1700000000000-0` -> (`testing`, `1700000000000-0`); BadArgument otherwise."""
    match = REF.match(text.strip())
    if not match:
        raise BadArgument(
            f"bad dead-letter id {text[:100]!r}: expected DOMAIN/ENTRY-ID as `aiwf dlq ls` shows it, "
            "e.g. documents/1700000000000-0"
        )
    return match[1], match[2]


async def domains(client: Redis) -> list[str]:
    """Every domain that has a dead-letter stream, sorted."""
    found: set[str] = set()
    async for key in client.scan_iter(match=keys.DEAD_LETTER_PATTERN, count=1000, _type="stream"):
        domain = keys.dead_letter_domain(key.decode() if isinstance(key, bytes) else str(key))
        if domain is not None:
            found.add(domain)
    return sorted(found)


async def scan(client: Redis, flt: Filter, *, newest_first: bool = True, limit: int | None = None) -> list[Letter]:
    """Letters passing `flt`, newest (or oldest) first across domains, at most `limit` of them."""
    chosen = [flt.domain] if flt.domain is not None else await domains(client)
    found: list[Letter] = []
    for domain in chosen:
        found += await _scan_domain(client, domain, flt, newest_first, limit)
    found.sort(key=Letter.order, reverse=newest_first)
    return found[:limit] if limit is not None else found


async def _scan_domain(client: Redis, domain: str, flt: Filter, newest_first: bool, limit: int | None) -> list[Letter]:
    key = keys.dead_letters(domain)
    low = str(flt.since_ms) if flt.since_ms is not None else "-"
    high = str(flt.before_ms - 1) if flt.before_ms is not None else "+"
    found: list[Letter] = []
    while True:
        if newest_first:
            page = cast("list[Entry]", await client.xrevrange(key, max=high, min=low, count=PAGE))
        else:
            page = cast("list[Entry]", await client.xrange(key, min=low, max=high, count=PAGE))
        for entry_id, fields in page:
            letter = Letter.from_entry(domain, entry_id, fields)
            if flt.matches(letter):
                found.append(letter)
                if limit is not None and len(found) >= limit:
                    return found
        if len(found) > MAX_SELECTION:
            raise BadArgument(f"more than {MAX_SELECTION} dead letters match: narrow the selection or use --limit")
        if len(page) < PAGE:
            return found
        last = page[-1][0].decode()
        if newest_first:
            high = f"({last}"
        else:
            low = f"({last}"


async def fetch(client: Redis, refs: list[str]) -> tuple[list[Letter], list[str]]:
    """The letters named by `refs` (order kept, duplicates dropped) and the refs that name none."""
    parsed = list(dict.fromkeys(parse_ref(r) for r in refs))
    if len(parsed) > MAX_SELECTION:
        raise BadArgument(f"{len(parsed)} ids given; at most {MAX_SELECTION} per command")
    pipe = client.pipeline(transaction=False)
    for domain, entry_id in parsed:
        pipe.xrange(keys.dead_letters(domain), min=entry_id, max=entry_id, count=1)
    replies = cast("list[list[Entry]]", await pipe.execute())
    found, missing = [], []
    for (domain, entry_id), reply in zip(parsed, replies, strict=True):
        if reply:
            found.append(Letter.from_entry(domain, reply[0][0], reply[0][1]))
        else:
            missing.append(f"{domain}/{entry_id}")
    return found, missing


async def get(client: Redis, ref: str) -> Letter:
    """One letter by id; UnknownLetter (saying where it went, when known) if there is none."""
    found, missing = await fetch(client, [ref])
    if missing:
        domain, entry_id = parse_ref(ref)
        where = await replayed_as(client, domain, entry_id)
        if where is not None:
            raise UnknownLetter(f"dead letter {ref} was replayed as entry {where} of {keys.stream(domain)}")
        raise UnknownLetter(f"no dead letter {ref} (it may have been replayed or purged; see `aiwf dlq ls`)")
    return found[0]


async def replayed_as(client: Redis, domain: str, entry_id: str) -> str | None:
    """The stream entry id a letter was replayed as, while that record lasts."""
    raw = await client.hget(keys.replayed_as(domain), entry_id)
    return raw.decode() if isinstance(raw, bytes) else None


async def times_replayed(client: Redis, domain: str, event_id: str) -> int:
    """How many times this event id was replayed from `domain`'s dead letters."""
    raw = await client.get(keys.replay_count(domain, event_id))
    return int(raw) if raw is not None else 0


def stats(letters: list[Letter]) -> dict[str, Any]:
    """Counts by stream, event type, error type and group: what `aiwf dlq ls --stats` prints."""
    return {
        "total": len(letters),
        "by_stream": dict(Counter(lt.domain for lt in letters).most_common()),
        "by_type": dict(Counter(lt.event_type or "?" for lt in letters).most_common()),
        "by_error": dict(Counter(lt.error_type or "?" for lt in letters).most_common()),
        "by_group": dict(Counter(lt.group or "?" for lt in letters).most_common()),
    }


async def select(
    client: Redis, refs: list[str], flt: Filter, limit: int | None = None
) -> tuple[list[Letter], list[str]]:
    """What a replay or purge acts on, oldest first: the letters `refs` name, else those passing `flt`.

    Returns the letters and the refs that name none. Ids and filters are not combined: a
    named letter silently dropped by a filter would be a surprise.
    """
    if refs:
        if not flt.is_empty:
            raise BadArgument("give dead-letter ids or filters, not both")
        found, missing = await fetch(client, refs)
        found.sort(key=Letter.order)
        return (found[:limit] if limit is not None else found), missing
    return await scan(client, flt, newest_first=False, limit=limit), []
