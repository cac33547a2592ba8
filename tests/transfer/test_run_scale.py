"""
Issue "Scale": what a run keeps is bounded whatever the number of objects, and stays correct.

The store (records, seen ids, taken paths, earlier copies on disk), the folder cache (bounded listings, per-file
lookups beyond), the saved state of a deferred run (no ids: they are in the pause manifest), and a resume whose
pause manifest is gone. The memory figure itself is in tests/transfer/test_run_memory.py and the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.bulk import ZipCopier
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.listing import FolderCache
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR, ManifestRecord
from airflow_provider_eightbyeight.transfer.store import CHUNK, RunStore
from tests.helpers import FakeTI, drive


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=19, objects_per_region=40, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.2)


def _record(object_id: str, status: str = "copied", path: str | None = None) -> ManifestRecord:
    return ManifestRecord(
        id=object_id, region="us-east", source="s", destination="d", path=path or f"p/{object_id}", size=1, md5="m",
        status=status,
    )  # fmt: skip


# ---------------------------------------------------------------------------- the store


def test_the_store_keeps_records_in_order_and_a_replaced_record_keeps_its_place():
    store = RunStore()
    try:
        store.put_many(_record(f"id{i:05d}") for i in range(2 * CHUNK + 7))  # more than one chunk
        replaced = _record("id00003", status="failed")
        store.put(replaced)
        records = list(store.records())
        assert [r.id for r in records] == [f"id{i:05d}" for i in range(2 * CHUNK + 7)]
        assert records[3].status == "failed" and len(store) == 2 * CHUNK + 7
        assert [r.id for r in store.records(["failed"])] == ["id00003"]
    finally:
        store.close()
    assert store.closed


def test_the_store_remembers_ids_seen_and_paths_taken():
    store = RunStore()
    try:
        assert store.first_sight("a") and not store.first_sight("a") and store.first_sight("b")
        taken = store.taken
        taken.update(["x/1.mp3", "x/2.mp3"])
        taken.add("y/3.mp3")
        assert "x/1.mp3" in taken and "y/3.mp3" in taken and "z" not in taken
        taken.discard("x/1.mp3")
        assert "x/1.mp3" not in taken
    finally:
        store.close()


def test_the_store_removes_its_files_when_closed():
    store = RunStore()
    folder = store.folder
    assert folder.exists()
    store.close()
    store.close()  # twice is harmless
    assert not folder.exists()


def test_earlier_manifests_are_read_only_when_needed_and_later_records_win(tmp_path):
    (tmp_path / MANIFEST_DIR).mkdir()
    older = [_record("a", path="calls/rec.mp3"), _record("b", path="calls/other.mp3")]
    newer = [_record("c", path="CALLS/REC.mp3")]  # the same path (case-insensitively), another object, later
    (tmp_path / MANIFEST_DIR / "20260101T000000000000Z_x.jsonl").write_text("".join(r.to_json() + "\n" for r in older))
    (tmp_path / MANIFEST_DIR / "20260102T000000000000Z_x.jsonl").write_text("".join(r.to_json() + "\n" for r in newer))
    store = RunStore()
    try:
        assert not store.history_loaded and store.owner("calls/rec.mp3") is None
        store.load_history(storage.as_storage_path(tmp_path.as_uri()))
        assert store.owner("calls/rec.mp3") == "c" and store.owner("calls/other.mp3") == "b"
        copy = store.copy_of("a")
        assert copy is not None and copy.path == "calls/rec.mp3"
        store.remember(_record("d", path="calls/new.mp3"))
        assert store.owner("Calls/New.mp3") == "d"
        store.forget_history()
        assert not store.history_loaded
    finally:
        store.close()


# ---------------------------------------------------------------------------- the folder cache


def test_the_folder_cache_lists_each_folder_once_and_stays_within_its_bound(tmp_path):
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        for i in range(4):
            (tmp_path / folder / f"{i}.bin").write_bytes(b"x" * (i + 1))
    cache = FolderCache(storage.as_storage_path(tmp_path.as_uri()), max_entries=8)
    assert cache.size("a/2.bin") == 3 and cache.size("a/9.bin") is None
    assert cache.listings == 1  # one listing for both questions
    cache.size("b/0.bin")
    cache.size("c/0.bin")  # 12 names > 8: the least recently used folder is dropped
    assert cache.cached_names <= 8
    assert cache.size("a/1.bin") == 2 and cache.listings == 4  # listed again, correctly


def test_a_folder_larger_than_the_bound_is_looked_up_file_by_file(tmp_path):
    for i in range(10):
        (tmp_path / f"{i}.bin").write_bytes(b"x" * i)
    cache = FolderCache(storage.as_storage_path(tmp_path.as_uri()), max_entries=5)
    assert cache.size("7.bin") == 7 and cache.cached_names == 0  # listed once, too big to keep
    assert cache.size("3.bin") == 3 and cache.size("nope.bin") is None
    assert cache.listings == 1 and cache.lookups == 2
    cache.remember("new.bin", 5)  # a folder not cached stays so
    assert cache.cached_names == 0


def test_a_run_into_one_big_folder_skips_what_is_there_with_per_file_lookups(
    make_hook, emulator, tmp_path, monkeypatch
):
    """A flat template puts every object in one folder: beyond the cache bound, files are asked one by one."""
    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.listing.MAX_CACHED_ENTRIES", 10)
    hook = make_hook()
    options = TransferOptions(path_template="{id}_{name}")
    first = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects("", region="us-east"))
    assert first.copied == 40 and first.failed == 0
    (tmp_path / Path(first.records[0].path)).write_bytes(b"damaged")  # one copy replaced by other bytes
    engine = TransferEngine(hook, tmp_path.as_uri(), options)
    again = engine.run(hook.iter_objects("", region="us-east"))
    assert again.skipped == 39 and again.copied == 1 and again.failed == 0
    assert engine.folders.lookups >= 39  # one listing (too big to keep), then each object asked on its own


# ---------------------------------------------------------------------------- deferral


def test_a_deferred_bulk_run_saves_no_ids_in_its_state(conn, emulator, tmp_path):
    """The ids a paused run waits for are in its pause manifest, not in XCom: the state is small."""
    ti = FakeTI()
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), strategy="bulk", deferrable=True, poll_interval=0.1
    )
    with pytest.raises(TaskDeferred):
        op.execute({"ti": ti})
    [saved] = [v for k, v in ti.store.items() if k.endswith("transfer_run")]
    text = json.dumps(saved)
    ids = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")]
    assert len(text) < 1000 and not any(i in text for i in ids)
    assert sum(j["count"] for j in saved["jobs"]) == len(ids)
    summary, deferrals = drive(op, ti)  # resumes from the pause manifest
    assert deferrals == 1 and summary["copied"] == len(ids) and summary["failed"] == 0


def test_a_resume_whose_pause_manifest_is_gone_fails_clearly_and_cancels_no_job(conn, emulator, tmp_path, make_hook):
    """
    Without its pause manifest nothing ties the state's jobs to this run (the state is read back: it may name
    another run's): none is cancelled (the run names them in its log for a person to cancel).
    """
    emulator.config.bulk_delay = 3600.0
    ti = FakeTI()
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), strategy="bulk", deferrable=True, poll_interval=0.1
    )
    with pytest.raises(TaskDeferred):
        op.execute({"ti": ti})
    [saved] = [v for k, v in ti.store.items() if k.endswith("transfer_run")]
    (tmp_path / MANIFEST_DIR / saved["manifest"]).unlink()
    with pytest.raises(ConfigurationError, match=r"manifest it published when it paused.*is gone"):
        op.execute_resume({"ti": ti}, {"status": "success", "jobs": {}})
    hook = make_hook()
    assert saved["jobs"]
    for job in saved["jobs"]:
        assert hook.get_bulk_job(job["zip_name"], region=job["region"]).status != "CANCELLED"


@pytest.fixture
def conn(make_hook):
    make_hook()
    return "eightbyeight_default"


# ---------------------------------------------------------------------------- bulk streams


def test_bulk_jobs_start_as_batches_fill_while_the_search_pages(conn, emulator, tmp_path, monkeypatch):
    """The first zip job starts after the first page, long before the last object is read."""
    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.bulk.BULK_MAX_OBJECTS", 50)
    for _ in range(260):
        emulator.add_object("us-east", size=300)
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), strategy="bulk", deferrable=True, poll_interval=0.1
    )
    real_search, real_start = op.hook.iter_objects, op.hook.start_bulk_download
    yielded = [0]
    at_start: list[int] = []
    sizes: list[int] = []

    def counting_search(*args, **kwargs):
        for obj in real_search(*args, **kwargs):
            yielded[0] += 1
            yield obj

    def noting_start(objects, **kwargs):
        at_start.append(yielded[0])
        sizes.append(len(objects))
        return real_start(objects, **kwargs)

    op.hook.iter_objects = counting_search
    op.hook.start_bulk_download = noting_start
    summary, deferrals = drive(op)
    total = len(emulator.objects("us-east", states="AVAILABLE"))
    assert summary["copied"] == total and summary["failed"] == 0 and deferrals == 1
    assert at_start[0] < total / 2 < yielded[0]  # started while the search still had pages to go
    assert max(sizes) <= 50 and sum(sizes) == total


def test_the_next_zip_downloads_while_this_one_is_extracted(conn, emulator, tmp_path, monkeypatch):
    """Collecting jobs overlaps: job k+1's zip downloads while job k's entries are extracted."""
    import time

    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.bulk.BULK_MAX_OBJECTS", 10)
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), strategy="bulk", poll_interval=0.1)
    real_download = op.hook.download_bulk_zip
    engine_copy = ZipCopier.copy_from_zip
    downloads: list[tuple[float, float]] = []
    extractions: list[tuple[float, float]] = []

    def slow_download(*args, **kwargs):
        started = time.monotonic()
        time.sleep(0.3)
        try:
            return real_download(*args, **kwargs)
        finally:
            downloads.append((started, time.monotonic()))

    def slow_copy(self, job, zip_path, batch):
        started = time.monotonic()
        time.sleep(0.3)
        try:
            return engine_copy(self, job, zip_path, batch)
        finally:
            extractions.append((started, time.monotonic()))

    op.hook.download_bulk_zip = slow_download
    monkeypatch.setattr(ZipCopier, "copy_from_zip", slow_copy)
    summary, _ = drive(op)
    assert summary["copied"] == len(emulator.objects("us-east", states="AVAILABLE")) and summary["failed"] == 0
    assert len(downloads) >= 3
    overlaps = [(d, e) for d in downloads for e in extractions if d[0] < e[1] and e[0] < d[1]]
    assert overlaps, f"no download overlapped an extraction: {downloads} vs {extractions}"


# ---------------------------------------------------------------------------- concurrency backs off on 429


def test_concurrency_halves_on_429_and_grows_back_one_per_round():
    import logging

    from airflow_provider_eightbyeight.transfer.copier import Concurrency

    limit = Concurrency(8, logging.getLogger("t"))
    assert limit.allowed == 16
    limit.observe(rate_limited=1, completed=1)
    assert limit.allowed == 8
    limit.observe(rate_limited=3, completed=1)
    assert limit.allowed == 4
    for _ in range(3):
        limit.observe(rate_limited=3, completed=1)
    assert limit.allowed == 4  # a round is `allowed` completions
    limit.observe(rate_limited=3, completed=1)
    assert limit.allowed == 5
    for _ in range(20):
        limit.observe(rate_limited=3 + _, completed=1)  # 429 after 429: down to one at a time, never zero
    assert limit.allowed == 1
    for _ in range(500):
        limit.observe(rate_limited=22, completed=1)
    assert limit.allowed == 16  # back to the ceiling, never above


def test_a_run_meeting_429s_slows_down_and_copies_everything(conn, emulator, tmp_path, make_hook, caplog):
    from airflow_provider_eightbyeight.testing import FaultRule

    emulator.add_fault(FaultRule(kind="status", route="content", status=429, retry_after="0", times=4))
    hook = make_hook(retry_backoff=0.01, retry_max_wait=0.1)
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(max_workers=8))
    summary = engine.run(hook.iter_objects("", region="us-east"))
    assert summary.copied == 40 and summary.failed == 0
    assert hook.stats.rate_limited == 4
    assert "answered 429 (too many requests); copying" in caplog.text


# ---------------------------------------------------------------------------- explicit ids stream too


def test_explicit_ids_are_looked_up_chunk_by_chunk_while_copying(conn, emulator, tmp_path, monkeypatch):
    """Many object_ids: one chunk's metadata at a time, copying from the first chunk; unknown ids are failed."""
    monkeypatch.setattr("airflow_provider_eightbyeight.operators._criteria.LOCATE_CHUNK", 10)
    ids = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")]
    unknown = ["nope-1", "nope-2", "nope-3"]
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), object_ids=[*ids[:20], *unknown, *ids[20:]], max_workers=2
    )
    real_lookup, real_download = op.hook.get_objects, op.hook.download_object
    lookups = [0]
    at_first_download: list[int] = []

    def counting_lookup(*args, **kwargs):
        lookups[0] += 1
        return real_lookup(*args, **kwargs)

    def noting_download(*args, **kwargs):
        at_first_download.append(lookups[0])
        return real_download(*args, **kwargs)

    op.hook.get_objects = counting_lookup
    op.hook.download_object = noting_download
    with pytest.raises(Exception, match="3 object"):
        drive(op)
    records = {r["id"]: r for r in map(json.loads, next((tmp_path / MANIFEST_DIR).iterdir()).read_text().splitlines())}
    assert {i for i, r in records.items() if r["status"] == "copied"} == set(ids)
    assert {i for i, r in records.items() if r["status"] == "failed"} == set(unknown)
    assert lookups[0] >= 4 and at_first_download[0] < lookups[0]  # copying began before the last chunk


def test_store_folders_of_killed_processes_are_removed_by_the_next_run(tmp_path):
    """SIGKILL or an out-of-memory kill runs no clean-up: the next run removes what such a process left."""
    import os

    dead = tmp_path / "8x8-run-999999999-abc"  # no such process
    alive = tmp_path / f"8x8-run-{os.getppid()}-def"  # a process that is running
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "run.db").write_bytes(b"x")
    store = RunStore(folder=str(tmp_path))
    try:
        assert not dead.exists() and alive.exists() and store.folder.exists()
        assert store.folder.name.startswith(f"8x8-run-{os.getpid()}-")
    finally:
        store.close()


def test_the_transfer_process_caps_glibc_malloc_arenas(tmp_path):
    """Arena growth with many copy threads is what made RSS grow with the object count (benchmarks/README.md)."""
    import subprocess
    import sys

    code = (
        "import ctypes, ctypes.util, sys\n"
        "from airflow_provider_eightbyeight.transfer import malloc\n"
        "print(malloc.limit_arenas(), malloc.limit_arenas())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["True", "True"]  # glibc here: the cap is set once and stays
    chosen = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, "MALLOC_ARENA_MAX": "4"}, check=True
    )
    assert chosen.stdout.split() == ["False", "False"]  # the deployment's own choice is left alone
