"""The call of bus/lua/replay.lua for one letter, in the KEYS/ARGV order its header documents."""

from __future__ import annotations

from dataclasses import dataclass

from aiwf.bus import codec, keys
from aiwf.bus.scripts import Call
from aiwf.dlq import audit
from aiwf.dlq.letters import Letter
from aiwf.dlq.replay_groups import Markers
from aiwf.schemas import Envelope

#: How long replay counts and "replayed as" records are kept.
KEEP_S = 30 * 86_400
#: The value of a processed-marker set by a group-targeted replay, not by a commit.
SUPPRESSED = "dlq-replay-suppressed"


@dataclass(frozen=True)
class Limits:
    """What bounds one replay: how often an event may come back, and how long its markers live."""

    max_replays: int
    marker_ttl_s: int


def replay_call(letter: Letter, env: Envelope, markers: Markers, limits: Limits, trail: dict[str, str | bytes]) -> Call:
    """Re-publish `env` (the letter's upcast envelope), touch `markers`, and audit it with `trail`."""
    domain = letter.domain
    touched = [*markers.suppress, *markers.clear]
    script_keys = [
        keys.stream(domain),
        keys.dead_letters(domain),
        keys.replay_count(domain, env.id),
        keys.replayed_as(domain),
        keys.replay_audit(domain),
        *(m.key for m in touched),
    ]
    args: list[str | bytes] = [
        letter.entry_id,
        str(limits.max_replays),
        str(limits.marker_ttl_s),
        str(KEEP_S),
        str(len(markers.suppress)),
        SUPPRESSED,
        str(keys.AUDIT_MAXLEN),
        str(len(trail)),
        *(m.field for m in touched),
    ]
    for name, value in [*trail.items(), *codec.encode(env, redelivery="dlq-replay").items()]:
        args += [name, value]
    return Call(script_keys, args)


def verdict(reply: list[bytes | str]) -> tuple[str, str]:
    """The script's reply as text: ('gone', stream id or ''), ('refused', count) or ('replayed', stream id)."""
    status, value = (codec.text(v) for v in reply)
    return status, value


def letter_trail(run: str, letter: Letter, event_id: str, group: str | None) -> dict[str, str | bytes]:
    """The per-letter audit entry the script writes with the replay itself."""
    return audit.letter_fields("dlq.replay.letter", run=run, letter=letter.ref, event_id=event_id, group=group or "")
