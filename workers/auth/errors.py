"""Errors of the auth engine, rooted in ``AuthError``."""

from __future__ import annotations

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


class AuthError(Exception):
    """Raised when an auth command or check cannot proceed; base of every auth error."""


class AuthConfigError(AuthError, ValueError):
    """Raised when a policy or settings object is built with impossible values."""


class WeakPassword(AuthError):
    """Raised when a new password breaks the password policy; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        """Keep ``reason`` for the caller (it never contains the password)."""
        super().__init__(f"weak password: {reason}")
        self.reason = reason


class CorruptPasswordHash(AuthError):
    """Raised when a stored password hash is not a valid Argon2 hash string."""


class InvalidUsername(AuthError):
    """Raised when a username is empty, too long or holds control characters."""


class NotRegistered(AuthError):
    """Raised when a command other than register targets a user that was never registered."""


class AlreadyRegistered(AuthError):
    """Raised when register targets a user that already exists."""


class InvalidUserEvent(AuthError):
    """Raised when a stored user event has an unknown type or misses a field (corrupt history)."""


class TokenInvalid(AuthError):
    """Raised when an access token is malformed, badly signed, uses a refused algorithm or wrong claims."""


class TokenExpired(TokenInvalid):
    """Raised when an access token's ``exp`` has passed."""
