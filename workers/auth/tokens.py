"""Signed access tokens: an Ed25519 key ring with rotation, a JWKS, and offline verification (pyjwt)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, cast

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from aiwf.workers.auth.errors import AuthConfigError, TokenExpired, TokenInvalid

__all__ = [
    "ACCESS_TTL_S",
    "ALGORITHM",
    "DEFAULT_GRACE_S",
    "AccessToken",
    "KeyRing",
    "SigningKey",
    "issue_access_token",
    "verify_access_token",
]

#: The only algorithm signed or accepted; a token's own ``alg`` header is never trusted.
ALGORITHM: Final = "EdDSA"
#: Access tokens live 15 minutes; revocation acts on refresh tokens, so keep this short.
ACCESS_TTL_S: Final = 15 * 60
#: After rotation an old public key stays published this long: one access-token lifetime plus slack.
DEFAULT_GRACE_S: Final = ACCESS_TTL_S + 5 * 60
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "exp", "iat", "jti")
MAX_TOKEN_CHARS: Final = 8 * 1024
MAX_JWKS_KEYS: Final = 64


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return cast("dict[str, str]", OKPAlgorithm.to_jwk(public_key, as_dict=True))


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable key id derived from the public key."""
    jwk = _public_jwk(public_key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 signing key; published in the JWKS until ``retire_at`` (None: not retiring)."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
    retire_at: float | None = None

    @classmethod
    def generate(cls, now: float) -> SigningKey:
        """A fresh key whose ``kid`` is its RFC 7638 thumbprint."""
        key = Ed25519PrivateKey.generate()
        return cls(kid=_thumbprint(key.public_key()), private_key=key, created_at=now)

    def published(self, now: float) -> bool:
        """True while tokens signed by this key still verify."""
        return self.retire_at is None or now < self.retire_at

    def public_jwk(self) -> dict[str, str]:
        """This key's public half as a JWK with ``kid``, ``alg`` and ``use``."""
        return {**_public_jwk(self.private_key.public_key()), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


class KeyRing:
    """Signing keys by ``kid``: one active key signs, retiring keys keep verifying until their retire time."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        """Hold ``keys``; the newest key that is not retiring becomes the active one."""
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            msg = "key ids in a key ring must be unique"
            raise AuthConfigError(msg)
        live = [k for k in keys if k.retire_at is None]
        if not live:
            msg = "a key ring needs one key that is not retiring"
            raise AuthConfigError(msg)
        self._keys: tuple[SigningKey, ...] = tuple(keys)
        self._active = max(live, key=lambda k: k.created_at)

    @classmethod
    def generate(cls, now: float) -> KeyRing:
        """A ring with one new active key."""
        return cls([SigningKey.generate(now)])

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key held, active and retiring."""
        return self._keys

    def rotate(self, now: float, grace_s: float = DEFAULT_GRACE_S) -> KeyRing:
        """A new ring whose fresh key is active; older keys retire at ``now + grace_s``, retired ones drop."""
        if grace_s < 0:
            msg = f"grace_s must be >= 0, got {grace_s}"
            raise AuthConfigError(msg)
        kept = [
            k if k.retire_at is not None else replace(k, retire_at=now + grace_s)
            for k in self._keys
            if k.published(now)
        ]
        return KeyRing([*kept, SigningKey.generate(now)])

    def public_jwks(self, now: float | None = None) -> dict[str, list[dict[str, str]]]:
        """The JWKS (RFC 7517) of every key still published at ``now``; safe to share with anyone."""
        at = time.time() if now is None else now
        return {"keys": [k.public_jwk() for k in self._keys if k.published(at)]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` signed by the active key, with its ``kid`` in the header."""
        key = self._active
        return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def to_json(self) -> str:
        """Serialise the ring INCLUDING private keys; store it as a secret (sealed or in a key file)."""
        rows = [
            {
                "jwk": OKPAlgorithm.to_jwk(k.private_key, as_dict=True),
                "kid": k.kid,
                "created_at": k.created_at,
                "retire_at": k.retire_at,
            }
            for k in self._keys
        ]
        return json.dumps({"keys": rows})

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """Rebuild a ring written by :meth:`to_json`."""
        try:
            rows = json.loads(text)["keys"]
            keys = []
            for row in rows:
                private_key = OKPAlgorithm.from_jwk(row["jwk"])
                if not isinstance(private_key, Ed25519PrivateKey):
                    msg = "key ring holds a key that is not an Ed25519 private key"
                    raise AuthConfigError(msg)
                retire_at = row["retire_at"]
                keys.append(
                    SigningKey(
                        kid=str(row["kid"]),
                        private_key=private_key,
                        created_at=float(row["created_at"]),
                        retire_at=None if retire_at is None else float(retire_at),
                    ),
                )
        except (KeyError, TypeError, ValueError, jwt.InvalidKeyError) as exc:
            msg = f"key ring JSON is malformed: {exc}"
            raise AuthConfigError(msg) from exc
        return cls(keys)

    def __repr__(self) -> str:
        """Show key ids only."""
        return f"KeyRing(active={self._active.kid!r}, keys={[k.kid for k in self._keys]})"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A signed access token with the claims a caller usually records."""

    token: str
    jti: str
    expires_at: int


def issue_access_token(
    ring: KeyRing,
    *,
    subject: str,
    issuer: str,
    audience: str,
    now: float,
    ttl_s: int = ACCESS_TTL_S,
    extra_claims: Mapping[str, Any] | None = None,
) -> AccessToken:
    """Sign a short-lived access token carrying iss/aud/sub/exp/iat/jti (plus ``extra_claims``)."""
    if ttl_s <= 0:
        msg = f"ttl_s must be > 0, got {ttl_s}"
        raise AuthConfigError(msg)
    extra = dict(extra_claims or {})
    clash = sorted(set(extra) & {*REQUIRED_CLAIMS, "nbf"})
    if clash:
        msg = f"extra_claims may not set registered claims {clash}"
        raise AuthConfigError(msg)
    iat = int(now)
    jti = uuid.uuid4().hex
    claims = {**extra, "iss": issuer, "aud": audience, "sub": subject, "iat": iat, "exp": iat + ttl_s, "jti": jti}
    return AccessToken(token=ring.sign(claims), jti=jti, expires_at=iat + ttl_s)


def _find_key(jwks: Mapping[str, Any], kid: str) -> jwt.PyJWK:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or len(keys) > MAX_JWKS_KEYS:
        msg = f"JWKS must hold a 'keys' list of at most {MAX_JWKS_KEYS} keys"
        raise TokenInvalid(msg)
    for jwk in keys:
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or jwk.get("alg", ALGORITHM) != ALGORITHM:
                msg = f"key {kid!r} is not an Ed25519 {ALGORITHM} key"
                raise TokenInvalid(msg)
            try:
                return jwt.PyJWK(jwk, algorithm=ALGORITHM)
            except jwt.PyJWTError as exc:
                msg = f"key {kid!r} in the JWKS is malformed"
                raise TokenInvalid(msg) from exc
    msg = f"unknown or retired signing key {kid!r}"
    raise TokenInvalid(msg)


def _numeric(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"claim {name!r} must be a number"
        raise TokenInvalid(msg)
    return float(value)


def verify_access_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: float | None = None,
    leeway_s: float = 0.0,
) -> dict[str, Any]:
    """Check signature (EdDSA only), issuer, audience and times using only the public JWKS; return the claims."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        msg = f"token must be a string of at most {MAX_TOKEN_CHARS} characters"
        raise TokenInvalid(msg)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        msg = "token is not a well-formed JWT"
        raise TokenInvalid(msg) from exc
    if header.get("alg") != ALGORITHM:
        msg = f"algorithm {header.get('alg')!r} refused; only {ALGORITHM} is accepted"
        raise TokenInvalid(msg)
    kid = header.get("kid")
    if not isinstance(kid, str):
        msg = "token header has no key id (kid)"
        raise TokenInvalid(msg)
    key = _find_key(jwks, kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[ALGORITHM],  # pinned: never taken from the header
            audience=audience,
            issuer=issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                # Times are checked below against ``now``, so tests and replays are deterministic.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        msg = f"token rejected: {exc}"
        raise TokenInvalid(msg) from exc
    at = time.time() if now is None else now
    if at >= _numeric(claims, "exp") + leeway_s:
        msg = "token has expired"
        raise TokenExpired(msg)
    if _numeric(claims, "iat") > at + leeway_s:
        msg = "token is issued in the future"
        raise TokenInvalid(msg)
    if "nbf" in claims and _numeric(claims, "nbf") > at + leeway_s:
        msg = "token is not valid yet (nbf)"
        raise TokenInvalid(msg)
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        msg = "claims 'sub' and 'jti' must be strings"
        raise TokenInvalid(msg)
    return claims
