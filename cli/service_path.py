"""Which Service `aiwf worker` runs: a built-in worker by name, or a user's own by import path."""

from __future__ import annotations

import importlib
import os
import sys
from functools import reduce

from aiwf.bus.errors import ConfigError
from aiwf.bus.worker import Service
from aiwf.workers import load


def load_service(target: str) -> Service:
    """`documents` -> the built-in worker; `myapp.handlers:service` -> that module's Service object.

    Like uvicorn's `module:app`, the current directory is importable, so a module next to where
    the command runs is found without installing it. ConfigError says what is wrong.
    """
    if ":" not in target:
        return load(target)
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{target!r}: give a worker name or `package.module:service`")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever a user's module raises becomes one line
        raise ConfigError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    try:
        found = reduce(getattr, attribute.split("."), module)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(found, Service):
        raise ConfigError(f"{target} is a {type(found).__name__}, not an aiwf.bus.Service")
    return found
