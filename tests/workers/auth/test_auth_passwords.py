"""Password policy and Argon2id hashing."""

from __future__ import annotations

import pytest

from aiwf.workers.auth.errors import AuthConfigError, CorruptPasswordHash, WeakPassword
from aiwf.workers.auth.passwords import PasswordHasher, PasswordPolicy

GOOD = "correct-horse-battery"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    """The default (OWASP) hasher, shared: hashing is deliberately slow."""
    return PasswordHasher()


def test_hash_uses_owasp_argon2id_parameters(hasher: PasswordHasher) -> None:
    """Hashes are Argon2id with m=19 MiB, t=2, p=1 and a fresh salt each time."""
    first, second = hasher.hash(GOOD), hasher.hash(GOOD)
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second
    assert GOOD not in first


def test_verify_right_and_wrong_password(hasher: PasswordHasher) -> None:
    """verify accepts the password and refuses any other, including a case change."""
    stored = hasher.hash(GOOD)
    assert hasher.verify(stored, GOOD)
    assert not hasher.verify(stored, "Correct-horse-battery")
    assert not hasher.verify(stored, "")
    assert not hasher.verify(stored, "x" * 100_000)


def test_unicode_normalised_before_hashing(hasher: PasswordHasher) -> None:
    """A password typed in composed or decomposed Unicode form verifies either way."""
    stored = hasher.hash("caf\u00e9-Passwort-123")
    assert hasher.verify(stored, "cafe\u0301-Passwort-123")


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher) -> None:
    """A hash made with weaker parameters needs a rehash; one at current parameters does not."""
    weak = PasswordHasher(memory_kib=1024, time_cost=1).hash(GOOD)
    assert hasher.needs_rehash(weak)
    assert not hasher.needs_rehash(hasher.hash(GOOD))
    assert hasher.verify(weak, GOOD)


def test_corrupt_hash_raises(hasher: PasswordHasher) -> None:
    """A stored hash that is not Argon2 raises CorruptPasswordHash instead of returning False."""
    with pytest.raises(CorruptPasswordHash):
        hasher.verify("not-a-hash", GOOD)
    with pytest.raises(CorruptPasswordHash):
        hasher.needs_rehash("not-a-hash")


def test_dummy_verify_costs_a_real_verify(hasher: PasswordHasher) -> None:
    """dummy_verify runs without error and builds its dummy hash once."""
    hasher.dummy_verify("whatever-password")
    assert hasher._dummy_hash is not None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short-1", "shorter than 12"),
        ("a" * 1025 + "B", "longer than 1024"),
        ("alllowercaseletters", "character class"),
        ("123456789012345", "character class"),
    ],
)
def test_policy_rejects_with_reason(password: str, reason: str) -> None:
    """Each policy rule raises WeakPassword whose reason names the rule."""
    with pytest.raises(WeakPassword, match=reason) as info:
        PasswordPolicy().check(password)
    assert reason in info.value.reason
    assert password not in str(info.value)


def test_policy_accepts_good_passwords() -> None:
    """Twelve characters from two classes pass, as does a long passphrase with spaces."""
    policy = PasswordPolicy()
    policy.check("abcdefghijk1")
    policy.check("purple monkey dishwasher")


def test_policy_config_validated() -> None:
    """Impossible policy settings raise AuthConfigError."""
    with pytest.raises(AuthConfigError):
        PasswordPolicy(min_length=20, max_length=10)
    with pytest.raises(AuthConfigError):
        PasswordPolicy(min_classes=5)
