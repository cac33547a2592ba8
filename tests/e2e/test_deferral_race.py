"""
The deferral race loop (issue 18 point 10): each example that defers, N times in a row, on the end-to-end
deployment (api-server, scheduler with LocalExecutor, dag-processor and triggerer as processes).

Airflow 3.3 can fail a deferred task whose trigger fires right after the deferral: the executor's "success"
for the worker process that exited on ``defer()`` may be drained by the scheduler only once the resumed
attempt is already QUEUED or RUNNING, and the scheduler then fails it as "killed externally" (see the
README, "Deferral and Airflow's stale-success race"). This loop shows the rate: for each deferral it
also reads, from the scheduler's log, the state the task instance had when that stale event was drained
(``deferred`` or ``scheduled`` are harmless; ``queued`` or ``running`` is the race).

Not part of ``make test``: it runs only when ``EIGHTBYEIGHT_DEFERRAL_RUNS`` is set (``make e2e-deferral``,
``RUNS=20`` by default) and prints a table at the end; a scenario fails if any of its runs failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.checks import time_of, truth_of
from tests.e2e.deployment import AirflowDeployment, EmulatorProcess, wait_for

RUNS = int(os.environ.get("EIGHTBYEIGHT_DEFERRAL_RUNS") or 0)

pytestmark = [
    pytest.mark.skipif(
        RUNS < 1, reason="the deferral race loop runs with EIGHTBYEIGHT_DEFERRAL_RUNS=N (make e2e-deferral)"
    ),
    pytest.mark.timeout(600 + 120 * max(RUNS, 1)),
]

#: ``TaskInstance Finished: dag_id=..., task_id=..., run_id=..., map_index=..., ..., state=<TI state>,
#: ..., executor_state=<event>``: the scheduler's line for each executor event it drains.
_FINISHED = re.compile(
    r"TaskInstance Finished: dag_id=(?P<dag>[^,]+), task_id=(?P<task>[^,]+), run_id=(?P<run>[^,]+), "
    r"map_index=(?P<map>-?\d+),.*? state=(?P<state>[a-z_]+), executor=.*?executor_state=(?P<event>[a-z_]+)"
)


@dataclass
class Tally:
    """What one scenario's runs gave."""

    runs: int = 0
    succeeded: int = 0
    failed: list[str] = field(default_factory=list)
    #: TI state when the stale executor success of a deferral was drained -> how often.
    drained_while: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    run_ids: list[str] = field(default_factory=list)

    def count_drained(self, deployment: AirflowDeployment, dag_id: str, task_id: str) -> None:
        """Read the scheduler's log for every run (after the workers' last exits have been drained)."""
        time.sleep(8)  # a worker's supervisor may notice its task process exit up to 5 s late (see the README)
        for run_id in self.run_ids:
            for state in _drained_states(deployment, dag_id, run_id, task_id):
                self.drained_while[state] = self.drained_while.get(state, 0) + 1


RESULTS: dict[str, Tally] = {}
#: Where the table is written too.
TABLE = Path(os.environ.get("EIGHTBYEIGHT_E2E_ARTIFACTS") or tempfile.gettempdir()) / "8x8-deferral-race.md"


@pytest.fixture(scope="module", autouse=True)
def _print_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not RESULTS:
        return
    import airflow

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    lines = [
        "",
        f"Deferral race loop, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip() or '?'}"
        f" (plus the working tree): Airflow {airflow.__version__}, LocalExecutor, {RUNS} run(s) in a row per example",
        "| example | runs | succeeded | failed | TI state when each deferral's stale success was drained | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for name, tally in RESULTS.items():
        drained = ", ".join(f"{state}: {count}" for state, count in sorted(tally.drained_while.items())) or "-"
        per_run = tally.seconds / tally.runs if tally.runs else 0.0
        lines.append(f"| {name} | {tally.runs} | {tally.succeeded} | {len(tally.failed)} | {drained} | {per_run:.1f} |")
    for name, tally in RESULTS.items():
        lines.extend(f"  {name} failed: {why}" for why in tally.failed)
    text = "\n".join(lines) + "\n"
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # printed whatever the outcome, also without -s
        print(text + f"(also in {TABLE})")


def _drained_states(deployment: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """
    The TI state at each drained executor ``success`` of ``task_id`` in the run (one per deferral), without the
    last one of each map index when the TI had finished by then (the exit of the attempt that completed).
    """
    by_map: dict[str, list[str]] = {}
    for m in _FINISHED.finditer(deployment.log_text("scheduler")):
        if (m["dag"], m["run"], m["task"], m["event"]) == (dag_id, run_id, task_id, "success"):
            by_map.setdefault(m["map"], []).append(m["state"])
    stale: list[str] = []
    for found in by_map.values():
        stale.extend(found[:-1] if found[-1] in ("success", "failed", "up_for_retry") else found)
    return stale


def _record(
    tally: Tally, deployment: AirflowDeployment, dag_id: str, run_id: str, started: float, deadline: float = 300
) -> None:
    run = deployment.wait_for_run(dag_id, run_id, timeout=deadline)
    tally.runs += 1
    tally.seconds += time.monotonic() - started
    tally.run_ids.append(run_id)
    if run["state"] == "success":
        tally.succeeded += 1
        return
    states = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in deployment.task_instances(dag_id, run_id)}
    mismatch = [line for line in deployment.log_text("scheduler").splitlines() if "finished with state" in line]
    why = "scheduler: state mismatch" if any(run_id in line for line in mismatch) else "no state mismatch logged"
    tally.failed.append(f"{run_id}: {states} ({why})")


def _run_id(i: int, name: str) -> str:
    return f"deferral_{name}_{i:03d}_{int(time.time())}"


def test_restore_archived_in_a_row(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    """The restore example: the emulator restores in 2 s, so the trigger's first or second poll fires."""
    dag_id = "example_eightbyeight_restore_archived"
    tally = RESULTS.setdefault("restore (EightByEightRestoreObjectsOperator)", Tally())
    chosen = [
        o["id"]
        for o in truth_of(emulator_process).values()
        if o["objectState"] == "AVAILABLE" and o["type"] == "callrecording"
    ][:3]
    assert len(chosen) == 3
    deployment.wait_for_dag(dag_id)
    deployment.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    for i in range(RUNS):
        for object_id in chosen:
            emulator_process.admin("POST", f"objects/{object_id}/state", json={"state": "ARCHIVED"})
        started = time.monotonic()
        run_id = _trigger(deployment, dag_id, _run_id(i, "restore"), {"poll_seconds": 2})
        _record(tally, deployment, dag_id, run_id, started)
    tally.count_drained(deployment, dag_id, "restore_archived_recordings")
    assert not tally.failed, tally.failed


def test_bulk_backfill_in_a_row(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    """The bulk example: two mapped windows, each deferring on its zip job (ready after 1 s)."""
    dag_id = "example_eightbyeight_bulk_backfill"
    tally = RESULTS.setdefault("bulk backfill (EightByEightTransferOperator, 2 mapped)", Tally())
    deployment.api("DELETE", "pools/eightbyeight", expect=(204, 404))
    deployment.api("POST", "pools", json={"name": "eightbyeight", "slots": 4, "include_deferred": True}, expect=(201,))
    deployment.wait_for_dag(dag_id)
    deployment.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    conf = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z", "every": "1d", "poll_seconds": 1}
    for i in range(RUNS):
        # nothing copied yet, so every run starts zip jobs and defers
        shutil.rmtree(destinations["backfill"], ignore_errors=True)
        destinations["backfill"].mkdir(parents=True)
        started = time.monotonic()
        run_id = _trigger(deployment, dag_id, _run_id(i, "bulk"), conf)
        _record(tally, deployment, dag_id, run_id, started)
    tally.count_drained(deployment, dag_id, "copy_window")
    assert not tally.failed, tally.failed


def test_deferrable_sensor_in_a_row(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    """
    The daily export's deferrable sensor: a day with no recordings (it defers), then one arrives as soon as the
    sensor is deferred, so the trigger's first poll finds it.
    """
    dag_id = "example_eightbyeight_daily_export"
    tally = RESULTS.setdefault("daily export sensor (EightByEightObjectsSensor)", Tally())
    deployment.wait_for_dag(dag_id)
    deployment.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    # Days after the seed's (November 1-8) and before today, one per run: none has objects yet (a run's
    # logical date is the end of its day, and cannot come before the DAG's start date).
    first_day = datetime(2026, 11, 10, tzinfo=timezone.utc)
    days = (datetime.now(timezone.utc) - first_day).days
    assert days >= RUNS, f"the sensor loop has {days} empty past days for its runs, not {RUNS}"
    for i in range(RUNS):
        logical = first_day + timedelta(days=i)
        started = time.monotonic()
        run = deployment.api(
            "POST",
            f"dags/{dag_id}/dagRuns",
            json={"dag_run_id": _run_id(i, "sensor"), "logical_date": logical.isoformat(), "conf": {}},
        )
        run_id = str(run["dag_run_id"])
        wait_for(partial(_sensor_deferred, deployment, dag_id, run_id), 120, "the sensor to defer", 0.1)
        created = time_of(run["data_interval_start"]) + timedelta(hours=12)
        emulator_process.admin(
            "POST",
            "objects",
            json={"region": "uk", "objects": [{"type": "callrecording", "created": created.isoformat(), "size": 3000}]},
        )
        _record(tally, deployment, dag_id, run_id, started)
    tally.count_drained(deployment, dag_id, "wait_for_recordings")
    assert not tally.failed, tally.failed


def _sensor_deferred(deployment: AirflowDeployment, dag_id: str, run_id: str) -> bool:
    tasks = deployment.task_instances(dag_id, run_id)
    return any(t["task_id"] == "wait_for_recordings" and t["state"] == "deferred" for t in tasks)


def _trigger(deployment: AirflowDeployment, dag_id: str, run_id: str, conf: dict[str, Any]) -> str:
    run = deployment.api(
        "POST", f"dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
    )
    return str(run["dag_run_id"])
