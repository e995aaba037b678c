"""What a Redis error reply means to a consumer, sorted as handler errors are sorted.

outage          OOM, BUSY, LOADING, READONLY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN, NOREPLICAS: the server
                cannot take the command now; wait (pause, probe, resume), lose nothing
misconfigured   WRONGTYPE, NOPERM on the bus's own keys: waiting alone will not fix it; the
                consumer says so (state `misconfigured`, /health 503 with the key and the
                reason) and keeps trying, so fixing the key or the ACL resumes it
"""

from __future__ import annotations

import re

from redis.exceptions import ResponseError

OUTAGE_CODES = frozenset({"OOM", "BUSY", "LOADING", "READONLY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS"})
MISCONFIGURED_CODES = frozenset({"WRONGTYPE", "NOPERM"})
#: The code leads the reply, or (Redis 6.2, a command inside a script) follows "...: -".
_CODE = re.compile(r"(?:^|: -)([A-Z]{2,}) ")


def reply_code(exc: BaseException) -> str | None:
    """The error code of a Redis error reply (OOM, WRONGTYPE, ...), or None for anything else."""
    if not isinstance(exc, ResponseError):
        return None
    # redis-py strips the code of the replies it maps to a class and keeps it as status_code;
    # Redis 6.2 wraps a failed command of a script in an ERR that names the command's code.
    code = getattr(exc, "status_code", None)
    found = _CODE.search(str(exc))
    if found and code in (None, "ERR"):
        return found.group(1)
    return code if isinstance(code, str) and code else None


def is_outage_reply(exc: BaseException) -> bool:
    """True for a reply that says the server cannot take writes or commands for now."""
    return reply_code(exc) in OUTAGE_CODES


def is_misconfigured_reply(exc: BaseException) -> bool:
    """True for a reply that says a key or a permission is wrong for the bus."""
    return reply_code(exc) in MISCONFIGURED_CODES


def reply_text(exc: BaseException) -> str:
    """The reply as Redis sent it: redis-py drops the code of mapped replies from the message."""
    code, text = reply_code(exc), str(exc)
    return f"{code} {text}" if code and not text.startswith(code) else text
