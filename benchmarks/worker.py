"""
One measured configuration in a fresh process: ``python -m benchmarks.worker '<json spec>'``.

Kinds: ``ceiling`` (raw concurrent GETs, no verification, nothing written), ``plain`` (what a user writes
from 8x8's guides), ``objects`` / ``bulk`` (this provider's ``TransferEngine``), ``listing``
(``hook.iter_objects()`` only), ``operator`` (one task: ``EightByEightTransferOperator.execute()`` with
default settings unless ``workers`` is given; also times the first file at the destination).

Imports and setup happen first; then the RSS peak is reset, the emulator's counters are zeroed and the
clock starts; the transfer runs; then wall time, peak RSS growth, CPU of this process / the emulator / the
S3 server / the machine and the emulator's request counters are printed as one ``BENCH-RESULT {json}``
line, with the verification outcome.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.common import REGION, Meter, emit


def _load_truth(spec: dict[str, Any]) -> list[dict[str, Any]]:
    path = spec.get("truth")
    if not path:
        return []
    return list(json.loads(Path(path).read_text())["objects"])


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_") or "unnamed"


S3_CALLS: Counter[str] = Counter()


def count_s3_calls() -> None:
    """Count S3 API calls by operation (HeadObject, PutObject...) in botocore (boto3) and aiobotocore (s3fs)."""
    import botocore.endpoint

    sync_send = botocore.endpoint.Endpoint._send_request

    def counted(self: Any, request_dict: Any, operation_model: Any) -> Any:
        S3_CALLS[operation_model.name] += 1
        return sync_send(self, request_dict, operation_model)

    botocore.endpoint.Endpoint._send_request = counted
    try:
        import aiobotocore.endpoint
    except ImportError:
        return
    async_send = aiobotocore.endpoint.AioEndpoint._send_request

    async def async_counted(self: Any, request_dict: Any, operation_model: Any) -> Any:
        S3_CALLS[operation_model.name] += 1
        return await async_send(self, request_dict, operation_model)

    aiobotocore.endpoint.AioEndpoint._send_request = async_counted


def _s3_client(spec: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=spec["s3"]["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


# ---------------------------------------------------------------------------------------------- ceiling


def run_ceiling(spec: dict[str, Any], truth: list[dict[str, Any]], meter: Meter) -> dict[str, Any]:
    """
    ``threads`` threads, each with its own keep-alive HTTPConnection, ``readinto`` one preallocated buffer.

    With ``verify_write`` each thread also MD5s every piece and ``os.write``s it to a file of ``dest_dir``
    (the least a verifying copier must do: a bound for any client that hashes and writes).
    """
    emu = spec["emulator"]
    base = urlsplit(emu["base_url"])
    token_url = urlsplit(emu["token_url"])
    conn = http.client.HTTPConnection(token_url.hostname, token_url.port, timeout=60)
    basic = base64.b64encode(f"{emu['key']}:{emu['secret']}".encode()).decode()
    conn.request(
        "POST",
        token_url.path,
        body="grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    token = json.loads(conn.getresponse().read())["access_token"]
    conn.close()
    headers = {"Authorization": f"Bearer {token}"}
    verify_write = bool(spec.get("verify_write"))
    folder = str(spec.get("dest_dir") or ".")
    items = iter([(o["id"], int(o["size"]), o["md5"]) for o in truth])
    lock = threading.Lock()
    problems: list[str] = []
    mismatches: list[str] = []
    totals = {"objects": 0, "bytes": 0}

    def work() -> None:
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=600)
        view = memoryview(bytearray(1024 * 1024))
        done = size_sum = 0
        while True:
            with lock:
                item = next(items, None)
            if item is None:
                break
            object_id, size, md5 = item
            connection.request("GET", f"/storage/{REGION}/v3/objects/{object_id}/content", headers=headers)
            resp = connection.getresponse()
            got = 0
            if verify_write:
                digest = hashlib.md5(usedforsecurity=False)
                fd = os.open(os.path.join(folder, object_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    while count := resp.readinto(view):
                        digest.update(view[:count])
                        os.write(fd, view[:count])
                        got += count
                finally:
                    os.close(fd)
                if digest.hexdigest() != md5:
                    with lock:
                        mismatches.append(f"{object_id}: MD5 {digest.hexdigest()} != {md5}")
            else:
                while count := resp.readinto(view):
                    got += count
            if resp.status != 200 or got != size:
                with lock:
                    problems.append(f"{object_id}: HTTP {resp.status}, {got} of {size} bytes")
            done += 1
            size_sum += got
        connection.close()
        with lock:
            totals["objects"] += done
            totals["bytes"] += size_sum

    threads = [threading.Thread(target=work, name=f"ceiling-{i}") for i in range(int(spec.get("threads", 8)))]
    meter.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.stop()
    return {
        "objects": totals["objects"],
        "bytes": totals["bytes"],
        "verified": totals["objects"] - len(mismatches) if verify_write else 0,
        "verification": "MD5 of every piece vs the emulator's" if verify_write else "sizes only (nothing hashed)",
        "problems": problems,
        "md5_mismatches": mismatches,
    }


# ---------------------------------------------------------------------------------------------- plain


def run_plain(spec: dict[str, Any], truth: list[dict[str, Any]], meter: Meter) -> dict[str, Any]:
    """One token, sequential pages, then sequential ``requests.get`` + write + MD5 check per object."""
    import requests

    emu = spec["emulator"]
    base = emu["base_url"]
    s3 = _s3_client(spec) if spec["dest"] == "s3" else None
    bucket = spec["s3"]["bucket"] if s3 else None
    prefix = spec["s3"]["prefix"] if s3 else None
    folder = str(spec.get("dest_dir") or ".")
    mismatches: list[str] = []
    problems: list[str] = []
    done = size_sum = 0
    s3_before = Counter(S3_CALLS)
    meter.start()
    resp = requests.post(
        emu["token_url"], auth=(emu["key"], emu["secret"]), data={"grant_type": "client_credentials"}, timeout=60
    )
    resp.raise_for_status()
    token = resp.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listing: list[dict[str, Any]] = []
    page_key: Any = 0
    while True:
        resp = requests.get(
            f"{base}/storage/{REGION}/v3/objects",
            params={"pageKey": page_key, "limit": 100},
            headers=headers,
            timeout=60,
        )
        resp.raise_for_status()
        body = resp.json()
        listing.extend(body["content"])
        if body["lastPage"]:
            break
        page_key = body["pageKey"]
    for item in listing:
        resp = requests.get(f"{base}/storage/{REGION}/v3/objects/{item['id']}/content", headers=headers, timeout=600)
        resp.raise_for_status()
        data = resp.content
        name = f"{item['id']}_{_safe(item['objectName'])}"
        if s3 is not None:
            put = s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data)
            etag = put.get("ETag", "").strip('"')
            if etag and etag != item["checksum"]:
                mismatches.append(f"{item['id']}: S3 ETag {etag} != checksum {item['checksum']}")
        else:
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(data)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if md5 != item["checksum"]:
            mismatches.append(f"{item['id']}: MD5 {md5} != checksum {item['checksum']}")
        done += 1
        size_sum += len(data)
        del data, resp
    meter.stop()
    s3_calls = dict(S3_CALLS - s3_before)
    truth_md5 = {o["id"]: o["md5"] for o in truth}
    for item in listing:
        if truth_md5.get(item["id"]) != item["checksum"]:
            mismatches.append(f"{item['id']}: listed checksum differs from the emulator's MD5")
    if len(listing) != len(truth):
        problems.append(f"listed {len(listing)} objects, the emulator holds {len(truth)}")
    return {
        "objects": done,
        "bytes": size_sum,
        "verified": done - len(mismatches),
        "verification": "MD5 of the bytes written vs the listing's checksum",
        "s3_calls": s3_calls if s3 is not None else None,
        "problems": problems,
        "md5_mismatches": mismatches,
    }


# ---------------------------------------------------------------------------------------------- ours


def _engine(spec: dict[str, Any]) -> tuple[Any, Any]:
    os.environ["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"] = spec["emulator"]["connection_uri"]
    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
    from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions

    for name in ("airflow_provider_eightbyeight", "airflow.task.hooks"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if spec["dest"] == "s3":
        destination = f"s3://aws_moto@{spec['s3']['bucket']}/{spec['s3']['prefix']}/"
    else:
        destination = Path(spec["dest_dir"]).as_uri() + "/"
    hook = EightByEightHook()
    engine = TransferEngine(hook, destination, TransferOptions(max_workers=int(spec.get("workers", 8))))
    if spec["dest"] == "s3":
        # Setup before the clock starts: the filesystem object (imports s3fs), and the hook-lineage collector
        # that ObjectStoragePath.open() builds on first use (it loads Airflow's plugins: ~0.3 s, once).
        _ = engine.root.fs
        try:
            from airflow.sdk.lineage import get_hook_lineage_collector

            get_hook_lineage_collector()
        except Exception:  # only a warm-up
            pass
    return hook, engine


def _profiled(spec: dict[str, Any], engine_cls: Any) -> tuple[Any, Any]:
    """Profile every copy_one call in its own thread (pyinstrument profiles one thread per profiler)."""
    from pyinstrument import Profiler

    sessions: list[Any] = []
    lock = threading.Lock()
    original = engine_cls.copy_one
    interval = float(spec["profile"].get("interval", 0.001))

    def copy_one(self: Any, planned: Any, progress: Any = None) -> Any:
        profiler = Profiler(interval=interval)
        profiler.start()
        try:
            return original(self, planned, progress)
        finally:
            profiler.stop()
            with lock:
                sessions.append(profiler.last_session)

    engine_cls.copy_one = copy_one
    main = Profiler(interval=interval)
    return main, sessions


def _write_profile(spec: dict[str, Any], main: Any, sessions: list[Any]) -> None:
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    out = Path(spec["profile"]["path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tree = ConsoleRenderer(unicode=True, color=False, show_all=False, time="seconds")
    flat = ConsoleRenderer(unicode=True, color=False, flat=True, flat_time="self", time="percent_of_total")
    header = (
        f"# pyinstrument profile: {spec['kind']} strategy, {spec.get('workers')} workers, {spec['dest']} destination"
    )
    if not sessions:  # the bulk strategy works in the main thread
        text = [header, "", "## Main thread: flat, self time", flat.render(main.last_session)]
        text += ["## Main thread: call tree", tree.render(main.last_session)]
        out.write_text("\n".join(text))
        main.last_session.save(str(out.with_suffix(".pyisession")))
        return
    # One tree for all worker threads: drop the per-thread root frame, then concatenate the samples.
    records = [
        ([frame for frame in stack if "\x00<thread>\x00" not in frame], seconds)
        for session in sessions
        for stack, seconds in session.frame_records
    ]
    first = sessions[0]
    workers = Session(
        frame_records=records,
        start_time=min(s.start_time for s in sessions),
        duration=sum(s.duration for s in sessions),
        min_interval=min(s.min_interval for s in sessions),
        max_interval=max(s.max_interval for s in sessions),
        sample_count=sum(s.sample_count for s in sessions),
        start_call_stack=first.start_call_stack,
        target_description=f"{len(sessions)} copy_one calls",
        cpu_time=sum(s.cpu_time or 0 for s in sessions),
        sys_path=first.sys_path,
        sys_prefixes=first.sys_prefixes,
    )
    text = [
        header,
        f"# {len(sessions)} copy_one calls, each profiled in its worker thread (wall time summed over threads),",
        "# plus the main thread (listing, planning, manifest). Wall time: a C call's self time includes waiting",
        f"# for the GIL after it returns. Sampling interval {spec['profile'].get('interval', 0.001)} s.",
        "",
        "## Worker threads: flat, self time (top of list = hottest)",
        flat.render(workers),
        "## Worker threads: call tree (all threads merged)",
        tree.render(workers),
        "## Main thread: call tree",
        tree.render(main.last_session),
    ]
    out.write_text("\n".join(text))
    workers.save(str(out.with_suffix(".pyisession")))


def run_ours(spec: dict[str, Any], truth: list[dict[str, Any]], meter: Meter) -> dict[str, Any]:
    """``TransferEngine.run`` (objects) or ``run_bulk`` (bulk) over ``hook.iter_objects()``."""
    hook, engine = _engine(spec)
    profiling = None
    if spec.get("profile"):
        profiling = _profiled(spec, type(engine))
        profiling[0].start()
    s3_before = Counter(S3_CALLS)
    meter.start()
    if spec["kind"] == "bulk":
        summary = engine.run_bulk(hook.iter_objects(), poll_interval=0.2, timeout=600)
    else:
        summary = engine.run(hook.iter_objects())
    meter.stop()
    s3_calls = dict(S3_CALLS - s3_before)
    if profiling is not None:
        profiling[0].stop()
        _write_profile(spec, *profiling)
    truth_by_id = {o["id"]: o for o in truth}
    mismatches: list[str] = []
    problems: list[str] = []
    if summary.failed:
        problems.append(f"{summary.failed} failed: {list(summary.failures.items())[:5]}")
    if summary.copied != len(truth):
        problems.append(f"copied {summary.copied} of {len(truth)} objects")
    for record in summary.records:
        want = truth_by_id.get(record.id)
        if want is None:
            problems.append(f"{record.id}: not an object of the emulator")
        elif record.status == "copied" and (record.md5 != want["md5"] or record.size != want["size"]):
            mismatches.append(f"{record.id}: copied MD5 {record.md5} ({record.size} B) != {want['md5']}")
        elif record.status == "copied" and not record.verified:
            problems.append(f"{record.id}: copied but not verified")
    found, found_bytes = _destination_contents(spec)
    if found != len(truth) or found_bytes != sum(int(o["size"]) for o in truth):
        problems.append(f"destination holds {found} files / {found_bytes} B, expected {len(truth)}")
    return {
        "objects": summary.copied,
        "bytes": summary.bytes_copied,
        "verified": sum(1 for r in summary.records if r.status == "copied" and r.verified),
        "verification": "engine verifies size + MD5 itself; its MD5s re-checked against the emulator's",
        "failed": summary.failed,
        "hook_stats": hook.stats.as_dict(),
        "summary_requests": summary.requests,
        "s3_calls": s3_calls if spec["dest"] == "s3" else None,
        "problems": problems,
        "md5_mismatches": mismatches,
    }


def _destination_contents(spec: dict[str, Any]) -> tuple[int, int]:
    """Files and bytes at the destination, manifests excluded (no temporary part files may remain)."""
    count = size = 0
    if spec["dest"] == "s3":
        client = _s3_client(spec)
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=spec["s3"]["bucket"], Prefix=spec["s3"]["prefix"] + "/"):
            for item in page.get("Contents", []):
                if "/_manifests/" not in item["Key"]:
                    count += 1
                    size += int(item["Size"])
        return count, size
    for root, dirs, files in os.walk(spec["dest_dir"]):
        dirs[:] = [d for d in dirs if d != "_manifests"]
        for name in files:
            count += 1
            size += os.path.getsize(os.path.join(root, name))
    return count, size


# ---------------------------------------------------------------------------------------------- listing


def run_listing(spec: dict[str, Any], truth: list[dict[str, Any]], meter: Meter) -> dict[str, Any]:
    """Iterate ``hook.iter_objects()`` over every object, keeping nothing."""
    os.environ["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"] = spec["emulator"]["connection_uri"]
    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook

    hook = EightByEightHook()
    count = size = 0
    meter.start()
    for obj in hook.iter_objects():
        count += 1
        size += obj.size or 0
    meter.stop()
    problems = []
    if count != int(spec["expected_objects"]):
        problems.append(f"listed {count} objects, expected {spec['expected_objects']}")
    return {
        "objects": count,
        "bytes": size,
        "verified": 0,
        "hook_stats": hook.stats.as_dict(),
        "problems": problems,
        "md5_mismatches": [],
    }


# ---------------------------------------------------------------------------------------------- operator


class _TaskInstance:
    """What the transfer operator uses of a task instance (ids for the manifest's name, XCom for resume)."""

    dag_id, task_id, run_id, map_index = "bench", "copy", "bench_run", -1

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.store[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str | None = None, map_indexes: Any = None, **_: Any) -> Any:
        return self.store.get(str(key))


class FirstFileWatcher:
    """
    The time from ``start()`` to the first published file under ``root``: a thread scans the tree every
    ``interval`` seconds (ignoring hidden temporary files and ``_manifests``) until it finds one, then stops.
    With ``stop_process`` it prints the result line and ends the process right there (the rest of the
    copy is not needed to know when the first object landed).
    """

    def __init__(self, root: str, meter: Meter, interval: float = 0.002, stop_process: bool = False) -> None:
        self.root = root
        self.meter = meter
        self.interval = interval
        self.stop_process = stop_process
        self.seconds: float | None = None
        self.path: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="first-file", daemon=True)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _find(self, folder: str) -> str | None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return None
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "_manifests":
                continue
            if entry.is_file(follow_symlinks=False):
                return entry.path
        for entry in entries:
            if not entry.name.startswith(".") and entry.name != "_manifests" and entry.is_dir(follow_symlinks=False):
                found = self._find(entry.path)
                if found:
                    return found
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            found = self._find(self.root)
            if found:
                self.seconds = time.perf_counter() - self._t0
                self.path = found
                if self.stop_process:
                    self._finish_early()
                return
            self._stop.wait(self.interval)

    def _finish_early(self) -> None:
        out = self.meter.stop()
        out.update(
            objects=0,
            bytes=0,
            verified=0,
            stopped_after_first_object=True,
            first_object_seconds=self.seconds,
            first_object_path=os.path.relpath(str(self.path), self.root),
            problems=[],
            md5_mismatches=[],
            kind="operator",
            pid=os.getpid(),
        )
        emit(out)
        os._exit(0)


class AllocationTracer:
    """
    tracemalloc while the task runs: snapshots whenever traced memory passes 1.25x the last snapshot's,
    so the last snapshot is close to the peak; afterwards its top allocations by line and by traceback.
    """

    def __init__(self, frames: int = 6, interval: float = 0.25) -> None:
        self.frames = frames
        self.interval = interval
        self.snapshot: Any = None
        self.snapshot_mb = 0.0
        self.snapshots = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracer", daemon=True)

    def start(self) -> None:
        tracemalloc.start(self.frames)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            current = tracemalloc.get_traced_memory()[0] / 1e6
            if current > max(2.0, self.snapshot_mb * 1.25):
                self.snapshot = tracemalloc.take_snapshot()
                self.snapshot_mb = tracemalloc.get_traced_memory()[0] / 1e6
                self.snapshots += 1

    def stop(self, top: int = 15) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        at_end = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        exclude = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")]
        out: dict[str, Any] = {
            "traced_peak_mb": round(peak / 1e6, 1),
            "traced_at_end_mb": round(current / 1e6, 1),
            "snapshots": self.snapshots,
        }
        for label, taken in (("near_peak", self.snapshot), ("at_end", at_end)):
            if taken is None:
                continue
            snap = taken.filter_traces(exclude)
            by_line = snap.statistics("lineno")
            out[label] = {
                "traced_mb": round(sum(s.size for s in by_line) / 1e6, 1),
                "by_line": [
                    {
                        "where": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
                        "mb": round(s.size / 1e6, 2),
                        "count": s.count,
                    }
                    for s in by_line[:top]
                ],
                "by_traceback": [
                    {
                        "mb": round(s.size / 1e6, 2),
                        "count": s.count,
                        "stack": [f"{_short(f.filename)}:{f.lineno}" for f in s.traceback][-8:],
                    }
                    for s in snap.statistics("traceback")[:6]
                ],
            }
        return out


def _short(filename: str) -> str:
    for marker in ("airflow_provider_eightbyeight/", "site-packages/", "lib/python3.11/"):
        if marker in filename:
            return filename[filename.index(marker) :].replace("site-packages/", "").replace("lib/python3.11/", "")
    return filename


def run_operator(spec: dict[str, Any], truth: list[dict[str, Any]], meter: Meter) -> dict[str, Any]:
    """
    One task: ``EightByEightTransferOperator(destination=..., [max_workers=N]).execute(context)``, every other
    setting at its default, like a DAG's task. Verified afterwards from its manifest and the destination.
    """
    os.environ["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"] = spec["emulator"]["connection_uri"]
    from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator

    kwargs: dict[str, Any] = {}
    if spec.get("workers"):
        kwargs["max_workers"] = int(spec["workers"])
    dest_dir = spec["dest_dir"]
    operator = EightByEightTransferOperator(task_id="copy", destination=Path(dest_dir).as_uri() + "/", **kwargs)
    context: dict[str, Any] = {"ti": _TaskInstance()}
    watcher = FirstFileWatcher(dest_dir, meter, stop_process=bool(spec.get("stop_after_first")))
    tracer = AllocationTracer() if spec.get("trace") else None
    if tracer is not None:
        tracer.start()
    started_wall = time.time()
    rerun = bool(spec.get("rerun"))  # files are there already: no first file to wait for
    meter.start()
    if not rerun:
        watcher.start()
    summary = operator.execute(context)  # type: ignore[arg-type]
    meter.stop()
    if not rerun:
        watcher.stop()
    traced = tracer.stop() if tracer is not None else None
    expected = int(spec["expected_objects"])
    problems: list[str] = []
    mismatches: list[str] = []
    if summary.get("failed") or summary.get("not_ready"):
        problems.append(f"{summary.get('failed')} failed, {summary.get('not_ready')} not ready: {summary['failures']}")
    done = summary["skipped"] if rerun else summary["copied"]
    if done != expected:
        problems.append(f"{'skipped' if rerun else 'copied'} {done} of {expected} objects ({summary})")
    statuses: Counter[str] = Counter()
    verified = 0
    ids: set[str] = set()
    manifests = _manifests_of_run(summary, dest_dir, started_wall)
    for manifest in manifests:
        with manifest.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                statuses[record["status"]] += 1
                ids.add(record["id"])
                if record["status"] != "copied":
                    continue
                if record.get("md5") != record.get("checksum") or not record.get("verified"):
                    got, want, ok = record.get("md5"), record.get("checksum"), record.get("verified")
                    mismatches.append(f"{record['id']}: MD5 {got} vs checksum {want}, verified {ok}")
                else:
                    verified += 1
    if not manifests:
        problems.append("no manifest")
    if len(ids) != expected:
        problems.append(f"the manifest names {len(ids)} distinct objects, expected {expected}")
    truth_by_id = {o["id"]: o for o in truth}
    if truth_by_id and set(truth_by_id) != ids:
        problems.append("the manifest's objects are not the emulator's")
    found, found_bytes, hidden = _local_tree(dest_dir)
    if found != expected:
        problems.append(f"destination holds {found} files, expected {expected}")
    if hidden:
        problems.append(f"{hidden} hidden (temporary) files left at the destination")
    return {
        "objects": expected if rerun else summary["copied"],
        "bytes": found_bytes if rerun else summary["bytes_copied"],
        "copied": summary["copied"],
        "skipped": summary["skipped"],
        "max_workers": operator.max_workers,
        "manifest_statuses": dict(statuses),
        "summary_requests": summary.get("requests"),
        "verified": verified,
        "verification": "manifest: every copied record verified with MD5 = the listing's checksum; files counted",
        "first_object_seconds": watcher.seconds,
        "first_object_path": os.path.relpath(watcher.path, dest_dir) if watcher.path else None,
        "tracemalloc": traced,
        "problems": problems,
        "md5_mismatches": mismatches,
    }


def _manifests_of_run(summary: dict[str, Any], dest_dir: str, since: float) -> list[Path]:
    """The manifest the summary names, else every manifest file written under ``_manifests`` since ``since``."""
    named = summary.get("manifest")
    if named:
        path = Path(str(named).removeprefix("file://"))
        if path.is_file():
            return [path]
    folder = Path(dest_dir) / "_manifests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime >= since - 1)


def _local_tree(root: str) -> tuple[int, int, int]:
    """Published files and their bytes under ``root`` (manifests excluded), and hidden files left there."""
    count = size = hidden = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "_manifests"]
        for name in files:
            if name.startswith("."):
                hidden += 1
                continue
            count += 1
            size += os.path.getsize(os.path.join(folder, name))
    return count, size, hidden


RUNNERS = {
    "ceiling": run_ceiling,
    "plain": run_plain,
    "objects": run_ours,
    "bulk": run_ours,
    "listing": run_listing,
    "operator": run_operator,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    made_dir = False
    if (
        spec.get("dest") == "local"
        and not spec.get("dest_dir")
        and spec["kind"] in ("plain", "objects", "bulk", "operator")
    ):
        spec["dest_dir"] = tempfile.mkdtemp(prefix=f"8x8-bench-{spec['kind']}-", dir=spec.get("tmp_root", "/tmp"))
        made_dir = True
    try:
        if spec.get("dest") == "s3":
            count_s3_calls()
        truth = _load_truth(spec)
        emu = spec["emulator"]
        meter = Meter(emu["base_url"], emu.get("pid"), (spec.get("s3") or {}).get("pid"))
        started = time.time()
        result = RUNNERS[spec["kind"]](spec, truth, meter)
        result.update(meter.result)
        result["kind"] = spec["kind"]
        result["started"] = started
        result["pid"] = os.getpid()
        emit(result)
    finally:
        if made_dir:
            shutil.rmtree(spec["dest_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
