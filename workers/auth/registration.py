"""auth.registration.requested -> auth.user.registered | auth.registration.rejected.

The decision appends the username claim (expected version 0: the stream must not exist) and
the new user's first event together with the outcome. Two registrations of one name racing:
the second commit is refused, re-run, and then finds the name claimed (`duplicate`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Final

from aiwf.bus import Context, Decision
from aiwf.schemas import Event
from aiwf.schemas.events.auth import RegistrationRejected, RegistrationRequested, UsernameClaimed, UserRegistered
from aiwf.workers.auth.errors import InvalidUsername, WeakPassword
from aiwf.workers.auth.runtime import AuthDeps
from aiwf.workers.auth.store import username_key

__all__ = ["USER_IDS", "on_registration"]

#: user ids derived from a registration request's event id (uuid5), so a re-run picks the same one.
USER_IDS: Final = uuid.UUID("1d0c5a52-3c1e-4d55-9a6e-2b7f0c8e9a41")


async def on_registration(event: RegistrationRequested, ctx: Context) -> Decision | list[Event]:
    """Check the name and the password, then decide the claim, the new user and the outcome at once."""
    deps = ctx.dep(AuthDeps)
    user_id = event.user_id or str(uuid.uuid5(USER_IDS, ctx.envelope.id))
    agg = await deps.users.load(user_id)
    claim = await deps.names.load(username_key(event.username))
    if agg.user.registered:
        if claim.user_id == user_id and agg.user.username is not None:  # this request, committed already
            return [UserRegistered(user_id=user_id, username=agg.user.username)]
        return [RegistrationRejected(username=event.username, reason="duplicate")]
    password = event.password.get_secret_value()
    try:
        outcome = await asyncio.to_thread(
            agg.user.register, user_id, event.username, password, ctx=deps.unsigned(), now=time.time()
        )
    except WeakPassword as exc:
        return [RegistrationRejected(username=event.username, reason="weak_password", detail=exc.reason)]
    except InvalidUsername as exc:
        return [RegistrationRejected(username=event.username, reason="invalid_username", detail=str(exc))]
    if claim.user_id is not None:  # another user holds the name
        return [RegistrationRejected(username=event.username, reason="duplicate")]
    claim.record(UsernameClaimed(username=event.username, user_id=user_id))
    agg.record_all(outcome.events)
    return Decision(
        events=[UserRegistered(user_id=user_id, username=outcome.events[0]["username"])],
        appends=[*deps.names.stage(claim, cause=ctx.envelope), *deps.users.stage(agg, cause=ctx.envelope)],
    )
