"""The one error tree of aiwf, sorted by what happens next; and the schema errors.

The root and the four "what happens next" classes live here, in the lowest layer, because
schemas must never import bus (schemas <- bus <- workers/dlq <- cli). aiwf.bus and
aiwf.bus.errors re-export them, so `from aiwf.bus import PermanentError` keeps working.

Every class has two parents at most: a *domain base* that says whose error it is
(SchemaError, SecretError, StoreError, BlobError, DlqError, AuthError, CalendarError,
DocumentError, LLMError, TtsError; each directly under AiwfError) and one *disposition*
that says what happens next. A handler that lets one escape gets, from bus.outcome.classify:
Refused/ConfigError -> retried, dead-lettered after max deliveries (like any other error);
PermanentError and SchemaError -> dead-lettered at once; BackendUnavailable -> the
subscription pauses and probes, nothing is dead-lettered (unless the service's own probe has
just said the backend answers: then it counts towards max deliveries); TransientError -> retried.

AiwfError                               base of every aiwf error
├── StayedUnhealthy                     a worker stopped itself after /health stayed 503 (exit 3)
├── ServiceOffline, NoReply             `aiwf auth ...`: no live instance took it / no reply in time
├── Refused                             refused at the edge, nothing was done: fix the input
│   ├── ConfigError                     a setting is invalid (at start-up or construction)
│   │   ├── RegistryConflict            two models claim one (type, version), or a bad type name
│   │   ├── KeyringError                a service key is missing or malformed, or a key file exists
│   │   ├── AuthConfigError             an auth policy or settings object is impossible
│   │   ├── CalendarConfigError         calendar expansion options are impossible
│   │   ├── InvalidOptions              documents limits or chunking options are out of range
│   │   ├── SecretFileError             a secret file is missing, too large, or readable beyond 0440
│   │   └── LLMConfigError              an llm backend, breaker or router setting is invalid
│   ├── PublishRefused                  publish refuses an event; nothing was written
│   ├── ReleaseRefused                  a promote, rollback or retire would leave no sound release
│   ├── IncompatibleChange              `aiwf schemas check`: a schema change would break readers
│   ├── TokenInvalid                    an access token or JWKS is malformed, badly signed, wrong claims
│   │   └── TokenExpired                an access token's exp has passed
│   └── DlqError                        the dead-letter tools refuse a command
│       ├── BadArgument                 a filter, id, duration, rate or stream name does not parse
│       ├── UnknownLetter               a dead-letter id names no letter
│       ├── UnknownStream               a stream or group named on the command line does not exist
│       ├── NotReplayable               a letter cannot be put back (malformed, unknown, invalid)
│       └── NotPending                  `aiwf pending --park`: the entry is not pending for the group
├── PermanentError                      dead-letter now: the same input fails the same way again
│   ├── WriteRefused                    a decision's read-model write is not the handler's to make
│   ├── ParkedByHand                    recorded in a letter parked with `aiwf pending --park`
│   ├── UnknownEventType                no model is registered for an event type    (SchemaError)
│   ├── UnsupportedVersion              a known type at a version no upcaster lifts (SchemaError)
│   ├── MalformedEvent                  bytes are not a well-formed envelope        (SchemaError)
│   ├── InvalidPayload                  a payload does not validate against its model (SchemaError)
│   ├── SecretUnsealError               a sealed value is malformed, tampered, or for another key
│   ├── SecretTooLarge                  a plaintext secret exceeds MAX_SECRET_BYTES
│   ├── IdempotencyConflict             some, not all, event ids of an append are already stored
│   ├── WeakPassword, InvalidUsername, NotRegistered, AlreadyRegistered,
│   │   CorruptPasswordHash, InvalidUserEvent                    auth rejects the command
│   ├── InvalidCalendar, CalendarTooLarge, InvalidWindow         calendar rejects the document
│   ├── UnsupportedDocument, CorruptDocument, EmptyDocument,
│   │   DocumentTooLarge                                         documents rejects the bytes
│   ├── PermanentLLMError               an llm backend refuses the request itself (4xx but 429)
│   │   └── InvalidChatRequest          a chat request is malformed
│   └── InvalidSpeechRequest            tts: empty or too long text, rate or pitch out of range
│       └── UnknownVoice                no installed voice answers to the name
└── TransientError                      retry: leave pending, deliver again with backoff
    ├── GroupMissing                    a consumer group or its stream vanished: recreate, read on
    ├── HandlerTimeout                  a handler ran past its subscription's timeout_s: cancelled, retried
    ├── ConcurrencyError                an append's expected version is stale: reload, decide again
    ├── _RetryableStatus                llm: a 5xx/429 inside the backend's own retries (private)
    ├── _ExitedAtStart                  the embedded redis-server exited at start: try the next port (private)
    ├── RequestFailing                  llm: every backend failed one request while one answers /models
    └── BackendUnavailable              pause: a dependency is down; probe, never dead-letter
        ├── RedisUnavailable            Redis did not answer within the budget
        ├── InvalidResponse             an llm backend answered 2xx with a body that is no completion
        └── EngineUnavailable           tts: libespeak-ng or its data cannot load on this host

Domain bases raised as they are carry no disposition: a bare StoreError (a bad stream id,
batch or projection key) and the blob store's BlobError, BlobNotFound, BlobCorrupt and
BlobTooLarge. The caller maps them (services turn BlobError into PermanentError), or they
are retried and dead-lettered after max deliveries. SecretError, AuthError, CalendarError,
DocumentError, LLMError, TtsError and SchemaError are never raised bare.
"""

from __future__ import annotations

__all__ = [
    "AiwfError",
    "BackendUnavailable",
    "ConfigError",
    "IncompatibleChange",
    "InvalidPayload",
    "MalformedEvent",
    "PermanentError",
    "Refused",
    "RegistryConflict",
    "SchemaError",
    "TransientError",
    "UnknownEventType",
    "UnsupportedVersion",
]


class AiwfError(Exception):
    """Base of every aiwf error; the CLI turns any of them into one line on stderr."""

    #: Set on an error a publish raises: the event id it used (`event_ids` for publish_many),
    #: so the caller can publish again with `event_id=` and get one effect.
    event_id: str | None = None
    event_ids: tuple[str, ...] = ()


# ---------------------------------------------------------------- what happens next


class Refused(AiwfError):
    """Raised when a request is refused at the edge before anything was done; the message says what to fix."""


class ConfigError(Refused):
    """Raised when a setting is invalid; the message names the setting and the accepted values."""


class PermanentError(AiwfError):
    """Raised for an event that can never succeed; it is dead-lettered on this delivery."""


class TransientError(AiwfError):
    """Raised for a failure that may pass; the event is retried with backoff."""


class BackendUnavailable(TransientError):
    """Raised when a dependency is down; the subscription pauses and probes, nothing is dead-lettered."""


# ---------------------------------------------------------------- schema errors


class SchemaError(AiwfError):
    """Base of every schema error; classify() dead-letters any of them on first delivery."""


class UnknownEventType(SchemaError, PermanentError):
    """Raised when no model is registered for an event type."""


class UnsupportedVersion(SchemaError, PermanentError):
    """Raised when a type is known but not at this version, and no upcaster reaches the newest."""


class MalformedEvent(SchemaError, PermanentError):
    """Raised when bytes are not a well-formed envelope (bad JSON, too large, too deep, missing fields)."""


class InvalidPayload(SchemaError, PermanentError):
    """Raised when a payload does not validate against its registered model."""


class IncompatibleChange(SchemaError, Refused):
    """Raised by `aiwf schemas check` when a schema change would break readers."""


class RegistryConflict(SchemaError, ConfigError):
    """Raised when two models claim the same (type, version) or an upcaster is declared twice."""
