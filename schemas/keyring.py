"""Keyrings: each service's X25519 keys, from AIWF_SECRET_* variables or a keys directory.

Key material comes from ``AIWF_SECRET_KEY_<SERVICE>`` (base64 private key),
``AIWF_SECRET_PUBKEY_<SERVICE>`` (base64 public key, for producers that only seal), or files
``<service>.key`` / ``<service>.pub`` under a keys directory; :func:`generate` writes such a
directory. schemas/secrets.py seals and unseals with these keys and re-exports this module.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from nacl.public import PrivateKey, PublicKey
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiwf.schemas.secrets import KEY_BYTES, KeyringError, seal, unseal

ENV_PREFIX: Final = "AIWF_SECRET_KEY_"
ENV_PUBLIC_PREFIX: Final = "AIWF_SECRET_PUBKEY_"
_SERVICE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")


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
    ) -> None:
        """Hold ``private`` keys (their public halves are derived) and extra ``public`` keys."""
        self._private = {_check_service(s): k for s, k in (private or {}).items()}
        self._public = {_check_service(s): k for s, k in (public or {}).items()}
        for service, key in self._private.items():
            self._public[service] = key.public_key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """Load keys from ``AIWF_SECRET_KEY_<SERVICE>`` / ``AIWF_SECRET_PUBKEY_<SERVICE>``."""
        env = os.environ if environ is None else environ
        private: dict[str, PrivateKey] = {}
        public: dict[str, PublicKey] = {}
        for name, value in env.items():
            for prefix, is_private in ((ENV_PREFIX, True), (ENV_PUBLIC_PREFIX, False)):
                if not name.startswith(prefix):
                    continue
                service = _check_service(name[len(prefix) :].lower())
                raw = _decode_key(value, name)
                if is_private:
                    private[service] = PrivateKey(raw)
                else:
                    public[service] = PublicKey(raw)
        return cls(private, public)

    @classmethod
    def from_dir(cls, keys_dir: str | Path) -> Keyring:
        """Load ``<service>.key`` (private) and ``<service>.pub`` (public) files from ``keys_dir``."""
        root = Path(keys_dir)
        if not root.is_dir():
            msg = f"keys directory {root} does not exist"
            raise KeyringError(msg)
        private: dict[str, PrivateKey] = {}
        public: dict[str, PublicKey] = {}
        for path in sorted(root.iterdir()):
            if path.suffix not in {".key", ".pub"} or not path.is_file():
                continue
            if path.stat().st_size > 1024:  # a key file is ~45 bytes
                msg = f"{path} is too large to be a key file"
                raise KeyringError(msg)
            raw = _decode_key(path.read_text(encoding="ascii"), str(path))
            service = _check_service(path.stem)
            if path.suffix == ".key":
                private[service] = PrivateKey(raw)
            else:
                public[service] = PublicKey(raw)
        return cls(private, public)

    @classmethod
    def load(cls, keys_dir: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Keyring:
        """Merge keys from ``keys_dir`` (if given) and the environment; the environment wins."""
        from_dir = cls.from_dir(keys_dir) if keys_dir is not None else cls()
        from_env = cls.from_env(environ)
        return cls(
            {**from_dir._private, **from_env._private},
            {**from_dir._public, **from_env._public},
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

    def seal_for(self, service: str, plaintext: str) -> str:
        """Seal ``plaintext`` for ``service``."""
        return seal(plaintext, self.public_key(service))

    def unseal_for(self, service: str, token: str) -> str:
        """Unseal a value that was sealed for ``service``."""
        return unseal(token, self.private_key(service))

    def env(self, service: str) -> dict[str, str]:
        """Environment variables that carry ``service``'s private key (for compose/.env files)."""
        return {_env_name(ENV_PREFIX, service): _b64(self.private_key(service))}

    def __repr__(self) -> str:
        """Show services only; key bytes never appear in a repr."""
        return f"Keyring(private={sorted(self._private)}, public={sorted(self._public)})"


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
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith((ENV_PREFIX, ENV_PUBLIC_PREFIX))))
    stamp = (str(root), root.stat().st_mtime_ns if root.is_dir() else None, env)
    if _DEFAULT is None or _DEFAULT[0] != stamp:
        _DEFAULT = (stamp, Keyring.load(root if root.is_dir() else None))
    return _DEFAULT[1]
