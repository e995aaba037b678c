"""Settings: the base of every configuration part, and how a bad value is put in one line.

Each part is a frozen pydantic-settings model whose fields name their variable
(`validation_alias`) and describe it, so `aiwf config` and the README list them from the models.

- `Part.from_env(**overrides)` is the one way to read the environment: overrides win over
  variables, variables over defaults; nested parts are read the same way.
- `Part(...)` alone never reads the environment: tests and library users get exactly the
  values they pass plus the defaults, whatever the shell exports.
- A bad value is a `ConfigError` with one line naming the variable, never a pydantic dump.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from aiwf.bus.errors import ConfigError

__all__ = ["Settings", "describe_error", "expects", "is_secret", "variable"]


class Settings(BaseSettings):
    """Base of every settings part: frozen, one variable per field, the environment only through `from_env`."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        case_sensitive=True,
        env_ignore_empty=True,
    )

    def __init__(self, **values: Any) -> None:
        """Validate `values` (field names or variable names) over the defaults; ConfigError names a bad one."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_error(type(self), exc.errors()[0])) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments only: reading the environment is from_env's job, never a side effect.
        return (init_settings,)

    @classmethod
    def env_values(cls) -> dict[str, Any]:
        """The raw values of this part's variables that are set (non-empty), by field name; nested parts excluded."""
        raw = EnvSettingsSource(cls)()
        by_alias = {variable(info) or name: name for name, info in cls.model_fields.items()}
        return {by_alias[key]: value for key, value in raw.items() if key in by_alias}

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """This part from the environment; keyword overrides win; ConfigError names a bad variable."""
        values = cls.env_values()
        for name, info in cls.model_fields.items():
            part = info.annotation
            if name not in overrides and isinstance(part, type) and issubclass(part, Settings):
                values[name] = part.from_env()
        return cls(**{**values, **overrides})


def variable(info: FieldInfo) -> str | None:
    """The environment variable a field reads (its validation alias), or None for a nested part."""
    return info.validation_alias if isinstance(info.validation_alias, str) else None


def describe_error(model: type[Settings], error: ErrorDetails) -> str:
    """One line for the first validation error: the variable, what it accepts, what it got."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return f"{model.__name__} has no setting {loc[0]!r}"
    info = model.model_fields.get(str(loc[0])) if loc else None
    if info is None:  # a whole-model check (a ValueError from a model validator)
        aliased = {variable(i): i for i in model.model_fields.values()}
        info = aliased.get(str(loc[0])) if loc else None
    if info is None:
        return str(error["msg"]).removeprefix("Value error, ")
    name = variable(info) or str(loc[0])
    got = "***" if is_secret(name, info) else repr(error["input"])
    if error["type"] == "value_error":
        return f"{name}: {str(error['msg']).removeprefix('Value error, ')}, got {got}"
    return f"{name} must be {expects(info)}, got {got}"


def expects(info: FieldInfo) -> str:
    """What a field accepts, in words: 'a number > 0', 'an integer 1..10', 'one of a|b'."""
    kind = next(k for k in _kinds(info) if k is not type(None))
    if typing.get_origin(kind) is Literal:
        return "one of " + "|".join(str(v) for v in typing.get_args(kind))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + "|".join(str(m.value) for m in kind)
    words = {int: "an integer", float: "a number", Path: "a path", bool: "true or false"}.get(kind, "text")
    bounds = {op: getattr(m, op) for m in info.metadata for op in ("gt", "ge", "lt", "le") if hasattr(m, op)}
    if "ge" in bounds and "le" in bounds:
        return f"{words} {bounds['ge']}..{bounds['le']}"
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return " ".join([words, *(f"{symbols[op]} {v}" for op, v in bounds.items())])


def _kinds(info: FieldInfo) -> tuple[Any, ...]:
    """The types a field's annotation allows: the members of a union, else the annotation itself."""
    union = typing.get_origin(info.annotation) in {typing.Union, types.UnionType}
    return typing.get_args(info.annotation) if union else (info.annotation,)


def is_secret(name: str, info: FieldInfo) -> bool:
    """Whether a field's value must never be shown: a SecretStr, or named like a key or password."""
    return any(k is SecretStr for k in _kinds(info)) or name.upper().endswith(("_KEY", "PASSWORD", "_TOKEN", "_SECRET"))
