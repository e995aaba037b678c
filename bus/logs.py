"""Structured logs: JSON lines in containers, readable lines on a terminal, bound to the event.

configure_logging("llm") at process start routes structlog *and* every stdlib
``logging.getLogger(...)`` through one renderer on stderr, with structlog.contextvars and the
event bound by bind_event merged in, so a line that bus internals log while a handler runs
carries the event's ids. Sealed tokens are masked by schemas.secrets' own function (the one
`tail` and `dlq show` use), and so is any value under a key named like a password, token,
secret or API key.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any, Final, Literal, TextIO

import structlog
from pydantic import ValidationError
from structlog.typing import EventDict, Processor, WrappedLogger

from aiwf.bus.errors import ConfigError
from aiwf.schemas import Envelope
from aiwf.schemas.masking import MAX_MASK_DEPTH, mask_sealed_text
from aiwf.schemas.secrets import mask

__all__ = [
    "ENV_FORMAT",
    "ENV_LEVEL",
    "HANDLER_LOGGER",
    "Format",
    "bind_event",
    "configure_logging",
    "error_text",
    "event_fields",
    "event_logger",
    "is_secret_key",
    "mask_secrets",
    "merge_event",
    "reset_logging",
    "unbind_event",
]

Format = Literal["json", "console"]
"""How lines are rendered: one JSON object per line, or coloured key=value lines for people."""

ENV_FORMAT: Final = "AIWF_LOG_FORMAT"
ENV_LEVEL: Final = "AIWF_LOG_LEVEL"
HANDLER_LOGGER: Final = "aiwf.handler"
#: Words that make a key secret when they stand as a part of it (access_token, client_secret, apiKey).
_SECRET_KEY: Final = re.compile(
    r"(?:^|_)(?:password|passwd|pwd|passphrase|secret|token|api_?key|private_?key|authorization|credentials?)(?:_|$)"
)
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ERROR_CHARS: Final = 200
#: Left alone: exception objects the renderer formats itself, and structlog's bookkeeping.
_UNMASKED: Final = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})

_LEAD_KEYS: Final = ("timestamp", "level", "logger", "message", "service")

#: The root handler configure_logging installed, and the root level it found.
_installed: tuple[logging.Handler, int] | None = None
#: The event being handled in this task, set by the logging middleware. Its ids are built only
#: when a line is written: binding them into structlog.contextvars up front (eight ContextVars
#: set and reset) cost 13 us per event, more than the rest of the consume path.
_event: ContextVar[tuple[Envelope, str, str, str] | None] = ContextVar("aiwf_logged_event", default=None)
#: One proxy for every handler line: after configure_logging it caches its assembled logger,
#: so binding an event's ids is one dict copy.
_handler_log: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(HANDLER_LOGGER)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Tell whether a value logged under `key` must be masked (password, api_key, refresh_token...)."""
    return bool(_SECRET_KEY.search(_CAMEL.sub("_", key).lower().replace("-", "_")))


def _masked(value: Any, depth: int) -> Any:
    if depth > MAX_MASK_DEPTH:
        return mask(value)
    if isinstance(value, Mapping):
        return {k: mask(v) if is_secret_key(str(k)) else _masked(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, depth + 1) for v in value]
    return value  # a sealed string is masked in the rendered line, with everything else sealed


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: anything under a key named like a secret becomes `***`, at any depth."""
    for key, value in event_dict.items():
        if key in _UNMASKED:
            continue
        if is_secret_key(key):
            event_dict[key] = mask(value)
        elif isinstance(value, Mapping | list | tuple):
            event_dict[key] = _masked(value, 0)
    return event_dict


def _masked_renderer(renderer: Processor) -> Processor:
    """The renderer, with every sealed token in its output masked: values, messages, reprs, tracebacks.

    One pass over the finished line rather than one per value: it also reaches what the
    renderer formats itself (exceptions, object reprs), and costs a third as much.
    """

    def render(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        return mask_sealed_text(str(renderer(logger, method, event_dict)))

    return render


def _add_service(service: str) -> Processor:
    def add(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add


def _lead(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Put timestamp, level, logger and message first, where a reader of raw lines looks."""
    lead = {k: event_dict.pop(k) for k in _LEAD_KEYS if k in event_dict}
    lead.update(event_dict)
    return lead


def _choose_format(fmt: Format | None, stream: TextIO) -> Format:
    if fmt is not None:
        return fmt
    forced = os.environ.get(ENV_FORMAT, "").strip().lower()
    if forced in ("json", "console"):
        return "json" if forced == "json" else "console"
    return "console" if stream.isatty() else "json"


def _formatter(service: str, fmt: Format, stream: TextIO) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = stream.isatty() and "NO_COLOR" not in os.environ
        # Plain tracebacks: rich's show locals (plaintext secrets among them) and wrap tokens
        # across box lines, out of reach of the mask.
        renderer = structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    # Stdlib records get the same fields structlog's own lines got in its chain.
    foreign: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_event,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
    ]
    finish: list[Processor] = [
        structlog.stdlib.add_logger_name,  # reads _record, which remove_processors_meta drops next
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    if fmt == "json":  # the console renderer prints exceptions itself, readably
        # "message", not "event": in aiwf an event is what event_id names.
        finish += [structlog.processors.format_exc_info, structlog.processors.EventRenamer("message"), _lead]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[*finish, mask_secrets, _masked_renderer(renderer)],
    )


def configure_logging(
    service: str, *, fmt: Format | None = None, level: str | int | None = None, stream: TextIO | None = None
) -> None:
    """Send structlog and stdlib logging to `stream` (stderr) as JSON lines or console lines.

    `fmt` None picks AIWF_LOG_FORMAT, else console on a terminal and JSON otherwise; `level`
    None reads AIWF_LOG_LEVEL (default INFO). Calling it again replaces the previous setup.
    """
    global _installed  # noqa: PLW0603 - one root handler per process, replaced on reconfigure
    out = stream if stream is not None else sys.stderr
    chosen = level if level is not None else os.environ.get(ENV_LEVEL, "INFO")
    numeric = logging.getLevelName(chosen.upper()) if isinstance(chosen, str) else chosen
    if not isinstance(numeric, int):
        raise ConfigError(f"{ENV_LEVEL}={chosen!r} is not a level; use DEBUG, INFO, WARNING or ERROR")
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # before any work: a dropped debug line costs one check
            structlog.contextvars.merge_contextvars,
            merge_event,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Safe to cache: nothing in this chain changes on reconfigure (format, service and
        # level live in the handler and the root logger).
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_formatter(service, _choose_format(fmt, out), out))
    root = logging.getLogger()
    previous = root.level
    if _installed is not None:
        root.removeHandler(_installed[0])
        previous = _installed[1]
    root.addHandler(handler)
    root.setLevel(numeric)
    _installed = (handler, previous)


def reset_logging() -> None:
    """Undo configure_logging (for tests): our handler removed, structlog and its context back to defaults."""
    global _installed  # noqa: PLW0603 - see configure_logging
    if _installed is not None:
        logging.getLogger().removeHandler(_installed[0])
        logging.getLogger().setLevel(_installed[1])
        _installed = None
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent `00-<32 hex trace id>-<16 hex span id>-<flags>`."""
    if traceparent is None or len(traceparent) < 35:
        return None
    return traceparent[3:35]


def event_fields(envelope: Envelope, *, service: str, consumer: str, group: str) -> dict[str, str | None]:
    """The keys every line about this event carries."""
    return {
        "event_id": envelope.id,
        "event_type": envelope.type,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "trace_id": _trace_id(envelope.traceparent),
        "service": service,
        "consumer": consumer,
        "group": group,
    }


def bind_event(envelope: Envelope, *, service: str, consumer: str, group: str) -> Token[Any]:
    """Make every line of this task carry the event's ids until unbind_event(token)."""
    return _event.set((envelope, service, consumer, group))


def unbind_event(token: Token[Any]) -> None:
    """Restore what bind_event replaced."""
    _event.reset(token)


def merge_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: the ids of the event bound by bind_event, under any keys the line bound itself."""
    current = _event.get()
    if current is not None:
        envelope, service, consumer, group = current
        for key, value in event_fields(envelope, service=service, consumer=consumer, group=group).items():
            event_dict.setdefault(key, value)
    return event_dict


def event_logger(envelope: Envelope, *, service: str, consumer: str, group: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to the event's ids: what a handler's `ctx.log` is."""
    return _handler_log.bind(**event_fields(envelope, service=service, consumer=consumer, group=group))


def error_text(exc: BaseException) -> str:
    """One line naming what went wrong, never the input: pydantic's messages quote the payload."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors(include_input=False)]
        text = f"{exc.error_count()} validation error(s) for {exc.title}: " + "; ".join(parts)
    else:
        text = str(exc)
    line = " ".join(text.split())
    return mask_sealed_text(line[:_ERROR_CHARS] + ("…" if len(line) > _ERROR_CHARS else ""))
