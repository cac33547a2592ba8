"""
The example DAGs under a running Airflow (scheduler with LocalExecutor, dag-processor, triggerer,
api-server), against the emulator in its own process: what a new user sees when they try the provider.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import AirflowDeployment, EmulatorProcess, wait_for

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


def _truth(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    """Every object of the account's regions, by id (the emulator seeds regions the account lacks too)."""
    regions = emulator.info["regions"]
    return {o["id"]: o for o in emulator.admin("GET", "objects") if o["region"] in regions}


def _assert_verified_copies(folder: Path, wanted: dict[str, dict[str, Any]]) -> None:
    copies = _copies(folder)
    assert wanted, "nothing to copy: the emulator's seed no longer fits the test"
    assert set(wanted) <= set(copies), sorted(set(wanted) - set(copies))
    for object_id, obj in wanted.items():
        assert _md5(copies[object_id]) == obj["md5"], object_id


def _succeeded(deployment: AirflowDeployment, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
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


def _available_in(
    truth: dict[str, dict[str, Any]], types: tuple[str, ...], start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """The AVAILABLE objects of ``truth`` (see :func:`_truth`) of ``types`` created in ``[start, end)``."""
    return {
        i: o
        for i, o in truth.items()
        if o["objectState"] == "AVAILABLE" and o["type"] in types and start <= _time(o["createdTime"]) < end
    }


def test_the_daily_export_copies_the_window_verified(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_daily_export"
    run = _succeeded(deployment, dag_id, deployment.trigger(dag_id, logical_date="2026-11-05T00:00:00+00:00"))
    start, end = _time(run["data_interval_start"]), _time(run["data_interval_end"])
    types = ("callrecording", "callcenterrecording", "transcription")
    _assert_verified_copies(destinations["daily"], _available_in(_truth(emulator_process), types, start, end))


def test_archive_and_purge_deletes_only_what_it_copied_and_verified(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_archive_and_purge"
    before = _truth(emulator_process)
    run = _succeeded(deployment, dag_id, deployment.trigger(dag_id, logical_date="2026-11-06T03:00:00+00:00"))
    start, end = _time(run["data_interval_start"]), _time(run["data_interval_end"])
    wanted = _available_in(before, ("callrecording", "callcenterrecording", "voicemail"), start, end)
    _assert_verified_copies(destinations["archive"], wanted)
    after = _truth(emulator_process)
    assert all(after.get(i, {}).get("objectState", "REVOKED") == "REVOKED" for i in wanted)  # deleted at 8x8
    untouched = {i for i in before if i not in wanted}
    assert all(after[i]["objectState"] == before[i]["objectState"] for i in untouched if i in after)


def test_restore_archived_waits_in_the_triggerer_then_copies(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_restore_archived"
    on_the_7th = [
        o
        for o in _truth(emulator_process).values()
        if o["objectState"] == "AVAILABLE"
        and o["type"] == "callrecording"
        and o["createdTime"].startswith("2026-11-07")
    ]
    for obj in on_the_7th[:3]:  # a day no other test copies
        emulator_process.admin("POST", f"objects/{obj['id']}/state", json={"state": "ARCHIVED"})
    archived = {
        i: o
        for i, o in _truth(emulator_process).items()
        if o["objectState"] == "ARCHIVED" and o["type"] in ("callrecording", "callcenterrecording")
    }
    assert len(archived) >= 3
    run_id = deployment.trigger(dag_id, conf={"poll_seconds": 2})
    _succeeded(deployment, dag_id, run_id)
    _assert_verified_copies(destinations["restored"], archived)
    restore_log = deployment.task_log(dag_id, run_id, "restore_archived_recordings", try_number=1)
    assert "Restore complete" in restore_log


def test_bulk_backfill_maps_one_task_per_day_in_its_pool(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_bulk_backfill"
    deployment.api("DELETE", "pools/eightbyeight", expect=(204, 404))
    deployment.api("POST", "pools", json={"name": "eightbyeight", "slots": 4, "include_deferred": True}, expect=(201,))
    conf = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z", "every": "1d", "poll_seconds": 1}
    run_id = deployment.trigger(dag_id, conf=conf)
    _succeeded(deployment, dag_id, run_id)
    mapped = [t for t in deployment.task_instances(dag_id, run_id) if t["task_id"] == "copy_window"]
    assert sorted(t["map_index"] for t in mapped) == [0, 1]
    # the two windows ran at the same time (both waited for their zips together), in worker processes
    first, second = sorted(mapped, key=lambda t: t["map_index"])
    assert _time(first["start_date"]) < _time(second["end_date"]) and _time(second["start_date"]) < _time(
        first["end_date"]
    ), (first["start_date"], first["end_date"], second["start_date"], second["end_date"])
    start, end = _time(conf["start"]), _time(conf["end"])
    wanted = _available_in(_truth(emulator_process), ("callrecording", "callcenterrecording"), start, end)
    _assert_verified_copies(destinations["backfill"], wanted)
    files = [p for p in destinations["backfill"].rglob("*") if p.is_file() and "_manifests" not in p.parts]
    assert len(files) == len(wanted) and not [p for p in files if "~" in p.name]  # one file each, no collision
    for t in mapped:
        log = deployment.task_log(dag_id, run_id, "copy_window", map_index=t["map_index"])
        # Airflow masks every Variable a template reads; a short one (a poll interval) made it warn
        assert "too short" not in log, "something short is registered as a secret"


def test_the_deferred_sensor_fires_in_the_triggerer_when_a_recording_arrives(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_daily_export"
    run_id = deployment.trigger(dag_id, logical_date="2026-11-10T00:00:00+00:00")  # a day with no objects yet

    def sensor_deferred() -> dict[str, Any] | None:
        return next(
            (
                t
                for t in deployment.task_instances(dag_id, run_id)
                if t["task_id"] == "wait_for_recordings" and t["state"] == "deferred"
            ),
            None,
        )

    deferred = wait_for(sensor_deferred, 120, "the sensor to defer to the triggerer")
    assert deferred["trigger"]["classpath"].endswith("EightByEightObjectsTrigger"), deferred["trigger"]
    [added] = emulator_process.admin(
        "POST",
        "objects",
        json={"region": "uk", "objects": [{"type": "callrecording", "created": "2026-11-09T12:00:00Z", "size": 3000}]},
    )["objects"]
    arrived = time.time()
    run = _succeeded(deployment, dag_id, run_id)
    sensor = next(t for t in deployment.task_instances(dag_id, run_id) if t["task_id"] == "wait_for_recordings")
    # the poke interval (5 s) plus 10 s for the triggerer to fire and a worker to resume the sensor
    assert _time(sensor["end_date"]).timestamp() - arrived <= 5 + 10
    assert run["state"] == "success"
    truth = _truth(emulator_process)
    _assert_verified_copies(destinations["daily"], {added["id"]: truth[added["id"]]})
    # the wait ran in the triggerer: its polls are in the task's log, written by the triggerer process
    log = deployment.task_log(dag_id, run_id, "wait_for_recordings")
    assert "wanted object(s) match so far" in log
