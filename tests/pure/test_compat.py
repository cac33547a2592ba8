"""The compat seam: the only module that imports Airflow, and its clear refusals on an Airflow that lacks a feature."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airflow_provider_eightbyeight
from airflow_provider_eightbyeight import compat
from airflow_provider_eightbyeight.errors import EightByEightError

PACKAGE = Path(airflow_provider_eightbyeight.__file__).parent


def _airflow_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "airflow"]
    return found


def test_only_the_compat_seam_imports_airflow():
    # the examples (installed in the package from the wheel) are user code: they import as users do
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "compat.py" and "example_dags" not in p.parts]
    assert len(modules) > 30
    offenders = [line for path in modules for line in _airflow_imports(path)]
    assert offenders == [], "import Airflow names through airflow_provider_eightbyeight.compat:\n" + "\n".join(
        offenders
    )
    assert _airflow_imports(PACKAGE / "compat.py")  # the seam itself does (so the scan can find them)


@pytest.mark.parametrize("feature", sorted(compat.FEATURES))
def test_a_feature_this_airflow_lacks_is_refused_naming_both_versions(monkeypatch, feature):
    (major, minor), instead = compat.FEATURES[feature]
    monkeypatch.setitem(compat.VERSION_FLAGS, (major, minor), False)
    monkeypatch.setattr(compat, "AIRFLOW_VERSION", "2.11.2")
    with pytest.raises(compat.FeatureUnavailableError) as info:
        compat.require(feature, "SomeTrigger")
    message = str(info.value)
    assert f"Airflow {major}.{minor}" in message and "Airflow 2.11.2" in message and instead in message
    assert "SomeTrigger" in message and feature in message


def test_features_follow_the_installed_airflow():
    assert compat.has("event-driven scheduling") is compat.AIRFLOW_V_3_0_PLUS
    assert compat.has("shared trigger streams") is compat.AIRFLOW_V_3_3_PLUS
    major, minor = (int(part) for part in compat.AIRFLOW_VERSION.split(".")[:2])
    for feature, (since, _) in compat.FEATURES.items():
        assert compat.has(feature) is ((major, minor) >= since), feature


def _refused_here(make) -> str | None:
    """What ``make()`` raises on this Airflow if it lacks event-driven scheduling (None if it has it)."""
    if compat.has("event-driven scheduling"):
        make()
        return None
    with pytest.raises(compat.FeatureUnavailableError) as info:
        make()
    return str(info.value)


def test_event_driven_parts_work_or_are_refused_naming_this_airflow_and_the_sensor():
    """Unpatched: on Airflow 2.11 each event-driven part says so, on 3.0+ each is made."""
    from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
    from airflow_provider_eightbyeight.triggers.new_objects import EightByEightNewObjectsTrigger

    makers = {
        "EightByEightNewObjectsTrigger": lambda: EightByEightNewObjectsTrigger(object_types=["callrecording"]),
        "from_triggering_events=True": lambda: EightByEightTransferOperator(
            task_id="t", destination="file:///tmp/x/", from_triggering_events=True
        ),
        "AssetWatcher": lambda: compat.AssetWatcher,
    }
    for name, make in makers.items():
        message = _refused_here(make)
        if message is not None:
            assert name in message and f"this is Airflow {compat.AIRFLOW_VERSION}" in message, message
            assert "Airflow 3.0 added" in message and "EightByEightObjectsSensor(deferrable=True)" in message


def test_the_new_objects_trigger_refuses_an_airflow_without_event_driven_scheduling(monkeypatch):
    from airflow_provider_eightbyeight.triggers.new_objects import EightByEightNewObjectsTrigger

    monkeypatch.setitem(compat.VERSION_FLAGS, (3, 0), False)
    with pytest.raises(compat.FeatureUnavailableError, match="EightByEightNewObjectsTrigger needs event-driven"):
        EightByEightNewObjectsTrigger(object_types=["callrecording"])


def test_lazy_names_resolve_and_unknown_ones_do_not():
    assert compat.ObjectStoragePath("file:///tmp").protocol == "file"
    assert issubclass(compat.AssetAlias, compat.BaseAsset)
    assert issubclass(compat.BaseEventTrigger, compat.BaseTrigger)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        compat.Nope  # noqa: B018


def test_the_provider_errors_are_airflow_exceptions():
    assert issubclass(EightByEightError, compat.AirflowException)
    assert issubclass(compat.FeatureUnavailableError, compat.AirflowException)


@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", ["airflow_provider_eightbyeight", "airflow_provider_eightbyeight.hooks.client"])
def test_a_deprecation_warning_attributed_to_our_code_fails_the_suite(category, module):
    """The suite's warning filters (pyproject.toml) turn any deprecation warning from our modules into an error,
    in ``make test`` and in every compatibility cell: a use of an API one Airflow deprecates fails there."""
    import warnings

    with pytest.raises(category):
        warnings.warn_explicit("deprecated", category, "x.py", 1, module=module)
    with warnings.catch_warnings(record=True) as seen:  # Airflow's own warnings are only shown
        warnings.warn_explicit("deprecated", category, "x.py", 1, module="airflow.models.dag")
    assert len(seen) == 1


@pytest.mark.skipif(
    not (compat.AIRFLOW_V_3_0_PLUS and not compat.AIRFLOW_V_3_1_PLUS), reason="Airflow 3.0's in-process supervisor"
)
def test_on_airflow_3_0_under_dag_test_a_value_to_mask_is_not_sent_through_the_logged_comms(monkeypatch):
    """3.0's in-process supervisor logs every message sent to it at debug level, values to mask included."""
    import secrets

    from airflow.providers.common.compat.sdk import redact
    from airflow.sdk.execution_time import task_runner

    sent: list[object] = []

    class InProcessSupervisorComms:  # the name Airflow 3.0's dag.test() supervisor has
        def send(self, msg: object) -> None:
            sent.append(msg)

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", InProcessSupervisorComms(), raising=False)
    token = secrets.token_urlsafe(24)
    compat.mask_secret(token)
    assert sent == [] and token not in redact(f"Bearer {token}")
