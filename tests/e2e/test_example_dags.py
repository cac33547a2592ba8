"""
The example DAGs under a running Airflow (scheduler with LocalExecutor, dag-processor, triggerer,
api-server), against the emulator in its own process: what a new user sees when they try the provider.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import AirflowDeployment, EmulatorProcess

CONN_ID = "eightbyeight_default"


@pytest.fixture(scope="module")
def connection(deployment: AirflowDeployment, emulator_process: EmulatorProcess) -> dict[str, Any]:
    """The 8x8 connection, saved in Airflow's database through the REST API (as the UI saves it)."""
    info = emulator_process.info
    body = {
        "connection_id": CONN_ID,
        "conn_type": "eightbyeight",
        "login": info["key"],
        "password": info["secret"],
        "extra": json.dumps({"api_base_url": info["base_url"]}),
    }
    deployment.api("DELETE", f"connections/{CONN_ID}", expect=(204, 404))
    deployment.api("POST", "connections", json=body, expect=(201,))
    return body


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _copies(folder: Path) -> dict[str, Path]:
    """The copied objects under ``folder`` by object id (from the newest manifests' records)."""
    found: dict[str, Path] = {}
    for manifest in sorted((folder / "_manifests").glob("*.jsonl")):
        for line in manifest.read_text().splitlines():
            record = json.loads(line)
            if record.get("status") in ("copied", "skipped", "restored") and record.get("path"):
                found[record["id"]] = folder / record["path"]
    return found


def test_the_daily_export_copies_the_window_verified(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_daily_export"
    run_id = deployment.trigger(dag_id, logical_date="2026-11-05T00:00:00+00:00")
    run = deployment.wait_for_run(dag_id, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in deployment.task_instances(dag_id, run_id)}
    assert run["state"] == "success", (states, deployment.log_text("scheduler")[-3000:])
    start, end = _time(run["data_interval_start"]), _time(run["data_interval_end"])
    wanted = {
        o["id"]: o
        for o in emulator_process.admin("GET", "objects")
        if o["objectState"] == "AVAILABLE"
        and o["region"] in emulator_process.info["regions"]  # the emulator seeds regions the account lacks
        and o["type"] in ("callrecording", "callcenterrecording", "transcription")
        and start <= _time(o["createdTime"]) < end
    }
    copies = _copies(destinations["daily"])
    assert wanted, f"no object in [{start}, {end}): the emulator's seed no longer fits the test"
    assert set(wanted) <= set(copies)
    for object_id, obj in wanted.items():
        assert _md5(copies[object_id]) == obj["md5"]
