"""
Nothing lost beyond transport faults: the states a real account produces, history at the destination,
stale evidence, and deferred vs in-worker waits (issue 8). Each test names the scenario it holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferError, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from tests.helpers import FakeTI, drive, first_event


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=8,
        objects_per_region=30,
        archived_fraction=0.1,
        revoked_fraction=0.0,
        bulk_delay=0.2,
        restore_delay=0.3,
        restore_pending_state="PENDING",
    )


@pytest.fixture
def conn(make_hook):
    make_hook()
    return "eightbyeight_default"


def manifest(root: Path) -> dict[str, dict]:
    [path] = sorted((root / MANIFEST_DIR).glob("*.jsonl"))[-1:]
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text().splitlines())}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def file_of(root: Path, record: dict) -> Path:
    return root / record["path"]


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# ---------------------------------------------------------------------------- 1. evidence before deletion


def test_1_damaged_copy_is_not_deleted_on_skip_evidence(conn, emulator, tmp_path):
    """A copy damaged in place (same size) after run 1 must not license a delete in run 2."""
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), write_metadata=True)
    drive(op)
    records = manifest(tmp_path)
    victim = next(r for r in records.values() if r["status"] == "copied")
    path = file_of(tmp_path, victim)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    drive(
        EightByEightTransferOperator(
            task_id="t", destination=tmp_path.as_uri(), write_metadata=True, delete_after_transfer=True
        )
    )
    after = manifest(tmp_path)[victim["id"]]
    assert md5(path) == emulator.md5(victim["id"])  # replaced by a verified copy before the delete
    assert after["status"] == "copied" and after["evidence"] == "written"
    assert after["deleted_at_source"] and emulator.get(victim["id"])["objectState"] == "REVOKED"


def test_1_skipped_copies_are_read_back_before_deletion(conn, emulator, tmp_path):
    drive(EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), write_metadata=True))
    summary, _ = drive(
        EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), delete_after_transfer=True)
    )
    records = manifest(tmp_path)
    skipped = [r for r in records.values() if r["status"] == "skipped"]
    assert skipped and summary["skipped"] == len(skipped) and summary["copied"] == 0
    assert all(r["evidence"] == "read_back" and r["deleted_at_source"] for r in skipped)
    for record in skipped:
        assert md5(file_of(tmp_path, record)) == emulator.md5(record["id"])


def test_1_skip_evidence_alone_never_deletes(conn, emulator, tmp_path, make_hook):
    """An engine told to trust manifests (prove_skips off) reads every skipped copy back before deleting."""
    hook = make_hook()
    first = TransferEngine(hook, tmp_path.as_uri()).run(hook.iter_objects())
    damaged = first.records[0]
    data = bytearray((tmp_path / damaged.path).read_bytes())
    data[0] ^= 0xFF
    (tmp_path / damaged.path).write_bytes(bytes(data))
    summary = TransferEngine(hook, tmp_path.as_uri()).run(hook.iter_objects(), delete_after_transfer=True)
    assert summary.skipped == len(first.records) and summary.deleted == summary.skipped - 1
    assert "changed since it was verified" in summary.delete_failures[damaged.id]
    assert emulator.get(damaged.id)["objectState"] == "AVAILABLE"
    assert all(r.evidence == "read_back" for r in summary.records if r.deleted_at_source)


# ---------------------------------------------------------------------------- 2. a path belongs to one object


def _twin(emulator, name: str, day: str) -> dict:
    return emulator.add_object("us-east", object_name=name, created=f"{day}T10:00:00Z", size=3000)


@pytest.mark.parametrize("evidence", ["manifest", "sidecar", "none"])
def test_2_name_reused_on_another_day_never_overwrites(conn, emulator, tmp_path, evidence):
    a = _twin(emulator, "rec.mp3", "2026-11-02")
    day = {"created_after": "2026-11-02T00:00:00Z", "created_before": "2026-11-03T00:00:00Z"}
    common = {"destination": tmp_path.as_uri(), "path_template": "{type}/{name}", "filter": f"id=={a['id']}"}
    drive(EightByEightTransferOperator(task_id="d1", delete_after_transfer=True, write_metadata=True, **common, **day))
    a_file = tmp_path / "callrecording" / "rec.mp3"
    assert md5(a_file) == emulator.md5(a["id"]) and emulator.get(a["id"])["objectState"] == "REVOKED"
    if evidence != "manifest":
        for path in (tmp_path / MANIFEST_DIR).iterdir():
            path.unlink()
    if evidence == "none":
        (tmp_path / "callrecording" / "rec.mp3.meta.json").unlink()
    b = _twin(emulator, "rec.mp3", "2026-11-03")
    common["filter"] = f"id=={b['id']}"
    summary, _ = drive(EightByEightTransferOperator(task_id="d2", write_metadata=True, **common))
    assert md5(a_file) == emulator.md5(a["id"])  # A's only copy is intact
    record = manifest(tmp_path)[b["id"]]
    b_file = file_of(tmp_path, record)
    assert b_file != a_file and md5(b_file) == emulator.md5(b["id"]) and summary["copied"] == 1
    assert "rec.mp3" in record["reason"] and "written beside" in record["reason"]
    again, _ = drive(EightByEightTransferOperator(task_id="d3", write_metadata=True, **common))
    assert again["skipped"] == 1 and again["copied"] == 0  # the re-run finds B beside A


def test_2_a_foreign_file_is_left_alone(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    obj = next(iter(hook.iter_objects()))
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(path_template="{name}"))
    target = tmp_path / engine.plan([obj])[0].relative_path
    target.write_bytes(b"x" * (obj.size or 1))  # the user's own file, same size
    summary = engine.run([obj])
    assert target.read_bytes() == b"x" * (obj.size or 1)
    [record] = summary.records
    assert record.status == "copied" and record.path != target.name and "unknown origin" in (record.reason or "")


def test_2_a_copy_of_this_object_without_records_is_recognised(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    obj = next(iter(hook.iter_objects()))
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(path_template="{name}"))
    target = tmp_path / engine.plan([obj])[0].relative_path
    target.write_bytes(emulator.content(obj.id))  # same bytes, no manifest, no sidecar
    summary = engine.run([obj])
    assert summary.skipped == 1 and summary.records[0].evidence == "read_back"


def test_2_case_only_differences_in_one_run_get_two_files(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    a = emulator.add_object("us-east", object_name="Rec.mp3", size=2000)
    b = emulator.add_object("us-east", object_name="rec.mp3", size=2100)
    objs = list(hook.iter_objects(f"id=in=({a['id']},{b['id']})"))
    summary = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(path_template="{name}")).run(objs)
    paths = {r.path.casefold() for r in summary.records}
    assert summary.copied == 2 and len(paths) == 2


# ---------------------------------------------------------------------------- 3. every object has a fate


def test_3_pending_objects_are_waited_for_and_copied(conn, emulator, tmp_path):
    pending = emulator.add_object("us-east", state="PENDING", created="2026-11-04T12:00:00Z", size=4000)
    later(1.0, lambda: emulator.set_object_state(pending["id"], "AVAILABLE"))
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), not_ready_poll_interval=0.2, not_ready_timeout=30
    )
    summary, _ = drive(op)
    record = manifest(tmp_path)[pending["id"]]
    assert record["status"] == "copied" and md5(file_of(tmp_path, record)) == emulator.md5(pending["id"])
    assert summary["not_ready"] == 0 and summary["failed"] == 0


def test_3_objects_still_pending_fail_the_task_by_name(conn, emulator, tmp_path):
    pending = emulator.add_object("us-east", state="PENDING", created="2026-11-04T12:00:00Z", size=4000)
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), not_ready_poll_interval=0.1, not_ready_timeout=0.5
    )
    with pytest.raises(TransferError, match=pending["id"]):
        drive(op)
    record = manifest(tmp_path)[pending["id"]]
    assert record["status"] == "not_ready" and record["state"] == "PENDING"
    copied = [r for r in manifest(tmp_path).values() if r["status"] == "copied"]
    assert len(copied) == len(emulator.objects("us-east", states="AVAILABLE"))  # the rest was copied first


def test_3_report_only_records_not_ready_objects(conn, emulator, tmp_path):
    pending = emulator.add_object("us-east", state="PENDING", size=4000)
    summary, deferrals = drive(
        EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), on_not_ready="report")
    )
    assert summary["not_ready"] == 1 and deferrals == 0 and pending["id"] not in summary["failures"]
    assert manifest(tmp_path)[pending["id"]]["status"] == "not_ready"


@pytest.mark.parametrize("deferrable", [False, True])
def test_3_state_changes_between_search_and_download(conn, emulator, tmp_path, make_hook, deferrable):
    """PENDING (then AVAILABLE again), REVOKED and ARCHIVED after the search: each object gets its fate."""
    hook = make_hook()
    ids = [o.id for o in hook.iter_objects()][:3]
    to_pending, to_revoked, to_archived = ids
    real = hook.iter_objects
    calls: list[int] = []

    def search_then_change(*args: Any, **kwargs: Any) -> Any:
        found = list(real(*args, **kwargs))
        calls.append(1)
        if len(calls) > 1:  # later searches are the run's own reads by id
            return iter(found)
        emulator.set_object_state(to_pending, "PENDING")
        emulator.set_object_state(to_revoked, "REVOKED")
        emulator.set_object_state(to_archived, "ARCHIVED")
        later(1.0, lambda: emulator.set_object_state(to_pending, "AVAILABLE"))
        return iter(found)

    op = EightByEightTransferOperator(
        task_id="t",
        destination=tmp_path.as_uri(),
        deferrable=deferrable,
        not_ready_poll_interval=0.2,
        not_ready_timeout=30,
        fail_on_error=False,
    )
    op.hook.iter_objects = search_then_change  # type: ignore[method-assign]
    drive(op)
    records = manifest(tmp_path)
    assert records[to_pending]["status"] == "copied"
    assert records[to_revoked]["status"] == "failed" and "REVOKED" in records[to_revoked]["reason"]
    assert records[to_archived]["status"] == "archived"
    assert set(records) >= {o["id"] for o in emulator.objects("us-east", states=["AVAILABLE", "ARCHIVED"])}


# ---------------------------------------------------------------------------- 5. deferred = not deferred


def _fates(root: Path) -> dict[str, str]:
    return {i: r["status"] for i, r in manifest(root).items()}


@pytest.mark.parametrize("strategy", ["bulk", "objects"])
def test_5_deferred_and_in_worker_runs_agree(conn, emulator, tmp_path, strategy):
    archived = {o["id"] for o in emulator.objects("us-east", states="ARCHIVED")}
    assert archived
    results = {}
    for deferrable in (False, True):
        dest = tmp_path / str(deferrable)
        op = EightByEightTransferOperator(
            task_id="t", destination=dest.as_uri(), strategy=strategy, deferrable=deferrable, poll_interval=0.1
        )
        results[deferrable] = drive(op)
        assert {i for i, s in _fates(dest).items() if s == "archived"} == archived
    (plain, _), (deferred, deferrals) = results[False], results[True]
    assert deferrals == (1 if strategy == "bulk" else 0)
    keys = ("copied", "skipped", "archived", "not_ready", "failed")
    assert {k: plain[k] for k in keys} == {k: deferred[k] for k in keys}
    assert _fates(tmp_path / "False") == _fates(tmp_path / "True")


@pytest.mark.parametrize("deferrable", [False, True])
def test_5_a_refused_bulk_start_falls_back_to_single_downloads(conn, emulator, tmp_path, deferrable):
    emulator.add_fault(FaultRule(kind="status", route="bulk_start", status=400))
    summary, _ = drive(
        EightByEightTransferOperator(
            task_id="t", destination=tmp_path.as_uri(), strategy="bulk", deferrable=deferrable, poll_interval=0.1
        )
    )
    assert summary["copied"] == len(emulator.objects("us-east", states="AVAILABLE")) and summary["failed"] == 0


@pytest.mark.parametrize("deferrable", [False, True])
def test_5_restores_agree_deferred_or_not(conn, emulator, tmp_path, deferrable):
    archived = {o["id"] for o in emulator.objects("us-east", states="ARCHIVED")}
    summary, _ = drive(
        EightByEightTransferOperator(
            task_id="t",
            destination=tmp_path.as_uri(),
            on_archived="restore",
            deferrable=deferrable,
            restore_poll_interval=0.2,
        )
    )
    assert summary["restored"] == len(archived) and summary["failed"] == 0
    assert {i for i, s in _fates(tmp_path).items() if s == "restored"} == archived


@pytest.mark.parametrize("deferrable", [False, True])
def test_5_unfinished_bulk_jobs_are_cancelled_and_their_objects_copied_alone(conn, emulator, tmp_path, deferrable):
    emulator.config.bulk_delay = 3600.0
    summary, _ = drive(
        EightByEightTransferOperator(
            task_id="t",
            destination=tmp_path.as_uri(),
            strategy="bulk",
            deferrable=deferrable,
            poll_interval=0.1,
            bulk_timeout=0.5,
        )
    )
    assert summary["copied"] == len(emulator.objects("us-east", states="AVAILABLE"))
    assert emulator.stats()["requests"].get("bulk_cancel", 0) >= 1


def test_5_on_kill_cancels_started_jobs(conn, emulator, tmp_path):
    emulator.config.bulk_delay = 3600.0
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), strategy="bulk", deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute({"ti": FakeTI()})
    op.on_kill()
    assert emulator.stats()["requests"].get("bulk_cancel", 0) >= 1
    waiting = [r for r in manifest(tmp_path).values() if r["status"] == "waiting"]
    assert len(waiting) == len(emulator.objects("us-east", states="AVAILABLE"))  # named while deferred


# ---------------------------------------------------------------------------- 6. zips


def test_6_a_damaged_deflated_entry_falls_back_to_a_single_download(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    objs = [o for o in hook.iter_objects() if (o.size or 0) > 2000][:3]
    engine = TransferEngine(hook, (tmp_path / "dest").as_uri())
    planned = engine.plan(objs)
    zip_path = tmp_path / "bulk.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for obj in objs:
            archive.writestr(obj.name or obj.id, emulator.content(obj.id))
    data = bytearray(zip_path.read_bytes())
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(objs[0].name or objs[0].id)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 2, start + 40):  # the compressed bytes of the first entry
        data[offset] ^= 0x5A
    zip_path.write_bytes(bytes(data))
    records = engine.copy_from_zip(None, zip_path, planned)
    assert {r.id: r.status for r in records} == {o.id: "copied" for o in objs}
    for record in records:
        assert md5(tmp_path / "dest" / record.path) == emulator.md5(record.id)


# ---------------------------------------------------------------------------- 8. per-object errors


def test_8_one_403_fails_only_that_object(conn, emulator, tmp_path):
    victim = emulator.objects("us-east", states="AVAILABLE")[0]["id"]
    emulator.add_fault(FaultRule(kind="status", route="content", status=403, object_ids=[victim]))
    with pytest.raises(TransferError, match=victim):
        drive(EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri()))
    records = manifest(tmp_path)
    assert records[victim]["status"] == "failed"
    copied = {i for i, r in records.items() if r["status"] == "copied"}
    assert copied == {o["id"] for o in emulator.objects("us-east", states="AVAILABLE")} - {victim}


def test_8_a_run_whose_every_attempt_fails_alike_stops_early_with_a_manifest(conn, emulator, tmp_path):
    emulator.add_fault(FaultRule(kind="status", route="content", status=403))
    with pytest.raises(TransferError) as info:
        drive(EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), max_workers=1))
    records = manifest(tmp_path)
    available = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE")}
    assert {i for i, r in records.items() if r["status"] == "failed"} == available
    not_tried = [r for r in records.values() if r["reason"].startswith("not attempted")]
    assert not_tried and emulator.stats()["requests"]["content"] <= 2 * (len(available) - len(not_tried))
    assert "PermissionDeniedError" in str(info.value)


def test_8_the_manifest_is_written_when_the_run_fails(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    objs = list(hook.iter_objects())

    def broken() -> Any:
        yield from objs[:5]
        raise RuntimeError("search broke")

    with pytest.raises(RuntimeError):
        TransferEngine(hook, tmp_path.as_uri()).run(broken())
    assert (tmp_path / MANIFEST_DIR).is_dir()


# ---------------------------------------------------------------------------- 11. durable before delete


def test_11_copies_are_fsynced_and_the_manifest_names_deletes_before_the_call(
    conn, emulator, tmp_path, make_hook, monkeypatch
):
    hook = make_hook()
    synced: list[str] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    seen_at_delete: dict[str, Any] = {}
    real_delete = hook.delete_objects

    def spy_delete(ids: Any, **kwargs: Any) -> Any:
        ids = list(ids)
        seen_at_delete["synced"] = list(synced)
        seen_at_delete["manifest"] = manifest(tmp_path)
        return real_delete(ids, **kwargs)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(hook, "delete_objects", spy_delete)
    summary = TransferEngine(hook, tmp_path.as_uri()).run(hook.iter_objects(), delete_after_transfer=True)
    assert summary.deleted == summary.copied > 0
    copied = [r for r in summary.records if r.status == "copied"]
    for record in copied:
        path = str(tmp_path / record.path)
        assert path in seen_at_delete["synced"] and str(Path(path).parent) in seen_at_delete["synced"]
        assert seen_at_delete["manifest"][record.id]["delete"] == "requested"
    final = manifest(tmp_path)
    assert all(final[r.id]["delete"] == "deleted" and final[r.id]["deleted_at_source"] for r in copied)


def test_a_refusal_while_the_object_is_available_again_is_retried(conn, emulator, tmp_path, make_hook):
    """PENDING when the content was asked for, AVAILABLE again when its state is re-read: download again."""
    hook = make_hook()
    obj = next(iter(hook.iter_objects()))
    emulator.add_fault(FaultRule(kind="status", route="content", status=400, times=1, object_ids=[obj.id]))
    result = hook.download_object(obj, tmp_path / "copy.bin")
    assert result.md5 == emulator.md5(obj.id) and result.attempts == 2


def test_5_jobs_are_cancelled_when_the_run_fails(conn, emulator, tmp_path, make_hook):
    emulator.config.bulk_delay = 3600.0
    hook = make_hook()
    engine = TransferEngine(hook, tmp_path.as_uri())
    from airflow_provider_eightbyeight.transfer.run import RunPolicy, TransferRun

    run = TransferRun(engine, RunPolicy(strategy="bulk"))
    pause = run.start(hook.iter_objects())
    assert run.jobs and pause is not None

    cancel = run.zips.cancel_job

    def cancel_then_go_down(*args: Any, **kwargs: Any) -> Any:
        cancel(*args, **kwargs)
        raise RuntimeError("the worker is going down")  # after the unfinished job is cancelled

    run.zips.cancel_job = cancel_then_go_down  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run.resume({"status": "success", "jobs": {}})
    assert emulator.stats()["requests"].get("bulk_cancel", 0) == 1
    waiting = [r for r in manifest(tmp_path).values() if r["status"] == "failed"]
    assert len(waiting) == len(emulator.objects("us-east", states="AVAILABLE"))  # every object has a fate


# ---------------------------------------------------------------------------- found by review


def test_a_sidecar_never_replaces_another_objects_copy(conn, emulator, tmp_path, make_hook):
    """Object "data" writes its sidecar to data.meta.json, the path of object "data.meta.json"'s copy."""
    hook = make_hook()
    b = emulator.add_object("us-east", object_name="data.meta.json", size=5000)
    a = emulator.add_object("us-east", object_name="data", size=3000)
    objs = {o.id: o for o in hook.iter_objects(f"id=in=({a['id']},{b['id']})")}
    options = TransferOptions(path_template="{name}", write_metadata=True, max_workers=1)
    summary = TransferEngine(hook, tmp_path.as_uri(), options).run([objs[b["id"]], objs[a["id"]]])
    assert summary.copied == 2
    for obj in (a, b):
        record = next(r for r in summary.records if r.id == obj["id"])
        assert md5(tmp_path / record.path) == emulator.md5(obj["id"])
    # a second run that finds the user's own notes.meta.json where "notes"'s sidecar would go leaves it alone
    n = emulator.add_object("us-east", object_name="notes", size=3000)
    (tmp_path / "notes.meta.json").write_text("my own notes")
    summary = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects(f"id=={n['id']}"))
    assert (tmp_path / "notes.meta.json").read_text() == "my own notes"
    assert summary.copied == 1 and md5(tmp_path / summary.records[0].path) == emulator.md5(n["id"])


@pytest.mark.parametrize("damage", ["flip", "remove"])
def test_proof_made_before_a_pause_is_renewed_before_deleting(conn, emulator, tmp_path, damage):
    """A copy written, then a wait (deferred) during which the copy changes: the object is not deleted."""
    a = emulator.add_object("us-east", object_name="a.wav", size=4000)
    b = emulator.add_object("us-east", object_name="b.wav", size=4000, state="PENDING")
    ti = FakeTI()
    op = EightByEightTransferOperator(
        task_id="t",
        destination=tmp_path.as_uri(),
        path_template="{name}",
        delete_after_transfer=True,
        deferrable=True,
        not_ready_poll_interval=0.2,
        object_ids=[a["id"], b["id"]],
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    copy = tmp_path / "a.wav"
    if damage == "flip":
        data = bytearray(copy.read_bytes())
        data[100] ^= 0xFF
        copy.write_bytes(bytes(data))
    else:
        copy.unlink()
    emulator.set_object_state(b["id"], "AVAILABLE")
    trigger = deferred.value.trigger
    event = asyncio.run(first_event(type(trigger)(**json.loads(json.dumps(trigger.serialize()[1])))))
    summary = op.execute_resume({"ti": ti}, event)
    assert emulator.get(a["id"])["objectState"] == "AVAILABLE"  # not deleted: its copy changed
    assert emulator.get(b["id"])["objectState"] == "REVOKED"  # proved in this phase: deleted
    assert summary["deleted"] == 1 and a["id"] in summary["delete_failures"]


def test_s3_a_key_published_meanwhile_is_not_overwritten(conn, emulator, s3, make_hook):
    """Two tasks on one S3 prefix: the one that listed the folder early must not write over the other's copy."""
    hook = make_hook()
    a = emulator.add_object("us-east", object_name="rec.mp3", size=3000, created="2026-11-02T10:00:00Z")
    b = emulator.add_object("us-east", object_name="rec.mp3", size=3100, created="2026-11-03T10:00:00Z")
    dest = "s3://aws_moto@recordings/meanwhile/"
    options = TransferOptions(path_template="{type}/{name}", max_workers=1)
    engine = TransferEngine(hook, dest, options)
    [obj_a] = list(hook.iter_objects(f"id=={a['id']}"))
    planned = engine.plan([obj_a])
    engine.place(planned[0])  # lists the folder now: the name is free
    TransferEngine(hook, dest, options).run(hook.iter_objects(f"id=={b['id']}"))  # the other task publishes
    summary = engine.run([obj_a])
    [record] = summary.records
    assert record.status == "copied" and record.path != "callrecording/rec.mp3"
    body = s3.get_object(Bucket="recordings", Key="meanwhile/callrecording/rec.mp3")["Body"].read()
    assert hashlib.md5(body, usedforsecurity=False).hexdigest() == emulator.md5(b["id"])


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410])
def test_content_refused_for_an_object_that_is_no_longer_available_reads_its_state(
    conn, emulator, tmp_path, make_hook, status
):
    """Whatever 4xx 8x8 uses for a non-AVAILABLE object's content, the error says its state (issue 8 #10)."""
    from airflow_provider_eightbyeight.errors import ObjectNotAvailableError

    emulator.config.non_available_content_status = status
    hook = make_hook()
    obj = next(iter(hook.iter_objects()))
    emulator.set_object_state(obj.id, "PENDING")  # after the search
    with pytest.raises(ObjectNotAvailableError) as info:
        hook.download_object(obj, tmp_path / "x.bin")
    assert info.value.state == "PENDING" and "PENDING" in str(info.value)


# ---------------------------------------------------------------------------- found by the second review


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_copy_removed_during_a_wait_is_copied_again(conn, emulator, tmp_path, deferrable):
    """After a pause the run looks at the destination afresh, in the worker as when deferred."""
    obj = emulator.objects("us-east", states="AVAILABLE")[0]["id"]
    kwargs = {"task_id": "t", "destination": tmp_path.as_uri(), "deferrable": deferrable, "fail_on_error": False}
    drive(EightByEightTransferOperator(**kwargs, not_ready_poll_interval=0.2))
    copy = tmp_path / manifest(tmp_path)[obj]["path"]
    emulator.set_object_state(obj, "PENDING")

    def change() -> None:
        copy.unlink()
        emulator.set_object_state(obj, "AVAILABLE")

    later(1.0, change)
    drive(EightByEightTransferOperator(**kwargs, not_ready_poll_interval=0.2))
    assert manifest(tmp_path)[obj]["status"] == "copied" and md5(copy) == emulator.md5(obj)


def test_a_crash_after_resuming_still_gives_every_waited_object_a_fate(conn, emulator, tmp_path, monkeypatch):
    pending = [emulator.add_object("us-east", state="PENDING", size=2000)["id"] for _ in range(3)]
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), deferrable=True, not_ready_poll_interval=0.1
    )
    ti = FakeTI()
    with pytest.raises(TaskDeferred):
        op.execute({"ti": ti})

    def crash(self: Any, refs: Any) -> Any:
        raise RuntimeError("the worker is going down")

    monkeypatch.setattr(TransferEngine, "read_back", crash)
    with pytest.raises(RuntimeError):
        op.execute_resume({"ti": ti}, {"status": "success"})
    records = manifest(tmp_path)
    assert all(records[i]["status"] == "failed" and "not attempted" in records[i]["reason"] for i in pending)
    assert set(records) >= {o["id"] for o in emulator.objects("us-east", states=["AVAILABLE", "ARCHIVED"])}


def test_a_search_that_fails_midway_records_what_was_copied(conn, emulator, tmp_path, make_hook):
    hook = make_hook(max_retries=1)
    for _ in range(250):
        emulator.add_object("us-east", size=400)
    objs = hook.iter_objects(page_size=100)

    def failing() -> Any:
        for index, obj in enumerate(objs):
            if index == 150:
                raise RuntimeError("search outage")
            yield obj

    with pytest.raises(RuntimeError):
        TransferEngine(hook, tmp_path.as_uri()).run(failing())
    records = manifest(tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and MANIFEST_DIR not in p.parts]
    copied = {i for i, r in records.items() if r["status"] == "copied"}
    assert len(files) == len(copied) == 150  # every published file is recorded copied
