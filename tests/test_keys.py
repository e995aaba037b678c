"""The keyspace: keys built and parsed back in bus/keys.py, hash-tagged so a commit stays on one slot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiwf.bus import keys
from aiwf.bus.store.stream_id import parse

ROOT = Path(__file__).resolve().parents[1]


def tag(key: str) -> str:
    """The Redis Cluster hash tag of a key (what decides its slot)."""
    match = re.search(r"\{([^}]+)\}", key)
    assert match, key
    return match[1]


@pytest.mark.parametrize("domain", ["documents", "llm", "es-user", "es-all"])
def test_stream_and_dead_letter_keys_parse_back_to_their_domain(domain: str) -> None:
    """`stream_domain` / `dead_letter_domain` undo `stream` / `dead_letters`, and each refuses the other's key."""
    assert keys.stream_domain(keys.stream(domain)) == domain
    assert keys.dead_letter_domain(keys.dead_letters(domain)) == domain
    assert keys.stream_domain(keys.dead_letters(domain)) is None
    assert keys.dead_letter_domain(keys.stream(domain)) is None


@pytest.mark.parametrize(
    "key", ["documents", "aiwf:ev:documents", "aiwf:ev:{documents}:x", "other:ev:{documents}", "aiwf:ev:{}", "a{b}"]
)
def test_other_keys_have_no_domain(key: str) -> None:
    """Anything that is not exactly an aiwf stream key parses to None instead of a guess."""
    assert keys.stream_domain(key) is None
    assert keys.dead_letter_domain(key) is None


def test_a_domains_keys_share_one_hash_tag() -> None:
    """Stream, dead letters, markers and replay bookkeeping of a domain land in one Cluster slot."""
    domain = "documents"
    built = [
        keys.stream(domain),
        keys.dead_letters(domain),
        keys.processed(domain, "g", "e-1"),
        keys.replay_count(domain, "e-1"),
        keys.replay_audit(domain),
        keys.replayed_as(domain),
        keys.projection_key(domain, "names", "by-name"),
    ]
    assert {tag(k) for k in built} == {domain}


def test_an_aggregates_keys_share_its_category_streams_tag() -> None:
    """An aggregate's events, index and snapshot share the tag of its category view; the view is a bus stream."""
    sid = parse("user-42")
    view = keys.category_stream("user")
    assert {tag(sid.events), tag(sid.event_ids), tag(sid.snapshot)} == {tag(view)} == {"es-user"}
    assert keys.stream_domain(view) == "es-user"
    assert keys.never_trimmed("es-user")
    assert not keys.never_trimmed("user")
    assert keys.stream("es-all") == keys.GLOBAL_STREAM


def test_projection_keys_start_with_the_projection_prefix() -> None:
    """A projection's read-model keys all begin with its prefix, which the commit checks writes against."""
    key = keys.projection_key("es-user", "names", "by-name", "ada")
    assert key == "aiwf:proj:{es-user}:names:by-name:ada"
    assert key.startswith(keys.projection_prefix("es-user", "names"))


def test_no_module_takes_a_key_apart_by_hand() -> None:
    """Outside bus/keys.py no source looks for a hash tag's braces; it asks the keys module."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("bus", "cli", "dlq", "schemas", "workers")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "bus" / "keys.py" and re.search(r"""["']\{["'] in """, path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
