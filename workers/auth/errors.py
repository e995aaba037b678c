"""Errors of the auth engine: ``AuthError`` says whose, the second base what happens next.

Command rejections are permanent (the same command fails the same way); a bad token is
refused at the edge; an impossible policy is a configuration error.
"""

from __future__ import annotations

from aiwf.schemas.errors import AiwfError, ConfigError, PermanentError, Refused

__all__ = [
    "AlreadyRegistered",
    "AuthConfigError",
    "AuthError",
    "CorruptPasswordHash",
    "InvalidUserEvent",
    "InvalidUsername",
    "NotRegistered",
    "TokenExpired",
    "TokenInvalid",
    "WeakPassword",
]


class AuthError(AiwfError):
    """Raised when an auth command or check cannot proceed; base of every auth error."""


class AuthConfigError(AuthError, ConfigError, ValueError):
    """Raised when a policy or settings object is built with impossible values."""


class WeakPassword(AuthError, PermanentError):
    """Raised when a new password breaks the password policy; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        """Keep ``reason`` for the caller (it never contains the password)."""
        super().__init__(f"weak password: {reason}")
        self.reason = reason


class CorruptPasswordHash(AuthError, PermanentError):
    """Raised when a stored password hash is not a valid Argon2 hash string."""


class InvalidUsername(AuthError, PermanentError):
    """Raised when a username is empty, too long or holds control characters."""


class NotRegistered(AuthError, PermanentError):
    """Raised when a command other than register targets a user that was never registered."""


class AlreadyRegistered(AuthError, PermanentError):
    """Raised when register targets a user that already exists."""


class InvalidUserEvent(AuthError, PermanentError):
    """Raised when a stored user event has an unknown type or misses a field (corrupt history)."""


class TokenInvalid(AuthError, Refused):
    """Raised when an access token is malformed, badly signed, uses a refused algorithm or wrong claims."""


class TokenExpired(TokenInvalid):
    """Raised when an access token's ``exp`` has passed."""
