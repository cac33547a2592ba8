"""
The example DAGs under a running Airflow (scheduler with LocalExecutor, dag-processor, triggerer,
api-server), against the emulator in its own process: what a new user sees when they try the provider.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow_provider_eightbyeight.triggers.eightbyeight import first_event_delay
from tests.e2e.checks import assert_verified_copies, available_in, succeeded, time_of, truth_of
from tests.e2e.deployment import AirflowDeployment, EmulatorProcess, wait_for


def test_the_daily_export_copies_the_window_verified(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_daily_export"
    run = succeeded(deployment, dag_id, deployment.trigger(dag_id, logical_date="2026-11-05T00:00:00+00:00"))
    start, end = time_of(run["data_interval_start"]), time_of(run["data_interval_end"])
    types = ("callrecording", "callcenterrecording", "transcription")
    assert_verified_copies(destinations["daily"], available_in(truth_of(emulator_process), types, start, end))


def test_archive_and_purge_deletes_only_what_it_copied_and_verified(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_archive_and_purge"
    before = truth_of(emulator_process)
    run = succeeded(deployment, dag_id, deployment.trigger(dag_id, logical_date="2026-11-06T03:00:00+00:00"))
    start, end = time_of(run["data_interval_start"]), time_of(run["data_interval_end"])
    wanted = available_in(before, ("callrecording", "callcenterrecording", "voicemail"), start, end)
    assert_verified_copies(destinations["archive"], wanted)
    after = truth_of(emulator_process)
    assert all(after.get(i, {}).get("objectState", "REVOKED") == "REVOKED" for i in wanted)  # deleted at 8x8
    untouched = {i for i in before if i not in wanted}
    assert all(after[i]["objectState"] == before[i]["objectState"] for i in untouched if i in after)


def test_restore_archived_waits_in_the_triggerer_thencopies(
    deployment: AirflowDeployment,
    emulator_process: EmulatorProcess,
    connection: dict[str, Any],
    destinations: dict[str, Path],
) -> None:
    dag_id = "example_eightbyeight_restore_archived"
    on_the_7th = [
        o
        for o in truth_of(emulator_process).values()
        if o["objectState"] == "AVAILABLE"
        and o["type"] == "callrecording"
        and o["createdTime"].startswith("2026-11-07")
    ]
    for obj in on_the_7th[:3]:  # a day no other test copies
        emulator_process.admin("POST", f"objects/{obj['id']}/state", json={"state": "ARCHIVED"})
    archived = {
        i: o
        for i, o in truth_of(emulator_process).items()
        if o["objectState"] == "ARCHIVED" and o["type"] in ("callrecording", "callcenterrecording")
    }
    assert len(archived) >= 3
    run_id = deployment.trigger(dag_id, conf={"poll_seconds": 2})
    succeeded(deployment, dag_id, run_id)
    assert_verified_copies(destinations["restored"], archived)
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
    succeeded(deployment, dag_id, run_id)
    mapped = [t for t in deployment.task_instances(dag_id, run_id) if t["task_id"] == "copy_window"]
    assert sorted(t["map_index"] for t in mapped) == [0, 1]
    # the two windows ran at the same time (both waited for their zips together), in worker processes
    first, second = sorted(mapped, key=lambda t: t["map_index"])
    assert time_of(first["start_date"]) < time_of(second["end_date"]) and time_of(second["start_date"]) < time_of(
        first["end_date"]
    ), (first["start_date"], first["end_date"], second["start_date"], second["end_date"])
    start, end = time_of(conf["start"]), time_of(conf["end"])
    wanted = available_in(truth_of(emulator_process), ("callrecording", "callcenterrecording"), start, end)
    assert_verified_copies(destinations["backfill"], wanted)
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
    run = succeeded(deployment, dag_id, run_id)
    sensor = next(t for t in deployment.task_instances(dag_id, run_id) if t["task_id"] == "wait_for_recordings")
    # the poke interval (5 s), or the trigger's hold of its first poll after the deferral (first_event_delay,
    # 10 s: see the README's "Deferral and Airflow's stale-success race"), plus 10 s for the triggerer to fire
    # and a worker to resume the sensor
    assert time_of(sensor["end_date"]).timestamp() - arrived <= max(5, first_event_delay()) + 10
    assert run["state"] == "success"
    truth = truth_of(emulator_process)
    assert_verified_copies(destinations["daily"], {added["id"]: truth[added["id"]]})
    # the wait ran in the triggerer: its polls are in the task's log, written by the triggerer process
    log = deployment.task_log(dag_id, run_id, "wait_for_recordings")
    assert "wanted object(s) match so far" in log
