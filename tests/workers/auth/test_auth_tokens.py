"""Access tokens: JWKS-only verification, key rotation and retirement, algorithm pinning."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aiwf.workers.auth.errors import AuthConfigError, TokenExpired, TokenInvalid
from aiwf.workers.auth.tokens import KeyRing, issue_access_token, verify_access_token

ISS, AUD = "https://auth.aiwf.test", "aiwf"
NOW = 1_700_000_000.0


def _issue(ring: KeyRing, now: float = NOW, ttl_s: int = 900) -> str:
    return issue_access_token(ring, subject="user-1", issuer=ISS, audience=AUD, now=now, ttl_s=ttl_s).token


def _verify(token: str, jwks: Mapping[str, object], now: float = NOW + 1) -> dict[str, object]:
    return verify_access_token(token, jwks, issuer=ISS, audience=AUD, now=now)


def _claims(now: float = NOW) -> dict[str, object]:
    return {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": int(now), "exp": int(now) + 900, "jti": "j1"}


def test_verify_with_published_jwks_only() -> None:
    """A verifier holding only the JSON JWKS (no private key) checks the token and gets its claims."""
    ring = KeyRing.generate(NOW)
    token = _issue(ring)
    jwks = json.loads(json.dumps(ring.public_jwks(NOW)))
    assert all("d" not in k for k in jwks["keys"])
    claims = _verify(token, jwks)
    assert claims["sub"] == "user-1"
    assert claims["exp"] == int(NOW) + 900
    assert {"iss", "aud", "sub", "exp", "iat", "jti"} <= set(claims)
    assert jwt.get_unverified_header(token)["kid"] == ring.active.kid


def test_default_lifetime_is_fifteen_minutes() -> None:
    """Access tokens default to 15 minutes and are refused as expired afterwards."""
    ring = KeyRing.generate(NOW)
    issued = issue_access_token(ring, subject="u", issuer=ISS, audience=AUD, now=NOW)
    assert issued.expires_at == int(NOW) + 15 * 60
    jwks = ring.public_jwks(NOW)
    _verify(issued.token, jwks, now=NOW + 899)
    with pytest.raises(TokenExpired):
        _verify(issued.token, jwks, now=NOW + 900)


def test_wall_clock_default() -> None:
    """Without ``now`` verification uses the real clock."""
    ring = KeyRing.generate(time.time())
    token = _issue(ring, now=time.time())
    assert verify_access_token(token, ring.public_jwks(), issuer=ISS, audience=AUD)["sub"] == "user-1"


def test_wrong_issuer_audience_and_future_iat_refused() -> None:
    """A token for another issuer or audience, or issued in the future, is refused."""
    ring = KeyRing.generate(NOW)
    token, jwks = _issue(ring), ring.public_jwks(NOW)
    with pytest.raises(TokenInvalid, match=r"(?i)audience"):
        verify_access_token(token, jwks, issuer=ISS, audience="other", now=NOW)
    with pytest.raises(TokenInvalid, match=r"(?i)issuer"):
        verify_access_token(token, jwks, issuer="https://evil", audience=AUD, now=NOW)
    with pytest.raises(TokenInvalid, match="future"):
        _verify(token, jwks, now=NOW - 60)


def test_missing_claim_refused() -> None:
    """A correctly signed token without ``jti`` is refused."""
    ring = KeyRing.generate(NOW)
    claims = _claims()
    del claims["jti"]
    with pytest.raises(TokenInvalid, match="jti"):
        _verify(ring.sign(claims), ring.public_jwks(NOW))


def test_tampered_payload_refused() -> None:
    """Changing the payload of a signed token breaks its signature."""
    ring = KeyRing.generate(NOW)
    header, _, sig = _issue(ring).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**_claims(), "sub": "admin"}).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid, match="rejected"):
        _verify(f"{header}.{forged}.{sig}", ring.public_jwks(NOW))


def test_rotation_keeps_old_tokens_valid_until_retired() -> None:
    """After rotate an old token still verifies; after the retire time its key is gone and it fails."""
    ring = KeyRing.generate(NOW)
    old_token = _issue(ring, ttl_s=3600)
    rotated = ring.rotate(NOW + 10, grace_s=1200)
    assert rotated.active.kid != ring.active.kid
    new_token = _issue(rotated, now=NOW + 10)
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.active.kid

    during = rotated.public_jwks(NOW + 20)
    assert len(during["keys"]) == 2
    assert _verify(old_token, during, now=NOW + 20)["sub"] == "user-1"
    assert _verify(new_token, during, now=NOW + 20)["sub"] == "user-1"

    after = rotated.public_jwks(NOW + 10 + 1200)
    assert [k["kid"] for k in after["keys"]] == [rotated.active.kid]
    with pytest.raises(TokenInvalid, match="retired"):
        _verify(old_token, after, now=NOW + 1300)
    assert _verify(new_token, after, now=NOW + 800)["sub"] == "user-1"


def test_second_rotation_drops_retired_keys() -> None:
    """Rotating again after the grace period drops keys that have retired."""
    ring = KeyRing.generate(NOW).rotate(NOW + 1, grace_s=100)
    again = ring.rotate(NOW + 500, grace_s=100)
    assert len(again.keys) == 2
    assert ring.keys[0].kid not in {k.kid for k in again.keys}


def test_keyring_json_round_trip() -> None:
    """A ring saved with to_json signs tokens that the original ring's JWKS verifies."""
    ring = KeyRing.generate(NOW).rotate(NOW + 1)
    loaded = KeyRing.from_json(ring.to_json())
    assert loaded.active.kid == ring.active.kid
    assert [k.retire_at for k in loaded.keys] == [k.retire_at for k in ring.keys]
    _verify(_issue(loaded), ring.public_jwks(NOW))
    private_d = json.loads(ring.to_json())["keys"][0]["jwk"]["d"]
    assert private_d not in repr(loaded)
    with pytest.raises(AuthConfigError):
        KeyRing.from_json('{"keys": [{"jwk": 1}]}')


def test_hs256_with_public_key_as_secret_refused() -> None:
    """The key-confusion attack (HS256 signed with the public key bytes) is refused by the pinned algorithm."""
    ring = KeyRing.generate(NOW)
    jwks = ring.public_jwks(NOW)
    public_x = jwks["keys"][0]["x"]
    forged = jwt.encode(_claims(), public_x, algorithm="HS256", headers={"kid": ring.active.kid})
    with pytest.raises(TokenInvalid, match="'HS256' refused"):
        _verify(forged, jwks)


def test_alg_none_refused() -> None:
    """An unsigned token (alg none) is refused even with a known kid."""
    ring = KeyRing.generate(NOW)
    unsigned = jwt.encode(_claims(), None, algorithm="none", headers={"kid": ring.active.kid})  # type: ignore[arg-type]  # alg none takes no key
    with pytest.raises(TokenInvalid, match="'none' refused"):
        _verify(unsigned, ring.public_jwks(NOW))


def test_es256_token_refused() -> None:
    """A validly signed ES256 token is refused: only EdDSA is accepted."""
    ring = KeyRing.generate(NOW)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(), ec_key, algorithm="ES256", headers={"kid": ring.active.kid})
    with pytest.raises(TokenInvalid, match="'ES256' refused"):
        _verify(token, ring.public_jwks(NOW))


def test_foreign_key_with_known_kid_refused() -> None:
    """An EdDSA token signed by a key outside the ring, claiming a ring kid, fails the signature check."""
    ring = KeyRing.generate(NOW)
    intruder = Ed25519PrivateKey.generate()
    token = jwt.encode(_claims(), intruder, algorithm="EdDSA", headers={"kid": ring.active.kid})
    with pytest.raises(TokenInvalid, match="rejected"):
        _verify(token, ring.public_jwks(NOW))


def test_garbage_and_oversized_tokens_refused() -> None:
    """Non-JWT text, a token without kid and an oversized token are refused with TokenInvalid."""
    ring = KeyRing.generate(NOW)
    jwks = ring.public_jwks(NOW)
    with pytest.raises(TokenInvalid, match="well-formed"):
        _verify("not.a.jwt", jwks)
    no_kid = jwt.encode(_claims(), ring.active.private_key, algorithm="EdDSA")
    with pytest.raises(TokenInvalid, match="kid"):
        _verify(no_kid, jwks)
    with pytest.raises(TokenInvalid, match="at most"):
        _verify("a" * 10_000, jwks)


def test_jwks_with_wrong_key_type_refused() -> None:
    """A JWKS entry that is not an Ed25519 OKP key is refused even if its kid matches."""
    ring = KeyRing.generate(NOW)
    bad = {"keys": [{"kty": "oct", "kid": ring.active.kid, "k": "c2VjcmV0"}]}
    with pytest.raises(TokenInvalid, match="not an Ed25519"):
        _verify(_issue(ring), bad)
