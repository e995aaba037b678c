"""Dead letters and stream operations: what `aiwf dlq ...`, `aiwf streams` and friends run.

Files in the order an operator meets them:

filters.py        --stream/--type/--error/--group/--since/--older-than/--rate parsed into a Filter
letters.py        dead letters read from `aiwf:dlq:{domain}`: parse, find by `domain/entry-id`, scan, count
show.py           everything about one letter
replay.py         back onto the source stream with the original event id, atomically, at most N times
replay_groups.py  which processed-markers a replay sets or clears, from where each group stands
replay_call.py    the KEYS/ARGV of bus/lua/replay.lua for one letter
purge.py          delete letters for good
audit.py          who replayed or purged what, on `aiwf:audit`
inspect.py        streams and groups: lengths, consumers, lag
pending.py        one group's pending entries, and their forced reclaim

The commands that run them live in the application layer, cli/ (aiwf.cli.dlq, .replay, .streams).
"""

from aiwf.dlq.errors import BadArgument, DlqError, NotReplayable, UnknownLetter, UnknownStream
from aiwf.dlq.filters import Filter
from aiwf.dlq.letters import Letter
from aiwf.dlq.replay import Replayer, Result, Status

__all__ = [
    "BadArgument",
    "DlqError",
    "Filter",
    "Letter",
    "NotReplayable",
    "Replayer",
    "Result",
    "Status",
    "UnknownLetter",
    "UnknownStream",
]
