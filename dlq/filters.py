"""Command-line selections: which letters (Filter), which stream, durations, times and rates.

Every parser here raises BadArgument with the accepted form in the message, before any
Redis call is made, so a typo is a usage error and never a half-done operation.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiwf.bus import keys
from aiwf.dlq.errors import BadArgument
from aiwf.dlq.fingerprint import ID_PATTERN, of_letter

if TYPE_CHECKING:
    from aiwf.dlq.letters import Letter

DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
RATE = re.compile(r"^(\d+(?:\.\d+)?)(?:/s)?$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_RATE = 100_000.0
MAX_TEXT = 500


def domain_arg(text: str) -> str:
    """`documents`, `aiwf:ev:{documents}` or `aiwf:dlq:{documents}` -> `documents`."""
    text = text.strip()
    text = keys.stream_domain(text) or keys.dead_letter_domain(text) or text
    if not DOMAIN.match(text):
        raise BadArgument(f"bad stream {text!r}: give a domain like 'documents' or a key like 'aiwf:ev:{{documents}}'")
    return text


def stream_key(text: str) -> str:
    """A stream argument as a key: a domain name becomes its event stream; a key is kept as given."""
    text = text.strip()
    if ":" in text:
        if len(text) > MAX_TEXT:
            raise BadArgument(f"stream key is {len(text)} characters; at most {MAX_TEXT}")
        return text
    return keys.stream(domain_arg(text))


def parse_duration(text: str, option: str) -> timedelta:
    """`90s`, `15m`, `2h`, `7d`, `1w` (also `500ms`) -> timedelta."""
    match = DURATION.match(text.strip().lower())
    if not match:
        raise BadArgument(f"bad {option} {text!r}: use a duration like 30m, 2h, 7d or 1w")
    seconds = float(match[1]) * UNITS[match[2]]
    if seconds > 100 * 365 * 86_400:
        raise BadArgument(f"bad {option} {text!r}: longer than 100 years")
    return timedelta(seconds=seconds)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A point in time: a duration back from now (`2h`) or an ISO time (local unless it has an offset)."""
    now = now or datetime.now(UTC)
    if DURATION.match(text.strip().lower()):
        return now - parse_duration(text, "--since")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadArgument(
            f"bad --since {text!r}: use a duration like 30m, 2h, 7d or an ISO time like 2024-05-01T10:00"
        ) from None
    return when.astimezone(UTC)


def parse_rate(text: str) -> float:
    """`50/s` or `50` -> 50.0 letters per second."""
    match = RATE.match(text.strip().lower())
    rate = float(match[1]) if match else 0.0
    if not 0 < rate <= MAX_RATE:
        raise BadArgument(f"bad --rate {text!r}: use letters per second like 50/s (0 < rate <= {MAX_RATE:g})")
    return rate


def parse_count(value: int | None, option: str, maximum: int) -> int | None:
    """A positive bounded count, or None when not given."""
    if value is not None and not 1 <= value <= maximum:
        raise BadArgument(f"bad {option} {value}: must be 1..{maximum}")
    return value


def to_ms(when: datetime) -> int:
    """Milliseconds since the epoch: the time part of a stream entry id."""
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class Filter:
    """Which dead letters a command acts on; every set condition must hold."""

    domain: str | None = None
    type_glob: str | None = None
    error: str | None = None
    group: str | None = None
    since_ms: int | None = None
    before_ms: int | None = None
    #: An incident id (`aiwf incidents`): only letters with that fingerprint.
    incident: str | None = None

    @classmethod
    def build(
        cls,
        *,
        stream: str | None = None,
        type_: str | None = None,
        error: str | None = None,
        group: str | None = None,
        since: str | None = None,
        older_than: str | None = None,
        incident: str | None = None,
        now: datetime | None = None,
    ) -> Filter:
        """Parse command-line filter options; BadArgument on anything malformed."""
        now = now or datetime.now(UTC)
        for option, value in (("--type", type_), ("--error", error), ("--group", group)):
            if value is not None and not 0 < len(value) <= MAX_TEXT:
                raise BadArgument(f"bad {option}: must be 1..{MAX_TEXT} characters")
        if incident is not None and not ID_PATTERN.match(incident):
            raise BadArgument(f"bad --incident {incident[:40]!r}: expected 12 hex digits (`aiwf incidents`)")
        return cls(
            domain=domain_arg(stream) if stream is not None else None,
            type_glob=type_,
            error=error.lower() if error is not None else None,
            group=group,
            since_ms=to_ms(parse_since(since, now)) if since is not None else None,
            before_ms=to_ms(now - parse_duration(older_than, "--older-than")) if older_than is not None else None,
            incident=incident,
        )

    @property
    def is_empty(self) -> bool:
        """True when no condition is set (the filter selects every letter)."""
        return self == Filter()

    def matches(self, letter: Letter) -> bool:
        """Whether `letter` passes every condition."""
        if self.domain is not None and letter.domain != self.domain:
            return False
        if self.type_glob is not None and not fnmatch.fnmatchcase(letter.event_type, self.type_glob):
            return False
        if self.error is not None and self.error not in f"{letter.error_type}: {letter.error}".lower():
            return False
        if self.group is not None and letter.group != self.group:
            return False
        if self.since_ms is not None and letter.failed_ms < self.since_ms:
            return False
        if self.incident is not None and of_letter(letter).id != self.incident:
            return False
        return self.before_ms is None or letter.failed_ms < self.before_ms
