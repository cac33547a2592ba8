"""The example DAGs, run for real with dag.test() on SQLite against the emulator."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION, has
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.timeutil import parse_api_time
from tests.helpers import DAY, ROOT, dagbag, files_under, in_window, manifests

pytestmark = pytest.mark.dagrun

EXAMPLE_DAGS = {
    "example_eightbyeight_daily_export",
    "example_eightbyeight_archive_and_purge",
    "example_eightbyeight_restore_archived",
    "example_eightbyeight_bulk_backfill",
    "example_eightbyeight_new_recordings",
}


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=21, objects_per_region=70, bulk_delay=0.5, restore_delay=0.5)


def assert_asset_event(dag_run, count: int = 1, since: datetime | None = None, **extra) -> None:
    """The transfer's outlet asset got ``count`` events (one carrying the run's counts, or none)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent, AssetModel

        joined = AssetEvent.asset_id == AssetModel.id
        named = AssetModel.name == "eightbyeight_daily_recordings"
    else:  # Airflow 2: datasets, named by their URI
        from airflow.models.dataset import DatasetEvent as AssetEvent  # type: ignore[no-redef]
        from airflow.models.dataset import DatasetModel as AssetModel  # type: ignore[no-redef]

        joined = AssetEvent.dataset_id == AssetModel.id
        named = AssetModel.uri == "eightbyeight_daily_recordings"
    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, joined)
            # Airflow 2's dag.test() gives a re-run of a date the same run id: ``since`` tells the runs apart
            .where(named, AssetEvent.source_run_id == dag_run.run_id, AssetEvent.timestamp >= (since or DAY))
        ).all()
        assert len(events) == count
        if not count:
            return
        for key, value in extra.items():
            assert events[0].extra[key] == value
        assert events[0].extra["manifest"].endswith(".jsonl")


def task_states(dag_run) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]": ti.state for ti in dag_run.get_task_instances()}


def test_example_dags_import_cleanly(airflow_db):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = dagbag(dag_folder=str(ROOT / "example_dags"))
    if has("event-driven scheduling"):
        assert bag.import_errors == {}
        assert set(bag.dag_ids) == EXAMPLE_DAGS
    else:  # the event-driven example cannot load there, and says why
        [(path, error)] = bag.import_errors.items()
        assert path.endswith("example_eightbyeight_new_recordings.py")
        assert f"this is Airflow {AIRFLOW_VERSION}" in error and "deferrable=True" in error, error
        assert set(bag.dag_ids) == EXAMPLE_DAGS - {"example_eightbyeight_new_recordings"}
    ours = [
        w
        for w in caught
        if "example_dags" in str(w.filename)
        or "airflow_provider_eightbyeight" in str(w.filename)
        or ("deprecat" in str(w.message).lower() and "eightbyeight" in str(w.message).lower())
    ]
    assert not ours, [f"{w.filename}: {w.message}" for w in ours]
    for dag_id in bag.dag_ids:
        dag = bag.get_dag(dag_id)
        assert dag.doc_md and "8x8" in dag.tags


def test_daily_export_copies_the_interval_and_a_rerun_copies_nothing_new(run_dag, emulator, tmp_path):
    dest = tmp_path / "daily"
    variables = {"eightbyeight_destination": dest.as_uri()}
    types = {"callrecording", "callcenterrecording", "transcription"}
    expected = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if in_window(o, types)}
    assert expected

    # an earlier test may have run this DAG for DAY too (tests/hooks/test_network.py): on Airflow 2 its run id
    # and its asset event are this run's, so the events are counted from when this run started
    first_started = datetime.now(timezone.utc)
    first = run_dag("example_eightbyeight_daily_export", logical_date=DAY, variables=variables)
    assert first.state == "success", task_states(first)
    copied = files_under(dest)
    assert set(copied) == expected
    for object_id, path in copied.items():
        assert path.read_bytes() == emulator.content(object_id)
        sidecar = json.loads(path.with_name(path.name + ".meta.json").read_text())
        assert sidecar["object"]["id"] == object_id and sidecar["transfer"]["md5"] == emulator.md5(object_id)
        assert path.relative_to(dest).parts[:4] == (emulator.get(object_id)["type"], "2026", "11", "02")
    [manifest] = manifests(dest)
    assert {r["id"] for r in manifest if r["status"] == "copied"} == expected
    assert all(r["verified"] and r["md5"] == emulator.md5(r["id"]) for r in manifest if r["status"] == "copied")
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copied.values()}

    report = next(ti for ti in first.get_task_instances() if ti.task_id == "report")
    assert report.state == "success"
    assert_asset_event(first, since=first_started, copied=len(expected))

    started = datetime.now(timezone.utc)
    second = run_dag("example_eightbyeight_daily_export", logical_date=DAY, variables=variables)
    assert second.state == "success", task_states(second)
    assert files_under(dest).keys() == copied.keys()
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copied.values()} == stamps
    latest = manifests(dest)[-1]
    assert {r["id"] for r in latest if r["status"] == "skipped"} == expected
    assert not [r for r in latest if r["status"] == "copied"]
    assert not list(dest.rglob("*.part"))
    assert_asset_event(
        second, count=0, since=started
    )  # nothing new: DAGs scheduled on the asset do not run for nothing


def test_deferrable_sensor_waits_for_a_new_recording(run_dag, emulator, tmp_path, monkeypatch):
    from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightObjectsTrigger

    events: list[dict] = []
    real_run = EightByEightObjectsTrigger.run

    async def spy(self):  # the real trigger, recording what it yields
        async for event in real_run(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(EightByEightObjectsTrigger, "run", spy)
    quiet_day = datetime(2026, 12, 3, tzinfo=timezone.utc)  # no seeded objects in [12-02, 12-03)

    def new_recording_arrives() -> None:
        requests.post(
            f"{emulator.base_url}/_emulator/objects",
            json={"region": "us-east", "objects": [{"type": "callrecording", "created": "2026-12-02T09:30:00"}]},
            timeout=10,
        ).raise_for_status()

    timer = threading.Timer(6.0, new_recording_arrives)
    timer.start()
    try:
        run = run_dag(
            "example_eightbyeight_daily_export",
            logical_date=quiet_day,
            variables={"eightbyeight_destination": (tmp_path / "d").as_uri()},
        )
    finally:
        timer.cancel()
    assert run.state == "success", task_states(run)
    assert events == [{"status": "success", "count": 1}]  # deferred, then resumed by the trigger
    new = [o for o in emulator.objects("us-east") if o["createdTime"].startswith("2026-12-02")]
    assert len(new) == 1
    assert set(files_under(tmp_path / "d")) == {new[0]["id"]}
    assert emulator.stats()["requests"]["search"] >= 4  # poke, trigger polls, resume, transfer


def test_archive_and_purge_deletes_only_verified_copies(run_dag, emulator, tmp_path):
    dest = tmp_path / "archive"
    types = {"callrecording", "callcenterrecording", "voicemail"}
    before = {o["id"]: o for o in emulator.objects("us-east")}
    run = run_dag(
        "example_eightbyeight_archive_and_purge",
        logical_date=DAY,
        variables={"eightbyeight_archive": dest.as_uri()},
    )
    assert run.state == "success", task_states(run)
    window = (run.data_interval_start, run.data_interval_end)
    assert window[1] - window[0] == timedelta(days=1)
    expected = {i for i, o in before.items() if o["objectState"] == "AVAILABLE" and in_window(o, types, window)}
    assert expected
    copied = files_under(dest)
    assert set(copied) == expected
    assert all(copied[i].read_bytes() == emulator.content(i) for i in expected)
    revoked_now = {o["id"] for o in emulator.objects("us-east") if o["objectState"] == "REVOKED"}
    revoked_before = {i for i, o in before.items() if o["objectState"] == "REVOKED"}
    assert revoked_now - revoked_before == expected  # deleted exactly what was copied and verified
    [manifest] = manifests(dest)
    assert {r["id"] for r in manifest if r["deleted_at_source"]} == expected


def test_restore_then_copy(run_dag, emulator, tmp_path):
    archived = [
        o
        for o in emulator.objects("us-east", states="ARCHIVED")
        if o["type"] in ("callrecording", "callcenterrecording")
    ]
    assert archived
    dest = tmp_path / "restored"
    run = run_dag(
        "example_eightbyeight_restore_archived",
        variables={"eightbyeight_restored": dest.as_uri()},
        conf={"poll_seconds": 0.5},
    )
    assert run.state == "success", task_states(run)
    copied = files_under(dest)
    assert set(copied) == {o["id"] for o in archived}
    assert all(copied[o["id"]].read_bytes() == emulator.content(o["id"]) for o in archived)
    assert all(copied[o["id"]].parent.name == o["bucketId"] for o in archived)  # {bucket_id}: a folder per call
    assert emulator.stats()["requests"]["restore"] == len(archived)


def test_bulk_backfill_maps_one_transfer_per_window_and_copies_each_object_once(
    run_dag, example_dagbag, emulator, tmp_path
):
    dest = tmp_path / "backfill"
    types = {"callrecording", "callcenterrecording"}
    period = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 8, tzinfo=timezone.utc))
    available = [o for o in emulator.objects("us-east", states="AVAILABLE") if in_window(o, types, period)]
    expected = {o["id"] for o in available}
    busy_days = {parse_api_time(o["createdTime"]).date() for o in available}  # type: ignore[union-attr]
    assert len(busy_days) == 7  # every daily window has objects, so each starts a bulk job
    run = run_dag(
        "example_eightbyeight_bulk_backfill",
        variables={"eightbyeight_backfill": dest.as_uri()},
        conf={"poll_seconds": 0.3},
    )
    states = task_states(run)
    assert run.state == "success", states
    mapped = sorted((ti for ti in run.get_task_instances() if ti.task_id == "copy_window"), key=lambda t: t.map_index)
    assert [ti.map_index for ti in mapped] == list(range(7))  # one mapped transfer per day
    assert [ti.rendered_map_index for ti in mapped] == [f"2026-11-0{d}T00:00:00Z" for d in range(1, 8)]
    # Every window runs in the 8x8 pool, at most 4 at a time per DAG. dag.test() runs tasks without pool
    # accounting, so the "eightbyeight" pool need not exist here (a scheduler would never run them without it).
    from airflow.models.pool import Pool

    assert {ti.pool for ti in mapped} == {"eightbyeight"} and Pool.get_pool("eightbyeight") is None
    assert (
        example_dagbag.get_dag("example_eightbyeight_bulk_backfill").get_task("copy_window").max_active_tis_per_dag == 4
    )
    copied = files_under(dest)
    assert set(copied) == expected
    assert all(copied[i].read_bytes() == emulator.content(i) for i in expected)
    # Exactly once: the half-open windows do not overlap, so no object is copied by two windows.
    runs = manifests(dest)
    assert len(runs) == 7
    copied_records = [r["id"] for records in runs for r in records if r["status"] == "copied"]
    assert sorted(copied_records) == sorted(expected)
    stats = emulator.stats()["requests"]
    assert stats["bulk_start"] == 7 and stats["bulk_download"] == 7
    assert stats.get("content", 0) == 0  # every object came out of a zip
