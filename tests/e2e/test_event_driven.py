"""
Event-driven scheduling in a running Airflow: the example DAG scheduled on an asset whose AssetWatcher runs
EightByEightNewObjectsTrigger in the triggerer. New recordings start runs that copy exactly them; a triggerer
killed and restarted between two arrivals loses and repeats nothing.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.e2e.checks import md5_of, succeeded, time_of, truth_of
from tests.e2e.deployment import AirflowDeployment, EmulatorProcess, wait_for
from tests.helpers import needs

pytestmark = needs("event-driven scheduling")  # Airflow 2: tests/e2e/test_ui_airflow2.py checks the error

DAG_ID = "example_eightbyeight_new_recordings"
POLL_SECONDS = 2  # EIGHTBYEIGHT_WATCH_POLL_SECONDS in the deployment


def _runs(deployment: AirflowDeployment) -> list[dict[str, Any]]:
    runs = deployment.api("GET", f"dags/{DAG_ID}/dagRuns", params={"order_by": "run_after"})["dag_runs"]
    return sorted(runs, key=lambda r: r["run_after"])


def _watcher_polls(deployment: AirflowDeployment) -> int:
    return deployment.log_text("triggerer").count("new object(s) in")


def _add(emulator: EmulatorProcess, count: int, type_: str = "callrecording") -> list[str]:
    now = datetime.now(timezone.utc).isoformat()
    added = emulator.admin(
        "POST", "objects", json={"region": "us-east", "objects": [{"type": type_, "created": now}] * count}
    )["objects"]
    return [o["id"] for o in added]


def _records(folder: Path) -> list[dict[str, Any]]:
    """Every object record of every manifest under ``folder``."""
    found = []
    for manifest in sorted((folder / "_manifests").glob("*.jsonl")):
        found += [r for r in map(json.loads, manifest.read_text().splitlines()) if r.get("id")]
    return found


def test_new_recordings_start_runs_that_copy_exactly_them_across_a_triggerer_kill(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    deployment.wait_for_dag(DAG_ID)
    deployment.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})  # watchers run for unpaused DAGs
    wait_for(lambda: _watcher_polls(deployment) >= 2, 120, "the watcher's first polls in the triggerer")
    assert _runs(deployment) == [], "a run started though nothing new arrived"

    first = _add(emulator_process, 2)
    _add(emulator_process, 1, "voicemail")  # not watched
    arrived = time.time()
    [run] = wait_for(lambda: _runs(deployment) or None, POLL_SECONDS + 10 + 30, "a run started by the new recordings")
    started_after = time_of(run["queued_at"]).timestamp() - arrived
    assert started_after <= POLL_SECONDS + 10, f"the run was queued {started_after:.1f} s after the arrival"
    succeeded(deployment, DAG_ID, run["dag_run_id"])
    assert {r["id"] for r in _records(destinations["new"]) if r["status"] == "copied"} == set(first)

    # killed (no clean shutdown) between two arrivals; recordings arrive while it is down
    deployment.stop_component("triggerer", signal.SIGKILL)
    second = _add(emulator_process, 2)
    deployment.start_component("triggerer")
    runs = wait_for(lambda: len(_runs(deployment)) >= 2 or None, 120, "a run for the recordings added meanwhile")
    for later in _runs(deployment)[1:]:
        succeeded(deployment, DAG_ID, later["dag_run_id"])
    time.sleep(3 * POLL_SECONDS)  # a repeated event would start another run by now
    runs = _runs(deployment)
    for later in runs[1:]:
        succeeded(deployment, DAG_ID, later["dag_run_id"])

    records = _records(destinations["new"])
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(first + second), "an object was lost or named by two runs"
    truth = truth_of(emulator_process)
    copied = {r["id"]: destinations["new"] / r["path"] for r in records if r["status"] == "copied"}
    assert set(copied) == set(first + second)
    assert all(md5_of(path) == truth[i]["md5"] for i, path in copied.items())
    assert len(runs) == 2, [r["dag_run_id"] for r in runs]
    log = deployment.log_text("triggerer")
    assert "Shared poll of 8x8" in log and "ack mode" in log  # Airflow 3.3's shared stream, not run()
    assert "Resuming from the stored cursor" in log  # the restarted triggerer read the asset's state store
