"""Secret fields: sealed for the service that owns them, masked everywhere else.

A field typed ``Secret`` in an event model never leaves the process in clear
text: a plain ``model_dump()`` (logs, dead letters, CLI output) shows ``***``,
and the bus dumps with :func:`seal_context` so the value is encrypted with the
owning service's X25519 public key (a libsodium sealed box) before XADD. Only
the owner, holding the private key, can :func:`unseal` it.

Key material comes from ``AIWF_SECRET_KEY_<SERVICE>`` (base64 private key),
``AIWF_SECRET_PUBKEY_<SERVICE>`` (base64 public key, for producers that only
seal), or files ``<service>.key`` / ``<service>.pub`` under a keys directory;
:func:`generate` writes such a directory.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Union, cast

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from pydantic import BaseModel, Field, PlainSerializer, SecretStr, SerializationInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiwf.schemas.errors import AiwfError, ConfigError, PermanentError

__all__ = [
    "ENV_PREFIX",
    "ENV_PUBLIC_PREFIX",
    "MASK",
    "MAX_SECRET_BYTES",
    "SEALED_PREFIX",
    "SEAL_CONTEXT_KEY",
    "Keyring",
    "KeyringError",
    "KeyringSettings",
    "Secret",
    "SecretError",
    "SecretTooLarge",
    "SecretUnsealError",
    "cleartext_secrets",
    "dump_sealed",
    "generate",
    "is_sealed",
    "mask",
    "mask_fields",
    "mask_payload",
    "seal",
    "seal_context",
    "secret_field_names",
    "secret_names",
    "unseal",
    "unseal_fields",
]

SEALED_PREFIX: Final = "sealed:v1:"
MASK: Final = "***"
#: Plaintext cap; secrets are passwords, tokens and keys, never documents.
MAX_SECRET_BYTES: Final = 16 * 1024
#: Sealed-box overhead (ephemeral public key + MAC) plus base64 growth, with slack.
_MAX_TOKEN_CHARS: Final = len(SEALED_PREFIX) + (MAX_SECRET_BYTES + 48) * 4 // 3 + 8
ENV_PREFIX: Final = "AIWF_SECRET_KEY_"
ENV_PUBLIC_PREFIX: Final = "AIWF_SECRET_PUBKEY_"
SEAL_CONTEXT_KEY: Final = "aiwf.seal_for"
_SERVICE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
_KEY_BYTES: Final = 32


class SecretError(AiwfError):
    """Raised when a secret cannot be sealed, unsealed or keyed; base of this module's errors."""


class SecretUnsealError(SecretError, PermanentError):
    """Raised when a sealed value is malformed, tampered with, or sealed for another key."""


class SecretTooLarge(SecretError, PermanentError):
    """Raised when a plaintext secret exceeds MAX_SECRET_BYTES."""


class KeyringError(SecretError, ConfigError):
    """Raised when a service key is missing, malformed, or a key file would be overwritten."""


def _public(key: PublicKey | bytes) -> PublicKey:
    if isinstance(key, PublicKey):
        return key
    if len(key) != _KEY_BYTES:
        msg = f"public key must be {_KEY_BYTES} bytes, got {len(key)}"
        raise KeyringError(msg)
    return PublicKey(key)


def _private(key: PrivateKey | bytes) -> PrivateKey:
    if isinstance(key, PrivateKey):
        return key
    if len(key) != _KEY_BYTES:
        msg = f"private key must be {_KEY_BYTES} bytes, got {len(key)}"
        raise KeyringError(msg)
    return PrivateKey(key)


def seal(plaintext: str, recipient_public_key: PublicKey | bytes) -> str:
    """Encrypt ``plaintext`` so only the holder of the matching private key can read it."""
    data = plaintext.encode()
    if len(data) > MAX_SECRET_BYTES:
        msg = f"secret is {len(data)} bytes; the limit is {MAX_SECRET_BYTES}"
        raise SecretTooLarge(msg)
    box = SealedBox(_public(recipient_public_key))
    return SEALED_PREFIX + base64.b64encode(box.encrypt(data)).decode("ascii")


def unseal(token: str, private_key: PrivateKey | bytes) -> str:
    """Decrypt a value made by :func:`seal`; raise SecretUnsealError if it is not intact."""
    if not is_sealed(token):
        msg = f"value is not sealed (expected prefix {SEALED_PREFIX!r})"
        raise SecretUnsealError(msg)
    if len(token) > _MAX_TOKEN_CHARS:
        msg = f"sealed value is {len(token)} chars; the limit is {_MAX_TOKEN_CHARS}"
        raise SecretUnsealError(msg)
    try:
        raw = base64.b64decode(token[len(SEALED_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "sealed value is not valid base64"
        raise SecretUnsealError(msg) from exc
    try:
        data = SealedBox(_private(private_key)).decrypt(raw)
    except CryptoError as exc:
        msg = "sealed value was tampered with or sealed for another key"
        raise SecretUnsealError(msg) from exc
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        msg = "sealed value does not hold UTF-8 text"
        raise SecretUnsealError(msg) from exc


def is_sealed(value: object) -> bool:
    """Tell whether ``value`` is a string produced by :func:`seal` (by its prefix)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def mask(value: object) -> str:
    """Return the display form of any secret: ``***``, never a hint of its length."""
    return MASK


# --------------------------------------------------------------------------- keyring


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
    if len(raw) != _KEY_BYTES:
        msg = f"{where} must decode to {_KEY_BYTES} bytes, got {len(raw)}"
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


# --------------------------------------------------------------------------- pydantic


class _SecretMarker:
    """Annotation metadata that marks a model field as secret."""

    def __repr__(self) -> str:
        return "SECRET"


_SECRET: Final = _SecretMarker()


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    raw = value.get_secret_value()
    if is_sealed(raw):
        return raw  # ciphertext is safe anywhere; never seal twice
    context = info.context
    if isinstance(context, dict):
        key = context.get(SEAL_CONTEXT_KEY)
        if isinstance(key, PublicKey):
            return seal(raw, key)
    return MASK


Secret = Annotated[
    SecretStr,
    _SECRET,
    PlainSerializer(_serialize_secret, return_type=str, when_used="always"),
    Field(json_schema_extra={"x-aiwf-secret": True}),
]
"""A secret string field: ``***`` in every dump, sealed when dumped with :func:`seal_context`."""


def seal_context(recipient_public_key: PublicKey) -> dict[str, Any]:
    """Serialization context that makes ``Secret`` fields dump as sealed values."""
    return {SEAL_CONTEXT_KEY: recipient_public_key}


def dump_sealed(model: BaseModel, recipient_public_key: PublicKey) -> dict[str, Any]:
    """JSON-mode dump of ``model`` with every ``Secret`` field (at any depth) sealed."""
    return model.model_dump(mode="json", context=seal_context(recipient_public_key))


def _marks_secret(annotation: object, depth: int = 0) -> bool:
    if depth > 8:  # annotations are code, but keep the walk bounded
        return False
    origin = typing.get_origin(annotation)
    if origin is Annotated and any(meta is _SECRET for meta in getattr(annotation, "__metadata__", ())):
        return True
    if origin is Union or origin is types.UnionType or origin is Annotated:
        return any(_marks_secret(arg, depth + 1) for arg in typing.get_args(annotation))
    return False


def secret_field_names(model_cls: type[BaseModel]) -> set[str]:
    """Names of the top-level fields of ``model_cls`` typed ``Secret`` (or ``Secret | None``)."""
    names: set[str] = set()
    for name, info in model_cls.model_fields.items():
        if any(meta is _SECRET for meta in info.metadata) or _marks_secret(info.annotation):
            names.add(name)
    return names


def unseal_fields(payload: Mapping[str, Any], names: Iterable[str], private_key: PrivateKey) -> dict[str, Any]:
    """Copy of ``payload`` with the named fields unsealed; a named field in clear text is refused."""
    out = dict(payload)
    for name in names:
        value = out.get(name)
        if value is None:
            continue
        if not is_sealed(value):
            msg = f"secret field {name!r} arrived unsealed"
            raise SecretUnsealError(msg)
        out[name] = unseal(value, private_key)
    return out


# --------------------------------------------------------------------------- display

SEALED_TEXT = re.compile(re.escape(SEALED_PREFIX) + r"[A-Za-z0-9+/=_-]*")
MAX_MASK_DEPTH = 64


def mask_sealed(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-like `value` with every sealed string replaced by `***`."""
    if depth > MAX_MASK_DEPTH:
        return MASK  # deeper than the codec ever lets through: show nothing rather than recurse
    if isinstance(value, str):
        return MASK if value.startswith(SEALED_PREFIX) else value
    if isinstance(value, dict):
        return {k: mask_sealed(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_sealed(v, depth + 1) for v in value]
    return value


def mask_sealed_text(text: str) -> str:
    """Free text with every sealed token replaced by `***`."""
    return SEALED_TEXT.sub(MASK, text)


def mask_fields(payload: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Copy of ``payload`` with the named fields shown as ``***`` (for logs and dead-letter views)."""
    out = dict(payload)
    for name in names:
        if out.get(name) is not None:
            out[name] = MASK
    return out


def secret_names(event_type: str, version: object = None) -> frozenset[str]:
    """The `Secret` fields of `event_type` at `version`; of any of its versions when that one is unknown.

    Masking goes by the schema, not by what a value looks like: a raw producer may have put
    clear text where a sealed value belongs. Unknown types have no known secret fields.
    """
    from aiwf.schemas.registry import REGISTRY  # noqa: PLC0415 - the registry imports this module

    if isinstance(version, int) and not isinstance(version, bool):
        model = REGISTRY.models.get((event_type, version))
        if model is not None:
            return model.event_secret_fields
    names: frozenset[str] = frozenset()
    for (type_, _), model in REGISTRY.models.items():
        if type_ == event_type:
            names |= model.event_secret_fields
    return names


def cleartext_secrets(event_type: str, version: object, payload: object) -> set[str]:
    """The `Secret` fields of a payload that hold a value other than a sealed one."""
    if not isinstance(payload, Mapping):
        return set()
    return {n for n in secret_names(event_type, version) if payload.get(n) is not None and not is_sealed(payload[n])}


def mask_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What `tail`, `dlq show` and logs print: the fields that are `Secret` in any version of the
    type as `***` whatever they hold, and any sealed text elsewhere (nested secrets) as `***`."""
    masked = mask_fields(payload, secret_names(event_type))
    return cast("dict[str, Any]", mask_sealed(masked))


# --------------------------------------------------------------------------- the process keyring

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
