"""Password policy and Argon2id hashing (argon2-cffi)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from aiwf.workers.auth.errors import AuthConfigError, CorruptPasswordHash, WeakPassword

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "PasswordHasher",
    "PasswordPolicy",
]

# OWASP Password Storage Cheat Sheet, "Argon2id" section
# (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html):
# "a minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree of parallelism".
ARGON2_MEMORY_KIB: Final = 19 * 1024
ARGON2_TIME_COST: Final = 2
ARGON2_PARALLELISM: Final = 1
ARGON2_HASH_LEN: Final = 32
ARGON2_SALT_LEN: Final = 16

_CHAR_CLASSES: Final = ("lowercase", "uppercase", "digit", "other")


def _normalize(password: str) -> str:
    # NIST SP 800-63B 5.1.1.2: normalise Unicode (NFKC) so the same typed password always matches.
    return unicodedata.normalize("NFKC", password)


def _char_class(ch: str) -> str:
    if ch.islower():
        return "lowercase"
    if ch.isupper():
        return "uppercase"
    if ch.isdigit():
        return "digit"
    return "other"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Rules a new password must meet; ``check`` raises WeakPassword naming the broken rule."""

    #: Shortest accepted password, in characters after NFKC normalisation.
    min_length: int = 12
    #: Longest accepted password; bounds work and storage on untrusted input.
    max_length: int = 1024
    #: How many of lowercase / uppercase / digit / other must appear.
    min_classes: int = 2

    def __post_init__(self) -> None:
        """Refuse impossible settings."""
        if not 1 <= self.min_length <= self.max_length:
            msg = f"need 1 <= min_length <= max_length, got {self.min_length}, {self.max_length}"
            raise AuthConfigError(msg)
        if not 1 <= self.min_classes <= len(_CHAR_CLASSES):
            msg = f"min_classes must be 1..{len(_CHAR_CLASSES)}, got {self.min_classes}"
            raise AuthConfigError(msg)

    def check(self, password: str) -> None:
        """Raise WeakPassword if ``password`` breaks a rule; return None when it is acceptable."""
        pw = _normalize(password)
        if len(pw) < self.min_length:
            msg = f"shorter than {self.min_length} characters"
            raise WeakPassword(msg)
        if len(pw) > self.max_length:
            msg = f"longer than {self.max_length} characters"
            raise WeakPassword(msg)
        classes = {_char_class(ch) for ch in pw}
        if len(classes) < self.min_classes:
            wanted = ", ".join(_CHAR_CLASSES)
            msg = f"uses {len(classes)} character class(es); mix at least {self.min_classes} of {wanted}"
            raise WeakPassword(msg)


class PasswordHasher:
    """Argon2id hash / verify / needs_rehash at OWASP parameters by default."""

    def __init__(
        self,
        *,
        memory_kib: int = ARGON2_MEMORY_KIB,
        time_cost: int = ARGON2_TIME_COST,
        parallelism: int = ARGON2_PARALLELISM,
        max_length: int = PasswordPolicy().max_length,
    ) -> None:
        """Build the hasher; ``max_length`` lets verify refuse absurd inputs without hashing them."""
        if memory_kib < 8 * parallelism or time_cost < 1 or parallelism < 1:
            msg = f"invalid Argon2 parameters m={memory_kib} t={time_cost} p={parallelism}"
            raise AuthConfigError(msg)
        self._max_length = max_length
        self._dummy_hash: str | None = None
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=ARGON2_HASH_LEN,
            salt_len=ARGON2_SALT_LEN,
            type=argon2.Type.ID,
        )

    def hash(self, password: str) -> str:
        """Return a PHC-format Argon2id hash (``$argon2id$v=19$m=...``) with a fresh salt."""
        return self._hasher.hash(_normalize(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """True if ``password`` matches ``password_hash``; CorruptPasswordHash if the hash is unreadable."""
        if len(password) > 4 * self._max_length:  # cheap refusal before normalising huge input
            return False
        try:
            return self._hasher.verify(password_hash, _normalize(password))
        except InvalidHashError as exc:
            msg = "stored password hash is not a valid Argon2 hash"
            raise CorruptPasswordHash(msg) from exc
        except VerificationError:  # includes VerifyMismatchError
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True if ``password_hash`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError) as exc:
            msg = "stored password hash is not a valid Argon2 hash"
            raise CorruptPasswordHash(msg) from exc

    def dummy_verify(self, password: str) -> None:
        """Spend one verify's time; call it for unknown users so timing does not reveal who exists."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("aiwf-dummy-password-for-timing")
        self.verify(self._dummy_hash, password)
