"""The one error tree: every aiwf exception under AiwfError, one disposition each, classify() unchanged."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest
from pydantic import BaseModel, ValidationError

import aiwf.schemas.errors as tree
from aiwf.bus import PermanentError as BusPermanentError
from aiwf.bus.errors import (
    AiwfError,
    BackendUnavailable,
    ConfigError,
    GroupMissing,
    PermanentError,
    PublishRefused,
    RedisUnavailable,
    Refused,
    TransientError,
)
from aiwf.bus.outcome import DeadLetter, Retry, classify
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.store import ConcurrencyError, IdempotencyConflict
from aiwf.dlq.errors import DlqError
from aiwf.schemas import InvalidPayload, SchemaError
from aiwf.schemas.secrets import KeyringError, SecretUnsealError
from aiwf.workers.calendar.errors import CalendarConfigError, InvalidCalendar
from aiwf.workers.documents.errors import CorruptDocument, InvalidOptions
from aiwf.workers.llm import BackendUnavailable as LLMBackendUnavailable
from aiwf.workers.llm import InvalidResponse, LLMConfigError, PermanentLLMError
from aiwf.workers.tts.errors import EngineUnavailable, InvalidSpeechRequest

PACKAGES = ("aiwf.schemas", "aiwf.bus", "aiwf.dlq", "aiwf.workers")
DISPOSITIONS = (Refused, PermanentError, TransientError)
POLICY = RetryPolicy(max_deliveries=3)


def _all_exception_classes() -> list[type[BaseException]]:
    """Import every module of the package, then every BaseException subclass whose module is aiwf.*."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
    found: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [BaseException]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                todo.append(sub)
                if sub.__module__.startswith("aiwf."):
                    found.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


CLASSES = _all_exception_classes()


def _bare(cls: type[BaseException]) -> BaseException:
    """An instance without running a custom __init__ (some take stream ids, statuses, reasons)."""
    exc = cls.__new__(cls)
    exc.args = (f"a {cls.__name__}",)
    return exc


def test_the_walk_finds_every_module_family() -> None:
    """The walk reaches the schema, secret, bus, store, blob, dlq and every worker's errors."""
    modules = {cls.__module__ for cls in CLASSES}
    expected = {
        "aiwf.schemas.errors",
        "aiwf.schemas.secrets",
        "aiwf.bus.errors",
        "aiwf.bus.store.errors",
        "aiwf.bus.blobs",
        "aiwf.dlq.errors",
        "aiwf.workers.auth.errors",
        "aiwf.workers.calendar.errors",
        "aiwf.workers.documents.errors",
        "aiwf.workers.llm.errors",
        "aiwf.workers.llm.backends",
        "aiwf.workers.tts.errors",
    }
    assert expected <= modules
    assert len(CLASSES) >= 60


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_exception_class_derives_from_aiwf_error(cls: type[BaseException]) -> None:
    """Every exception class defined under aiwf.* is an AiwfError, so one `except AiwfError` sees them all."""
    assert issubclass(cls, AiwfError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_no_class_has_two_dispositions(cls: type[BaseException]) -> None:
    """A class is at most one of Refused, PermanentError, TransientError: what happens next is never ambiguous."""
    assert sum(issubclass(cls, d) for d in DISPOSITIONS) <= 1


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_class_is_drawn_in_the_tree_docstring(cls: type[BaseException]) -> None:
    """The docstring of the module that roots the tree names every exception class."""
    assert tree.__doc__ is not None
    assert cls.__name__ in tree.__doc__


def test_exactly_one_backend_unavailable() -> None:
    """There is one class named BackendUnavailable, and the bus, schemas and llm names are that class."""
    assert [c for c in CLASSES if c.__name__ == "BackendUnavailable"] == [tree.BackendUnavailable]
    assert BackendUnavailable is tree.BackendUnavailable is LLMBackendUnavailable


def test_bus_reexports_the_tree() -> None:
    """`from aiwf.bus import PermanentError` and aiwf.bus.errors give the classes rooted in schemas."""
    assert BusPermanentError is PermanentError is tree.PermanentError
    assert AiwfError is tree.AiwfError
    assert ConfigError is tree.ConfigError


def test_schemas_never_import_bus() -> None:
    """Importing schemas (tree, secrets, registry) loads no aiwf.bus module: the layering holds."""
    code = (
        "import sys, aiwf.schemas, aiwf.schemas.errors, aiwf.schemas.secrets\n"
        "print(sorted(m for m in sys.modules if m.startswith('aiwf.bus')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("cls", "disposition"),
    [
        (PublishRefused, Refused),
        (ConfigError, Refused),
        (DlqError, Refused),
        (KeyringError, ConfigError),
        (LLMConfigError, ConfigError),
        (CalendarConfigError, ConfigError),
        (InvalidOptions, ConfigError),
        (InvalidPayload, PermanentError),
        (SecretUnsealError, PermanentError),
        (IdempotencyConflict, PermanentError),
        (InvalidCalendar, PermanentError),
        (CorruptDocument, PermanentError),
        (PermanentLLMError, PermanentError),
        (InvalidSpeechRequest, PermanentError),
        (ConcurrencyError, TransientError),
        (GroupMissing, TransientError),
        (RedisUnavailable, BackendUnavailable),
        (InvalidResponse, BackendUnavailable),
        (EngineUnavailable, BackendUnavailable),
    ],
)
def test_classes_sit_under_what_happens_next(cls: type[BaseException], disposition: type[BaseException]) -> None:
    """Each named class sits under the disposition the tree docstring draws for it."""
    assert issubclass(cls, disposition)


def test_config_errors_stay_value_errors() -> None:
    """Domain config errors keep ValueError as a base, so callers catching ValueError still do."""
    for cls in (LLMConfigError, CalendarConfigError, InvalidOptions):
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_classify_sorts_every_class_by_its_place_in_the_tree(cls: type[BaseException]) -> None:
    """Schema errors and PermanentError dead-letter at once; BackendUnavailable retries past max while the
    subscription is paused (it pauses it at once, bus/outage.py); the rest retry, then dead-letter."""
    exc = _bare(cls)
    first = classify(exc, 1, POLICY, outage=False)
    last = classify(exc, POLICY.max_deliveries, POLICY, outage=False)
    if issubclass(cls, SchemaError | PermanentError):
        assert isinstance(first, DeadLetter)
        assert first.error is exc
    elif issubclass(cls, BackendUnavailable):
        assert isinstance(first, Retry)
        assert isinstance(classify(exc, POLICY.max_deliveries + 10, POLICY, outage=True), Retry)
        assert isinstance(last, DeadLetter)  # a probe said the backend is fine: the event's own failure
    else:
        assert isinstance(first, Retry)
        assert isinstance(last, DeadLetter)


def test_classify_keeps_its_other_rules() -> None:
    """ValidationError dead-letters at once; an outage retries anything but a permanent error."""

    class Model(BaseModel):
        n: int

    with pytest.raises(ValidationError) as info:
        Model.model_validate({"n": "x"})
    assert isinstance(classify(info.value, 1, POLICY, outage=False), DeadLetter)
    assert isinstance(classify(RuntimeError("down"), 99, POLICY, outage=True), Retry)
    assert isinstance(classify(InvalidPayload("bad"), 1, POLICY, outage=True), DeadLetter)
    assert isinstance(classify(RuntimeError("boom"), POLICY.max_deliveries, POLICY, outage=False), DeadLetter)
