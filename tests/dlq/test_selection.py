"""Parsing and matching what a command selects: ids, filters, durations, rates, and secret masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiwf.dlq.errors import BadArgument
from aiwf.dlq.filters import Filter, domain_arg, parse_rate, parse_since, stream_key
from aiwf.dlq.letters import Letter, parse_ref
from aiwf.schemas.masking import mask_sealed as mask
from aiwf.schemas.masking import mask_sealed_text as mask_text

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def letter(fields: dict[str, str], domain: str = "testing", ms: int = 1_714_564_800_000) -> Letter:
    """A letter built from plain fields, dead-lettered at `ms`."""
    return Letter(domain, f"{ms}-0", {k: v.encode() for k, v in fields.items()})


def test_ref_round_trips_and_refuses_garbage() -> None:
    """`domain/entry-id` parses; anything else is a BadArgument showing the expected form."""
    assert parse_ref("documents/1700000000000-3") == ("documents", "1700000000000-3")
    for bad in ["1700000000000-0", "documents/abc", "Documents/1-0", "documents/1-0/x", ""]:
        with pytest.raises(BadArgument, match="expected DOMAIN/ENTRY-ID"):
            parse_ref(bad)


def test_since_accepts_durations_and_iso_times() -> None:
    """`--since` takes a duration back from now or an ISO time; garbage names the accepted forms."""
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2024-04-30T10:00+00:00", NOW) == datetime(2024, 4, 30, 10, 0, tzinfo=UTC)
    with pytest.raises(BadArgument, match=r"bad --since 'yesterday-ish'.*30m, 2h, 7d.*ISO"):
        parse_since("yesterday-ish", NOW)


def test_filter_build_refuses_bad_options() -> None:
    """Malformed --older-than, --stream and --rate values are refused before any Redis call."""
    with pytest.raises(BadArgument, match="--older-than"):
        Filter.build(older_than="soon")
    with pytest.raises(BadArgument, match="bad stream"):
        Filter.build(stream="Not A Domain")
    with pytest.raises(BadArgument, match="--rate"):
        parse_rate("fast")
    with pytest.raises(BadArgument, match="--rate"):
        parse_rate("0/s")
    assert parse_rate("25/s") == 25.0


def test_stream_arguments_accept_a_domain_or_a_key() -> None:
    """`documents`, `aiwf:ev:{documents}` and `aiwf:dlq:{documents}` name the same domain."""
    assert domain_arg("documents") == "documents"
    assert domain_arg("aiwf:ev:{documents}") == "documents"
    assert domain_arg("aiwf:dlq:{documents}") == "documents"
    assert stream_key("documents") == "aiwf:ev:{documents}"
    assert stream_key("some:other:stream") == "some:other:stream"


def test_filter_matches_every_condition() -> None:
    """Each set condition must hold: domain, type glob, error text (any case), group, time window."""
    fields = {"orig.type": "testing.item.created", "error_type": "ValueError", "error": "Bad Title", "group": "counter"}
    lt = letter(fields, ms=1_000_000)
    assert Filter().matches(lt)
    assert Filter(domain="testing", type_glob="testing.*", error="bad title", group="counter").matches(lt)
    assert not Filter(domain="testdlq").matches(lt)
    assert not Filter(type_glob="testing.item.counted").matches(lt)
    assert Filter(error="valueerror").matches(lt)
    assert not Filter(error="timeout").matches(lt)
    assert not Filter(group="other").matches(lt)
    assert Filter(since_ms=1_000_000).matches(lt)
    assert not Filter(since_ms=1_000_001).matches(lt)
    assert Filter(before_ms=1_000_001).matches(lt)
    assert not Filter(before_ms=1_000_000).matches(lt)


def test_sealed_values_are_masked_everywhere() -> None:
    """Sealed strings are masked at any depth and inside free text; other values are untouched."""
    payload = {"name": "a", "token": "sealed:v1:QUJD", "nested": [{"key": "sealed:v1:REVG"}, 3], "n": 1}
    assert mask(payload) == {"name": "a", "token": "***", "nested": [{"key": "***"}, 3], "n": 1}
    assert mask_text("bad token sealed:v1:QUJD+/= here") == "bad token *** here"
