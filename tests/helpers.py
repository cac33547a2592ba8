"""Helpers shared by the tests (not fixtures)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.compat import AIRFLOW_VERSION, has
from airflow_provider_eightbyeight.timeutil import parse_api_time

#: Fast retries for tests: the real backoff shape, tiny waits.
FAST_RETRY_EXTRAS = {"retry_backoff": 0.01, "retry_max_wait": 0.2}
ROOT = Path(__file__).resolve().parent.parent
#: The bucket S3 tests use on moto's server.
BUCKET = "recordings"
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))
#: The example DAGs' logical date in the tests: the interval [11-02, 11-03) with CronDataIntervalTimetable.
DAY = datetime(2026, 11, 3, tzinfo=timezone.utc)
WINDOW = (datetime(2026, 11, 2, tzinfo=timezone.utc), DAY)


def dagbag(**kwargs: Any) -> Any:
    """Airflow's ``DagBag`` (``airflow.dag_processing.dagbag`` from 3.2, ``airflow.models.dagbag`` before)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag(**kwargs)


def needs(feature: str) -> pytest.MarkDecorator:
    """Skip where the installed Airflow lacks ``feature`` (tests/pure/test_compat.py checks the error it gets there)."""
    return pytest.mark.skipif(not has(feature), reason=f"Airflow {AIRFLOW_VERSION} has no {feature}")


def airflow_cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the ``airflow`` CLI of this environment with the suite's AIRFLOW_HOME."""
    return subprocess.run(
        [AIRFLOW_BIN, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def is_sidecar(path: Path) -> bool:
    """Whether ``path`` is the metadata sidecar (``<file>.meta.json``) of a file beside it."""
    suffix = ".meta.json"
    return path.name.endswith(suffix) and path.with_name(path.name[: -len(suffix)]).is_file()


class FakeTI:
    """Just what the transfer operator uses of a task instance: XCom for its resume state."""

    task_id, map_index, dag_id, run_id = "t", -1, "d", "r1"

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.store[key] = json.loads(json.dumps(value))  # XCom holds JSON

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        return self.store.get(key)


def drive(
    op: Any,
    ti: FakeTI | None = None,
    *,
    context: dict[str, Any] | None = None,
    resumed: dict[str, Any] | None = None,
    on_defer: Callable[[int], Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """
    Execute ``op`` as Airflow would: on each deferral run the trigger to its event, then resume.

    :param context: extra context for ``execute`` (e.g. ``triggering_asset_events``).
    :param resumed: the extra context of each resumed call instead (a worker builds a new one), if given.
    :param on_defer: called with the number of deferrals so far after each one, before its trigger runs (a state
        change "while the task is deferred", at a point a loaded machine cannot move).
    """
    from airflow.providers.common.compat.sdk import TaskDeferred

    ti = ti or FakeTI()
    first: dict[str, Any] = {"ti": ti, **(context or {})}
    later: dict[str, Any] = first if resumed is None else {"ti": ti, **resumed}
    deferrals = 0
    call = lambda: op.execute(first)  # noqa: E731
    while True:
        try:
            return call(), deferrals
        except TaskDeferred as deferred:
            deferrals += 1
            if on_defer is not None:
                on_defer(deferrals)
            payload = json.loads(json.dumps(deferred.trigger.serialize()[1]))  # what the triggerer stores
            trigger = type(deferred.trigger)(**payload)
            event = asyncio.run(first_event(trigger))
            method = getattr(op, deferred.method_name)
            call = lambda m=method, e=event: m(later, e)  # noqa: E731


async def first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("trigger ended without an event")


def in_window(obj: dict, types: set[str], window: tuple[datetime, datetime] = WINDOW) -> bool:
    created = parse_api_time(obj["createdTime"])
    assert created is not None
    return obj["type"] in types and window[0] <= created < window[1]


def files_under(root: Path) -> dict[str, Path]:
    """Copied files (not sidecars, manifests or temp files) by object id."""
    found = {}
    for path in root.rglob("*"):
        if not path.is_file() or "_manifests" in path.parts or path.name.endswith(".part"):
            continue
        if is_sidecar(path):
            continue  # a metadata sidecar
        found[path.name.split("_", 1)[0]] = path
    return found


def manifests(root: Path) -> list[list[dict]]:
    return [
        [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted((root / "_manifests").glob("*.jsonl"))
    ]
