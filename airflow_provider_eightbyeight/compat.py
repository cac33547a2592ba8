"""
The one seam between this provider and Airflow: every Airflow name the provider uses is imported here.

The provider supports Airflow 2.11 through 3.3. Like Apache's own providers, it reaches Airflow through
``apache-airflow-providers-common-compat`` (its ``compat.sdk`` map tries ``airflow.sdk`` first and falls back to
the Airflow 2 location; ``Asset`` is ``Dataset`` on 2.x). No other module of the provider imports ``airflow``
itself, so none of them knows which Airflow it runs on; a feature an Airflow lacks is refused by
:func:`require` with an error naming the version it needs and the version installed.

Names that cost an import of a large part of Airflow (``ObjectStoragePath``, the event-trigger classes) are
resolved on first use. DAG files may import ``CronDataIntervalTimetable`` and ``AssetWatcher`` from here too
(the example DAGs do, so that they run unchanged on every supported Airflow).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AssetAlias,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    PokeReturnValue,
    XCom,
    conf,
)
from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow.sdk import AssetWatcher, Context, ObjectStoragePath
    from airflow.sdk.definitions.asset import BaseAsset
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.triggers.base import BaseEventTrigger
    from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AdvanceItem",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AssetAlias",
    "AssetWatcher",
    "BaseAsset",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "CronDataIntervalTimetable",
    "FeatureUnavailableError",
    "ObjectStoragePath",
    "PokeReturnValue",
    "SharedStreamProducer",
    "TriggerEvent",
    "XCom",
    "conf",
    "mask_secret",
    "openlineage_types",
    "require",
]

#: The first Airflow of each feature that not every supported Airflow has.
FEATURES: dict[str, tuple[tuple[int, int], str]] = {
    "event-driven scheduling": ((3, 0), "use EightByEightObjectsSensor(deferrable=True) on a schedule instead"),
    "shared trigger streams": ((3, 3), "each watcher polls 8x8 on its own below Airflow 3.3"),
}
#: Whether the installed Airflow is at least each ``(major, minor)`` of :data:`FEATURES` (what :func:`has` reads).
VERSION_FLAGS: dict[tuple[int, int], bool] = {
    (3, 0): AIRFLOW_V_3_0_PLUS,
    (3, 1): AIRFLOW_V_3_1_PLUS,
    (3, 2): AIRFLOW_V_3_2_PLUS,
    (3, 3): AIRFLOW_V_3_3_PLUS,
}


class FeatureUnavailableError(AirflowException):
    """A feature of the provider that the installed Airflow does not have."""


def has(feature: str) -> bool:
    """Whether the installed Airflow has ``feature`` (a key of :data:`FEATURES`)."""
    return VERSION_FLAGS[FEATURES[feature][0]]


def require(feature: str, by: str) -> None:
    """
    Refuse ``feature`` on an Airflow that lacks it, naming the version it needs and what to use instead.

    :param feature: a key of :data:`FEATURES`.
    :param by: what asked for it (for the message), e.g. ``"EightByEightNewObjectsTrigger"``.
    :raises FeatureUnavailableError: when the installed Airflow is older than the feature.
    """
    if has(feature):
        return
    (major, minor), instead = FEATURES[feature]
    raise FeatureUnavailableError(
        f"{by} needs {feature}, which Airflow {major}.{minor} added; this is Airflow {AIRFLOW_VERSION}. "
        f"Upgrade Airflow, or {instead}."
    )


def mask_secret(secret: str) -> None:
    """Tell Airflow's secrets masker to hide ``secret`` in every log (where this Airflow keeps it)."""
    import importlib

    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS and _in_process_supervisor():
        # Airflow 3.0's in-process supervisor (dag.test) logs each message it is sent, values to mask and all,
        # at debug level; it shares this process's masker, so the value is given to that one alone.
        importlib.import_module("airflow.sdk.execution_time.secrets_masker")._secrets_masker().add_mask(secret)
        return
    for module in ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker", "airflow.utils.log.secrets_masker"):
        try:
            masker = importlib.import_module(module).mask_secret
        except (ImportError, AttributeError):
            continue
        masker(secret)
        return


def _in_process_supervisor() -> bool:
    """Whether this task runs under Airflow 3's in-process test supervisor (``dag.test()``)."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return type(getattr(runner, "SUPERVISOR_COMMS", None)).__name__ == "InProcessSupervisorComms"


def openlineage_types() -> tuple[Any, Any]:
    """
    OpenLineage's ``(Dataset, OperatorLineage)`` classes.

    :raises ImportError: when apache-airflow-providers-openlineage is not installed (Airflow then asks no facets).
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    return Dataset, OperatorLineage


def __getattr__(name: str) -> Any:
    """Names resolved on first use (see the module docstring)."""
    if name == "ObjectStoragePath":
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath
    if name == "CronDataIntervalTimetable":  # in airflow.sdk from 3.1; in airflow.timetables on every version
        from airflow.timetables.interval import CronDataIntervalTimetable

        return CronDataIntervalTimetable
    if name == "AssetWatcher":
        require("event-driven scheduling", "AssetWatcher")
        from airflow.sdk import AssetWatcher

        return AssetWatcher
    if name == "Context":
        from airflow.providers.common.compat.sdk import Context

        return Context
    if name == "BaseAsset":
        if AIRFLOW_V_3_0_PLUS:
            from airflow.sdk.definitions.asset import BaseAsset

            return BaseAsset
        from airflow.datasets import BaseDataset  # type: ignore[import-not-found,unused-ignore]

        return BaseDataset
    if name in ("SharedStreamProducer", "AdvanceItem"):
        require("shared trigger streams", "A shared poll of 8x8")
        from airflow.triggers import shared_stream

        return getattr(shared_stream, name)
    if name == "BaseEventTrigger":  # below Airflow 3.0, BaseTrigger: an event trigger's __init__ calls require()
        if not AIRFLOW_V_3_0_PLUS:
            return BaseTrigger
        from airflow.triggers.base import BaseEventTrigger

        return BaseEventTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
