"""`aiwf auth register | login | logout`: the auth service's requests, from the command line.

Each one publishes the request event and waits for its reply on the auth stream (cli/ask.py).
Tokens arrive sealed for the gateway; this machine opens them with the gateway's key (the
keys `aiwf up` generated), as the gateway would. `login` prints the access token alone on
stdout (for `TOKEN=$(...)`) and keeps the refresh token in a session file (mode 0600) that
`logout` revokes and removes. Passwords come from a hidden prompt, or the first line of stdin
with --password-stdin: never from an argument, which `ps` would show.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.ask import NoReply, ServiceOffline, ask
from aiwf.cli.support import EXIT_USAGE, emit_json, fail, interactive, load_config, run
from aiwf.schemas import Event
from aiwf.schemas.events.auth import (
    LoginFailed,
    LoginRequested,
    LoginSucceeded,
    RegistrationRejected,
    RegistrationRequested,
    TokenRevocationFailed,
    TokenRevocationRequested,
    TokensRevoked,
    UserRegistered,
)
from aiwf.schemas.secrets import KeyringError, SecretError

__all__ = ["login", "logout", "register_user", "session_path"]

#: Tokens are sealed for this service; the CLI opens them with its key.
TOKEN_READER = "gateway"  # noqa: S105 - a service name
Username = Annotated[str, typer.Argument(help="The account's username.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (no prompt).")
]
Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the auth service.")]
Json = Annotated[bool, typer.Option("--json", help="Print the reply as JSON.")]


def session_path(config: BusConfig) -> Path:
    """Where `login` keeps the refresh token for `logout`: `<AIWF_DATA_DIR>/auth-session.json`."""
    return config.data_dir / "auth-session.json"


def register_user(username: Username, password_stdin: PasswordStdin = False, timeout: Timeout = 15.0) -> None:
    """Create an account through the auth service; prints its user id, or exits 1 with why it was refused."""
    password = _password(password_stdin, confirm=True)
    reply = _ask(RegistrationRequested(username=username, password=password), _REGISTER_REPLIES, timeout)
    if isinstance(reply, RegistrationRejected):
        fail(f"registration refused: {reply.reason}" + (f" ({reply.detail})" if reply.detail else ""))
    assert isinstance(reply, UserRegistered)  # noqa: S101 - type narrowing: one of the replies asked for
    print(f"registered {reply.username} (user id {reply.user_id})")


def login(
    username: Username, password_stdin: PasswordStdin = False, timeout: Timeout = 15.0, as_json: Json = False
) -> None:
    """Log in through the auth service: prints the access token (use it with `aiwf auth verify`) and keeps
    the refresh token in <AIWF_DATA_DIR>/auth-session.json for `aiwf auth logout`."""
    password = _password(password_stdin, confirm=False)
    reply = _ask(LoginRequested(username=username, password=password), _LOGIN_REPLIES, timeout)
    if isinstance(reply, LoginFailed):
        fail("login refused: " + ("log in again" if reply.reason == "retry" else "wrong username or password"))
    assert isinstance(reply, LoginSucceeded)  # noqa: S101 - type narrowing: one of the replies asked for
    access = reply.access_token.get_secret_value()
    _save_session(
        {
            "username": username,
            "user_id": reply.user_id,
            "refresh_token": reply.refresh_token.get_secret_value(),
            "refresh_expires_at": reply.refresh_expires_at,
        }
    )
    if as_json:
        emit_json({"user_id": reply.user_id, "access_token": access, "expires_at": reply.expires_at})
        return
    print(access)
    until = datetime.fromtimestamp(reply.expires_at, UTC).isoformat(timespec="seconds")
    print(f"logged in as {username} (user id {reply.user_id}); the token expires at {until}", file=sys.stderr)


def logout(
    everywhere: Annotated[bool, typer.Option("--everywhere", help="Revoke every login of the user.")] = False,
    timeout: Timeout = 15.0,
) -> None:
    """Revoke the refresh token `aiwf auth login` kept (its whole login family, or --everywhere every login
    of the user) and remove the session file. Access tokens stay valid until they expire."""
    path = session_path(load_config())
    session = _load_session(path)
    request = TokenRevocationRequested(refresh_token=session["refresh_token"], everywhere=everywhere)
    reply = _ask(request, _LOGOUT_REPLIES, timeout)
    if isinstance(reply, TokenRevocationFailed):
        fail(f"logout refused: {reply.reason}; the session file {path} is kept")
    path.unlink(missing_ok=True)
    print(f"logged out {session.get('username', '')}".rstrip() + (" everywhere" if everywhere else ""))


_REGISTER_REPLIES = frozenset({UserRegistered.event_type, RegistrationRejected.event_type})
_LOGIN_REPLIES = frozenset({LoginSucceeded.event_type, LoginFailed.event_type})
_LOGOUT_REPLIES = frozenset({TokensRevoked.event_type, TokenRevocationFailed.event_type})


def _ask(request: Event, replies: frozenset[str], timeout: float) -> Event:
    async def body(client: Redis, config: BusConfig) -> Event:
        try:
            return await ask(client, config, request, "auth", replies, timeout, reader=TOKEN_READER)
        except (ServiceOffline, NoReply) as exc:
            fail(str(exc))
        except KeyringError as exc:
            fail(f"cannot open the reply: {exc} (the keys `aiwf up` generated are under AIWF_KEYS_DIR)")
        except SecretError as exc:
            fail(f"cannot open the reply: {exc}")

    return run(body)


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        text = sys.stdin.readline().rstrip("\r\n")
    elif interactive():
        text = str(typer.prompt("password", hide_input=True, confirmation_prompt=confirm))
    else:
        fail("no terminal to ask for the password; pipe it in with --password-stdin", EXIT_USAGE)
    if not text:
        fail("empty password", EXIT_USAGE)
    return text


def _save_session(session: dict[str, Any]) -> None:
    path = session_path(load_config())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(session))
    except OSError as exc:
        fail(f"cannot write the session file {path}: {exc.strerror}")


def _load_session(path: Path) -> dict[str, Any]:
    try:
        session = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        fail(f"not logged in: no session file {path} (`aiwf auth login USERNAME` writes it)")
    except (OSError, orjson.JSONDecodeError) as exc:
        fail(f"cannot read the session file {path}: {exc}")
    if not isinstance(session, dict) or not isinstance(session.get("refresh_token"), str):
        fail(f"the session file {path} holds no refresh token; log in again")
    return session
