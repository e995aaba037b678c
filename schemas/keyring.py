"""Keyrings: each service's X25519 keys, from AIWF_SECRET_* variables or a keys directory.

Key material comes from ``AIWF_SECRET_KEY_<SERVICE>`` (base64 private key),
``AIWF_SECRET_PUBKEY_<SERVICE>`` (base64 public key, for producers that only seal), or files
``<service>.key`` / ``<service>.pub`` under a keys directory; :func:`generate` writes such a
directory. schemas/secrets.py seals and unseals with these keys and re-exports this module.

Rotation (:func:`rotate`, `aiwf keys rotate`): the new key seals from then on; the old private
key stays as ``<service>.retired-<until>.key`` (or in ``AIWF_SECRET_RETIRED_<SERVICE>`` as
``<base64>@<until>[,...]``, `until` in epoch seconds) and still opens until then. A private key
file readable beyond its owner and group (more open than 0440) is refused, never read.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from nacl.public import PrivateKey, PublicKey
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiwf.schemas.secretfile import check_private
from aiwf.schemas.secrets import KEY_BYTES, KeyringError, seal, unseal, unseal_any

ENV_PREFIX: Final = "AIWF_SECRET_KEY_"
ENV_PUBLIC_PREFIX: Final = "AIWF_SECRET_PUBKEY_"
ENV_RETIRED_PREFIX: Final = "AIWF_SECRET_RETIRED_"
_SERVICE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RETIRED_STEM: Final = re.compile(r"(?P<service>[a-z][a-z0-9_]{0,62})\.retired-(?P<until>\d{1,12})")
Retired = Sequence[tuple[PrivateKey, float]]
"""A service's retired private keys, each with the epoch second until which it still opens."""


def _check_service(service: str) -> str:
    if not _SERVICE_RE.fullmatch(service):
        msg = f"service name {service!r} must match {_SERVICE_RE.pattern}"
        raise KeyringError(msg)
    return service


def _env_name(prefix: str, service: str) -> str:
    return prefix + service.upper()


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{where} is not valid base64"
        raise KeyringError(msg) from exc
    if len(raw) != KEY_BYTES:
        msg = f"{where} must decode to {KEY_BYTES} bytes, got {len(raw)}"
        raise KeyringError(msg)
    return raw


def _b64(key: PublicKey | PrivateKey) -> str:
    return base64.b64encode(bytes(key)).decode("ascii")


class Keyring:
    """Per-service X25519 keys: private keys for services run here, public keys to seal for others."""

    def __init__(
        self,
        private: Mapping[str, PrivateKey] | None = None,
        public: Mapping[str, PublicKey] | None = None,
        retired: Mapping[str, Retired] | None = None,
    ) -> None:
        """Hold ``private`` keys (their public halves are derived), extra ``public`` keys and ``retired`` ones."""
        self._private = {_check_service(s): k for s, k in (private or {}).items()}
        self._public = {_check_service(s): k for s, k in (public or {}).items()}
        self._retired = {_check_service(s): list(k) for s, k in (retired or {}).items()}
        for service, key in self._private.items():
            self._public[service] = key.public_key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """Load keys from ``AIWF_SECRET_KEY_<SERVICE>`` / ``AIWF_SECRET_PUBKEY_<SERVICE>``."""
        env = os.environ if environ is None else environ
        private: dict[str, PrivateKey] = {}
        public: dict[str, PublicKey] = {}
        retired: dict[str, list[tuple[PrivateKey, float]]] = {}
        for name, value in env.items():
            if name.startswith(ENV_RETIRED_PREFIX):
                service = _check_service(name[len(ENV_RETIRED_PREFIX) :].lower())
                retired[service] = _retired_from_env(name, value)
                continue
            for prefix, is_private in ((ENV_PREFIX, True), (ENV_PUBLIC_PREFIX, False)):
                if not name.startswith(prefix):
                    continue
                service = _check_service(name[len(prefix) :].lower())
                raw = _decode_key(value, name)
                if is_private:
                    private[service] = PrivateKey(raw)
                else:
                    public[service] = PublicKey(raw)
        return cls(private, public, retired)

    @classmethod
    def from_dir(cls, keys_dir: str | Path) -> Keyring:
        """Load ``<service>.key`` (private) and ``<service>.pub`` (public) files from ``keys_dir``."""
        root = Path(keys_dir)
        if not root.is_dir():
            msg = f"keys directory {root} does not exist"
            raise KeyringError(msg)
        private: dict[str, PrivateKey] = {}
        public: dict[str, PublicKey] = {}
        retired: dict[str, list[tuple[PrivateKey, float]]] = {}
        for path in sorted(root.iterdir()):
            if path.suffix not in {".key", ".pub"} or not path.is_file():
                continue
            if path.suffix == ".key":
                check_private(path, "sealing key")
            if path.stat().st_size > 1024:  # a key file is ~45 bytes
                msg = f"{path} is too large to be a key file"
                raise KeyringError(msg)
            raw = _decode_key(path.read_text(encoding="ascii"), str(path))
            old = _RETIRED_STEM.fullmatch(path.stem)
            if old and path.suffix == ".key":
                retired.setdefault(old["service"], []).append((PrivateKey(raw), float(old["until"])))
                continue
            service = _check_service(path.stem)
            if path.suffix == ".key":
                private[service] = PrivateKey(raw)
            else:
                public[service] = PublicKey(raw)
        return cls(private, public, retired)

    @classmethod
    def load(cls, keys_dir: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Keyring:
        """Merge keys from ``keys_dir`` (if given) and the environment; the environment wins."""
        from_dir = cls.from_dir(keys_dir) if keys_dir is not None else cls()
        from_env = cls.from_env(environ)
        return cls(
            {**from_dir._private, **from_env._private},
            {**from_dir._public, **from_env._public},
            {**from_dir._retired, **from_env._retired},
        )

    def services(self) -> frozenset[str]:
        """Every service this keyring can seal for."""
        return frozenset(self._public)

    def public_key(self, service: str) -> PublicKey:
        """The key to seal secrets owned by ``service``."""
        try:
            return self._public[service]
        except KeyError:
            msg = f"no public key for service {service!r}; set {_env_name(ENV_PUBLIC_PREFIX, service)}"
            raise KeyringError(msg) from None

    def private_key(self, service: str) -> PrivateKey:
        """The key ``service`` unseals its secrets with."""
        try:
            return self._private[service]
        except KeyError:
            msg = f"no private key for service {service!r}; set {_env_name(ENV_PREFIX, service)}"
            raise KeyringError(msg) from None

    def opening_keys(self, service: str, now: float | None = None) -> list[PrivateKey]:
        """The keys that open ``service``'s secrets at ``now``: its current key, then retired ones still in overlap."""
        at = time.time() if now is None else now
        live = sorted((k for k in self._retired.get(service, []) if k[1] > at), key=lambda k: -k[1])
        return [self.private_key(service), *(key for key, _ in live)]

    def opens_with_current(self, service: str, token: str) -> bool:
        """Whether ``token`` was sealed for ``service``'s current key (False: a retired one; re-seal it)."""
        return unseal_any(token, self.opening_keys(service))[1] == 0

    def seal_for(self, service: str, plaintext: str) -> str:
        """Seal ``plaintext`` for ``service``."""
        return seal(plaintext, self.public_key(service))

    def unseal_for(self, service: str, token: str) -> str:
        """Unseal a value that was sealed for ``service`` (by its current key or one still in its overlap)."""
        return unseal(token, self.opening_keys(service))

    def env(self, service: str) -> dict[str, str]:
        """Environment variables that carry ``service``'s private key (for compose/.env files)."""
        return {_env_name(ENV_PREFIX, service): _b64(self.private_key(service))}

    def __repr__(self) -> str:
        """Show services only; key bytes never appear in a repr."""
        return f"Keyring(private={sorted(self._private)}, public={sorted(self._public)})"


def _retired_from_env(name: str, value: str) -> list[tuple[PrivateKey, float]]:
    """`<base64>@<until>[,<base64>@<until>...]` from AIWF_SECRET_RETIRED_<SERVICE>."""
    out = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        key, _, until = item.rpartition("@")
        if not until.isdigit():
            msg = f"{name} must be <base64 key>@<until epoch seconds>[,...]"
            raise KeyringError(msg)
        out.append((PrivateKey(_decode_key(key, name)), float(until)))
    return out


def generate(keys_dir: str | Path, services: Iterable[str]) -> Keyring:
    """Create a keypair per service under ``keys_dir`` (``.key`` mode 0600, ``.pub``); never overwrite."""
    root = Path(keys_dir)
    root.mkdir(parents=True, exist_ok=True)
    names = [_check_service(s) for s in services]
    for service in names:
        if (root / f"{service}.key").exists():
            msg = f"{root / f'{service}.key'} already exists; refusing to overwrite a key"
            raise KeyringError(msg)
    private: dict[str, PrivateKey] = {}
    for service in names:
        key = PrivateKey.generate()
        key_path = root / f"{service}.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(_b64(key) + "\n")
        (root / f"{service}.pub").write_text(_b64(key.public_key) + "\n", encoding="ascii")
        private[service] = key
    return Keyring(private)


def rotate(keys_dir: str | Path, service: str, overlap_s: float, now: float | None = None) -> tuple[Path, Path]:
    """A new key pair for ``service``; the old private key retired, still opening for ``overlap_s`` seconds.

    Every moment of the swap leaves a ``<service>.key`` in place (the new one lands by rename),
    and retired keys of ``service`` whose overlap has ended are deleted. Returns (new public key
    file, retired key file).
    """
    root = Path(keys_dir)
    current = root / f"{_check_service(service)}.key"
    if not current.exists():
        msg = f"{current} does not exist; make it with: aiwf keys generate {service}"
        raise KeyringError(msg)
    if overlap_s < 0:
        msg = f"the overlap must be >= 0 seconds, got {overlap_s}"
        raise KeyringError(msg)
    check_private(current, "sealing key")
    at = time.time() if now is None else now
    for path in root.glob(f"{service}.retired-*.key"):
        old = _RETIRED_STEM.fullmatch(path.stem)
        if old and old["service"] == service and float(old["until"]) <= at:
            path.unlink()
    retired = root / f"{service}.retired-{int(at + overlap_s)}.key"
    key = PrivateKey.generate()
    fresh = root / f".{service}.key.new"
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(_b64(key) + "\n")
    os.link(current, retired)  # the old key under its retired name first: it never stops opening
    fresh.replace(current)
    public = root / f"{service}.pub"
    tmp_public = root / f".{service}.pub.new"
    tmp_public.write_text(_b64(key.public_key) + "\n", encoding="ascii")
    tmp_public.replace(public)
    return public, retired


_DEFAULT: tuple[tuple[object, ...], Keyring] | None = None


class KeyringSettings(BaseSettings):
    """Where this process finds its key files (keys may also come from `AIWF_SECRET_KEY_<SERVICE>` variables).

    Read on every `default_keyring()` call, not once, so a process sees a new keys directory
    without a restart hook; schemas sits below the bus, so this part cannot be in BusConfig.
    """

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, env_ignore_empty=True)

    keys_dir: Path | None = Field(
        None,
        validation_alias="AIWF_KEYS_DIR",
        description="directory of `<service>.key` / `<service>.pub` files; default `<AIWF_DATA_DIR>/keys`",
    )
    #: The bus's AIWF_DATA_DIR (declared by BusConfig), read here only for the default above.
    data_dir: Path = Field(Path(".aiwf"), validation_alias="AIWF_DATA_DIR", exclude=True)

    @property
    def keys_path(self) -> Path:
        """AIWF_KEYS_DIR, else `<AIWF_DATA_DIR>/keys`."""
        return self.keys_dir or self.data_dir / "keys"


def keys_dir() -> Path:
    """Where key files live: AIWF_KEYS_DIR, default `<AIWF_DATA_DIR>/keys`."""
    return KeyringSettings().keys_path


def default_keyring() -> Keyring:
    """The keyring of this process: key files under `keys_dir()` plus AIWF_SECRET_* variables.

    Reloaded when the directory or the variables change, so tests and long-lived processes see
    new keys without a restart hook.
    """
    global _DEFAULT  # noqa: PLW0603 - one cache per process, by design
    root = keys_dir()
    prefixes = (ENV_PREFIX, ENV_PUBLIC_PREFIX, ENV_RETIRED_PREFIX)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(prefixes)))
    stamp = (str(root), root.stat().st_mtime_ns if root.is_dir() else None, env)
    if _DEFAULT is None or _DEFAULT[0] != stamp:
        _DEFAULT = (stamp, Keyring.load(root if root.is_dir() else None))
    return _DEFAULT[1]
