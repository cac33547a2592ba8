"""
Contract snapshots: what users' DAGs, deferred tasks in a metadata database and older releases' saved states
rely on, so that moving code between modules keeps every public name, signature and serialized form.

``EIGHTBYEIGHT_UPDATE_GOLDEN=1`` rewrites ``snapshots/contracts.json``. Names may be added without updating
it; one that disappears, a changed signature or a changed serialized trigger fails.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pickle
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight import errors
from airflow_provider_eightbyeight.compat import FeatureUnavailableError

SNAPSHOT = Path(__file__).with_name("snapshots") / "contracts.json"
UPDATE = os.environ.get("EIGHTBYEIGHT_UPDATE_GOLDEN") == "1"

#: Modules whose public names users import today (engine and hook names included: tests and users reach them).
MODULES = [
    "airflow_provider_eightbyeight.errors",
    "airflow_provider_eightbyeight.models",
    "airflow_provider_eightbyeight.filters",
    "airflow_provider_eightbyeight.hooks.eightbyeight",
    "airflow_provider_eightbyeight.operators",
    "airflow_provider_eightbyeight.sensors",
    "airflow_provider_eightbyeight.triggers.eightbyeight",
    "airflow_provider_eightbyeight.triggers.new_objects",
    "airflow_provider_eightbyeight.transfer.engine",
    "airflow_provider_eightbyeight.transfer.run",
    "airflow_provider_eightbyeight.testing",
]

#: Names a module no longer offers on purpose, each with where it lives (only names it had merely imported).
DROPPED = {
    "airflow_provider_eightbyeight.transfer.run": {
        # run.py imported it from engine.py; offering it again would make the two import each other.
        "TransferEngine": "airflow_provider_eightbyeight.transfer.engine",
    },
}

#: Classes whose public methods' signatures are part of the API.
CLASSES = [
    "airflow_provider_eightbyeight.hooks.eightbyeight:EightByEightHook",
    "airflow_provider_eightbyeight.operators:EightByEightTransferOperator",
    "airflow_provider_eightbyeight.operators:EightByEightListObjectsOperator",
    "airflow_provider_eightbyeight.operators:EightByEightDeleteObjectsOperator",
    "airflow_provider_eightbyeight.operators:EightByEightRestoreObjectsOperator",
    "airflow_provider_eightbyeight.sensors:EightByEightObjectsSensor",
    "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightObjectsTrigger",
    "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightBulkJobTrigger",
    "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightRestoreTrigger",
    "airflow_provider_eightbyeight.triggers.new_objects:EightByEightNewObjectsTrigger",
    "airflow_provider_eightbyeight.transfer.engine:TransferEngine",
    "airflow_provider_eightbyeight.transfer.engine:TransferOptions",
    "airflow_provider_eightbyeight.transfer.run:TransferRun",
    "airflow_provider_eightbyeight.transfer.run:RunPolicy",
]

#: One instance of each trigger, as the operators and sensor build them.
TRIGGERS: list[tuple[str, dict[str, Any]]] = [
    (
        "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightObjectsTrigger",
        {
            "eightbyeight_conn_id": "c",
            "filter": "type==callrecording",
            "region": ["us-east"],
            "min_count": 2,
            "not_before": 1.0,
        },
    ),
    (
        "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightBulkJobTrigger",
        {
            "eightbyeight_conn_id": "c",
            "jobs": [{"zip_name": "z.zip", "region": "us-east"}],
            "timeout_at": 5.0,
            "not_before": 1.0,
        },
    ),
    (
        "airflow_provider_eightbyeight.triggers.eightbyeight:EightByEightRestoreTrigger",
        {
            "eightbyeight_conn_id": "c",
            "objects": [{"id": "a", "region": "uk"}],
            "poll_interval": 30.0,
            "not_before": 1.0,
        },
    ),
    (
        "airflow_provider_eightbyeight.triggers.new_objects:EightByEightNewObjectsTrigger",
        {"eightbyeight_conn_id": "c", "object_types": ["callrecording"], "start_from": "2026-11-01T00:00:00Z"},
    ),
]


def _load(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _public(module: Any) -> list[str]:
    """
    The names a user may import from ``module``: its ``__all__``, else every name without a leading underscore,
    less modules and the classes and functions of other libraries it merely imported (``Callable``, Airflow's
    ``BaseTrigger``: their home is elsewhere). The provider's own names re-exported here stay in.
    """
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    return sorted(n for n in names if _offered(getattr(module, n, None)))


def _offered(value: Any) -> bool:
    """
    Whether a module-level value is the provider's to offer. Decided the same way on every Python: a type alias
    (``Callable[...]``, ``X | Y``) and a constant are; a class or any callable is when it was defined here
    (on 3.10 ``isclass(list[int])`` is true, and since 3.11 ``urlsplit`` is an ``lru_cache`` wrapper, not a
    function: neither may decide it).
    """
    if inspect.ismodule(value):
        return False
    if typing.get_origin(value) is not None or isinstance(value, types.UnionType):
        return True
    home = getattr(value, "__module__", None) if callable(value) else None
    return home is None or home.startswith("airflow_provider_eightbyeight")


def _callable_as(member: Any) -> str:
    """A signature as callers see it: names, kinds and defaults (annotations are documentation)."""
    sig = inspect.signature(member)
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def _signatures(cls: type) -> dict[str, str]:
    """``__init__`` and every public method the provider defines (what Airflow's base classes add is theirs)."""
    out = {"__init__": _callable_as(cls.__init__)}
    ours = [c for c in cls.__mro__ if c.__module__.startswith("airflow_provider_eightbyeight")]
    for name in sorted({n for c in ours for n in vars(c)}):
        member = getattr(cls, name, None)
        if name.startswith("_") or not callable(member) or isinstance(member, type):
            continue
        try:
            out[name] = _callable_as(member)
        except (TypeError, ValueError):
            continue
    return out


def _serialized(spec: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        classpath, payload = _load(spec)(**kwargs).serialize()
    except FeatureUnavailableError as err:  # the event-driven trigger on Airflow 2
        pytest.skip(str(err))
    return {"classpath": classpath, "kwargs": json.loads(json.dumps(payload, default=str))}


def _current() -> dict[str, Any]:
    return {
        "names": {m: _public(importlib.import_module(m)) for m in MODULES},
        "signatures": {spec: _signatures(_load(spec)) for spec in CLASSES},
        "triggers": {spec: _serialized(spec, kwargs) for spec, kwargs in TRIGGERS},
    }


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    if UPDATE or not SNAPSHOT.exists():
        current = _current()
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        if not UPDATE:
            pytest.fail("no contract snapshot yet: written now; check it and commit it")
    return json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_still_importable(module: str, snapshot: dict[str, Any]) -> None:
    have = set(_public(importlib.import_module(module)))
    dropped = DROPPED.get(module, {})
    missing = sorted(set(snapshot["names"][module]) - have - set(dropped))
    for name, home in dropped.items():
        assert name in _public(importlib.import_module(home)), f"{name} is not offered by its home {home}"
    assert not missing, f"{module} no longer offers {missing}"


@pytest.mark.parametrize("spec", CLASSES)
def test_public_signatures_are_unchanged(spec: str, snapshot: dict[str, Any]) -> None:
    have = _signatures(_load(spec))
    for name, signature in snapshot["signatures"][spec].items():
        assert have.get(name) == signature, f"{spec}.{name}"


@pytest.mark.parametrize(("spec", "kwargs"), TRIGGERS, ids=[s.rsplit(":", 1)[1] for s, _ in TRIGGERS])
def test_triggers_serialize_as_before_and_resume_from_it(
    spec: str, kwargs: dict[str, Any], snapshot: dict[str, Any]
) -> None:
    """A deferred task's trigger is rebuilt in the triggerer from the classpath and kwargs saved before."""
    want = snapshot["triggers"][spec]
    assert _serialized(spec, kwargs) == want
    module, _, name = want["classpath"].rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**want["kwargs"])
    assert json.loads(json.dumps(rebuilt.serialize()[1], default=str)) == want["kwargs"]


def _exceptions() -> list[type[BaseException]]:
    found = {}
    for module in MODULES:
        mod = importlib.import_module(module)
        for name in _public(mod):
            obj = getattr(mod, name)
            if isinstance(obj, type) and issubclass(obj, errors.EightByEightError):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


@pytest.mark.parametrize("exc_type", _exceptions(), ids=lambda t: t.__name__)
def test_exceptions_pickle(exc_type: type[BaseException]) -> None:
    """Airflow sends a task's exception across processes; the message and type must survive."""
    try:
        exc = exc_type("something went wrong")
    except TypeError:
        pytest.skip(f"{exc_type.__name__} needs more than a message")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is exc_type and str(again) == str(exc)
