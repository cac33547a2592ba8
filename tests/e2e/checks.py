"""What the end-to-end tests check with: the 8x8 connection, the emulator's truth, copies and run results."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import AirflowDeployment, EmulatorProcess

CONN_ID = "eightbyeight_default"


def time_of(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def copies_in(folder: Path) -> dict[str, Path]:
    """The copied objects under ``folder`` by object id (from the newest manifests' records)."""
    found: dict[str, Path] = {}
    for manifest in sorted((folder / "_manifests").glob("*.jsonl")):
        for line in manifest.read_text().splitlines():
            record = json.loads(line)
            if record.get("status") in ("copied", "skipped", "restored") and record.get("path"):
                found[record["id"]] = folder / record["path"]
    return found


def truth_of(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    """Every object of the account's regions, by id (the emulator seeds regions the account lacks too)."""
    regions = emulator.info["regions"]
    return {o["id"]: o for o in emulator.admin("GET", "objects") if o["region"] in regions}


def assert_verified_copies(folder: Path, wanted: dict[str, dict[str, Any]]) -> None:
    copies = copies_in(folder)
    assert wanted, "nothing to copy: the emulator's seed no longer fits the test"
    assert set(wanted) <= set(copies), sorted(set(wanted) - set(copies))
    for object_id, obj in wanted.items():
        assert md5_of(copies[object_id]) == obj["md5"], object_id


def succeeded(deployment: AirflowDeployment, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """Wait for the run; if it did not succeed, fail with every task's state and the failed tasks' logs."""
    run = deployment.wait_for_run(dag_id, run_id, timeout=timeout)
    if run["state"] != "success":
        tasks = deployment.task_instances(dag_id, run_id)
        states = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tasks}
        logs = [
            f"--- {t['task_id']}[{t['map_index']}] try {t['try_number']}:\n"
            + deployment.task_log(dag_id, run_id, t["task_id"], max(1, t["try_number"]), t["map_index"])[-4000:]
            for t in tasks
            if t["state"] == "failed"
        ]
        pytest.fail(f"run {run_id} of {dag_id} is {run['state']}: {states}\n" + "\n".join(logs), pytrace=False)
    return run


def available_in(
    truth: dict[str, dict[str, Any]], types: tuple[str, ...], start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """The AVAILABLE objects of ``truth`` (see :func:`truth_of`) of ``types`` created in ``[start, end)``."""
    return {
        i: o
        for i, o in truth.items()
        if o["objectState"] == "AVAILABLE" and o["type"] in types and start <= time_of(o["createdTime"]) < end
    }
