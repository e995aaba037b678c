"""Why a worker stopped, as one `aiwf:` line naming the cause and the fix; the traceback only with --debug.

Redis is asked once (with the bus's retry budget) before the worker starts, so an unreachable
server is one line instead of the heartbeat's warnings followed by a traceback.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable
from urllib.parse import urlsplit

import typer
from redis.exceptions import AuthenticationError, ResponseError

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, check_access, connect, retrying
from aiwf.bus.errors import AiwfError, RedisUnavailable
from aiwf.bus.worker import EXIT_UNHEALTHY, StayedUnhealthy
from aiwf.cli.support import fail

__all__ = ["run_worker", "shown_url"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def run_worker(name: str, url: str, config: BusConfig, run: Callable[[], None], *, debug: bool) -> None:
    """Check that Redis answers, then `run()`; any exception is one line (after its traceback with `debug`), exit 1
    (3 when the worker stopped itself after staying unhealthy)."""
    try:
        asyncio.run(_ping(url, config))
        run()
    except typer.Exit:  # a one-line error already printed
        raise
    except StayedUnhealthy as exc:  # drained already: exit 3 so a restart policy replaces the process
        fail(str(exc), EXIT_UNHEALTHY)
    except KeyboardInterrupt:  # Ctrl-C before the worker's own signal handlers were in place
        fail(f"worker {name}: interrupted while starting", EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the CLI edge: every failure becomes one line
        if debug:
            traceback.print_exc(file=sys.stderr)
        fail(why_stopped(name, url, _innermost(exc)))


def why_stopped(name: str, url: str, exc: BaseException) -> str:
    """The one line for `exc`: what went wrong and what to do about it."""
    where = shown_url(url)
    if isinstance(exc, AuthenticationError):
        return f"worker {name}: Redis at {where} refused the login ({exc}); check the user and password in REDIS_URL"
    if isinstance(exc, RedisUnavailable):
        return f"worker {name}: {exc}; start it with `aiwf up` or point REDIS_URL at a running server"
    if isinstance(exc, CONNECTION_ERRORS):
        return (
            f"worker {name}: cannot reach Redis at {where} ({exc}); start it with `aiwf up` "
            "or point REDIS_URL at a running server"
        )
    if isinstance(exc, ResponseError):
        return f"worker {name}: Redis at {where} refused a command ({exc}); check the ACL user in REDIS_URL"
    if isinstance(exc, AiwfError):
        return str(exc)
    return f"worker {name} stopped: {type(exc).__name__}: {exc} (run `aiwf worker {name} --debug` for the traceback)"


def shown_url(url: str) -> str:
    """`url` with any password replaced by `***`, fit to print."""
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


async def _ping(url: str, config: BusConfig) -> None:
    client = connect(url, config)
    try:
        await check_access(client, url, config)  # a refused login or TLS handshake: one line naming the user
        await retrying(client.ping, config, f"cannot reach Redis at {shown_url(url)}")
    finally:
        await client.aclose()


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (a TaskGroup's failure), else `exc` itself."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
