"""
The benchmark: ``python -m benchmarks.run [--repeat 3] [--workloads a,b,c] [--quick]`` (``make bench``).

Starts the 8x8 emulator (fixed seed) in its own process per workload, moto's S3 server for the S3
destination, and runs every configuration -- ceiling, plain client, ours (objects strategy at 1/4/8/16
workers, bulk strategy) -- in a fresh worker process each, repetitions interleaved. Prints a table of
medians, checks the targets, writes ``benchmarks/results/latest.json`` (and ``latest.md``). Exits 1 if
any MD5 did not match (or a run failed / could not be verified); a missed target is only reported.
See README.md for the columns.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import scale as scale_tables
from benchmarks.common import (
    free_port,
    proc_status_kb,
    wait_for_port,
)
from benchmarks.harness import (
    MB,
    ROOT,
    SEED,
    VERIFYING_CEILING,
    EmulatorProcess,
    ground_truth,
    run_worker,
    terminate,
)

RESULTS = Path(__file__).resolve().parent / "results"
WORKER_COUNTS = (1, 4, 8, 16)


def search_allowance(objects: int) -> int:
    """The most search requests a listing of ``objects`` may take: ceil(N/100), plus 2% (+1) for keyset restarts."""
    pages = math.ceil(objects / 100)
    return pages + math.ceil(pages * 0.02) + 1


MIB = 1024 * 1024
BULK_SKIPPED_C = (
    "bulk skipped for (c): one object gains nothing from a zip (one content request either way), while a bulk "
    "job would add the job wait, write the bytes twice (zip to a temp file, then extract) and need the whole 2 GiB "
    "per-job limit; strategy='auto' picks the objects strategy for it"
)


@dataclass(frozen=True)
class Workload:
    """One data set served by one emulator process."""

    name: str
    title: str
    objects: int = 0
    size_range: tuple[int, int] = (0, 0)
    extra_sizes: tuple[int, ...] = ()
    s3: bool = False
    bulk: bool = True
    repeat: int | None = None

    def spec(self, latency: float = 0.0) -> dict[str, Any]:
        return {
            "seed": SEED,
            "objects": self.objects,
            "size_range": list(self.size_range),
            "extra_sizes": list(self.extra_sizes),
            "bulk_delay": 0.5,
            "latency": latency,
        }


FULL = {
    "a": Workload("a", "2,000 objects of 50 KB-1 MB", 2000, (50_000, 1_000_000), s3=True),
    "b": Workload("b", "200 objects of 5-20 MB", 200, (5_000_000, 20_000_000)),
    "c": Workload("c", "one 2 GiB object", 0, (0, 0), (2 * 1024**3,), bulk=False),
}
QUICK = {
    "a": Workload("a", "200 objects of 50-200 KB (quick)", 200, (50_000, 200_000), s3=True),
    "b": Workload("b", "20 objects of 1-2 MB (quick)", 20, (1_000_000, 2_000_000)),
    "c": Workload("c", "one 64 MiB object (quick)", 0, (0, 0), (64 * MIB,), bulk=False),
}
LISTING_FULL = (10_000, 100_000)
LISTING_QUICK = (1_000, 10_000)


@dataclass
class Measurement:
    """One configuration of one workload, with its repetitions."""

    workload: str
    dest: str
    label: str
    kind: str
    workers: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- processes


class MotoServer:
    """moto's S3 server on a free loopback port, with one bucket."""

    bucket = "bench-8x8"
    #: Restart the server when it holds more than this (it keeps freed memory; seen: 6 GB after 18 runs).
    max_rss_mb = 1024

    def __init__(self) -> None:
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        server = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.port, 60):
            self.stop()
            raise RuntimeError("moto_server did not start")
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        self.client.create_bucket(Bucket=self.bucket)

    @property
    def conn_env(self) -> str:
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            }
        )

    def empty_bucket(self) -> int:
        """Delete every object of the bucket (moto keeps them in memory); how many were deleted."""
        deleted = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True})
                deleted += len(keys[i : i + 1000])
        return deleted

    def rss_mb(self) -> float:
        """The server's resident memory."""
        try:
            return proc_status_kb(self.proc.pid)["VmRSS"] / 1024
        except (OSError, KeyError):
            return 0.0

    def restart_if_bloated(self) -> bool:
        """A fresh server (new port, empty bucket) if this one holds more than ``max_rss_mb``."""
        if self.rss_mb() <= self.max_rss_mb:
            return False
        self.stop()
        self._start()
        self.restarts += 1
        return True

    def stop(self) -> None:
        terminate(self.proc)


# ------------------------------------------------------------------------------------------- measuring


def configurations(workload: Workload, use_s3: bool) -> list[Measurement]:
    """Everything measured on one workload, in the order of one repetition."""
    out = [Measurement(workload.name, "-", "ceiling", "ceiling")]
    out.append(Measurement(workload.name, "local", VERIFYING_CEILING, "ceiling", extra={"verify_write": True}))
    for dest in ("local", "s3") if workload.s3 and use_s3 else ("local",):
        out.append(Measurement(workload.name, dest, "plain", "plain"))
        out.extend(Measurement(workload.name, dest, f"ours objects x{n}", "objects", n) for n in WORKER_COUNTS)
        if workload.bulk:
            out.append(Measurement(workload.name, dest, "ours bulk x8", "bulk", 8))
    return out


def measure_workload(
    workload: Workload,
    repeat: int,
    args: argparse.Namespace,
    env: dict[str, str],
    moto: MotoServer | None,
    scratch: Path,
) -> tuple[list[Measurement], dict[str, Any]]:
    started = time.monotonic()
    print(f"\n== workload ({workload.name}): {workload.title}; {repeat} repetition(s)", flush=True)
    emulator = EmulatorProcess(workload.spec(args.latency_ms / 1000), env)
    try:
        info = emulator.info
        truth_path = scratch / f"truth-{workload.name}.json"
        truth = ground_truth(info["base_url"], truth_path)
        total_bytes = sum(int(o["size"]) for o in truth)
        print(
            f"   emulator pid {info['pid']} at {info['base_url']} ready in {info['startup_seconds']} s: "
            f"{len(truth)} objects, {total_bytes / MB:.1f} MB",
            flush=True,
        )
        measurements = configurations(workload, moto is not None)
        for rep in range(repeat):
            # a different (seeded) order in every repetition: no configuration always runs after the same one
            order = list(measurements)
            random.Random(f"{SEED}:{workload.name}:{rep}").shuffle(order)
            for m in order:
                spec: dict[str, Any] = {
                    "kind": m.kind,
                    "dest": m.dest if m.dest != "-" else "none",
                    "workers": m.workers,
                    "threads": args.ceiling_threads,
                    "emulator": info,
                    "truth": str(truth_path),
                    **m.extra,
                }
                dest_dir = None
                if m.dest == "local":
                    dest_dir = tempfile.mkdtemp(prefix="8x8-bench-", dir=args.tmp_root)
                    spec["dest_dir"] = dest_dir
                if m.dest == "s3" and moto is not None:
                    spec["s3"] = {
                        "endpoint": moto.endpoint,
                        "bucket": moto.bucket,
                        "prefix": f"run-{workload.name}-{rep}-{m.kind}-{m.workers or 0}",
                        "pid": moto.proc.pid,
                    }
                try:
                    result, error = run_worker(spec, env, args.timeout)
                finally:
                    if dest_dir:
                        shutil.rmtree(dest_dir, ignore_errors=True)
                    if m.dest == "s3" and moto is not None:
                        moto.empty_bucket()
                        if moto.restart_if_bloated():
                            env["AIRFLOW_CONN_AWS_MOTO"] = moto.conn_env
                if result is None:
                    m.errors.append(error)
                    print(f"   [{rep + 1}/{repeat}] {m.dest:5} {m.label:18} ERROR {error}", flush=True)
                    continue
                m.results.append(result)
                bad = len(result["md5_mismatches"]) + len(result["problems"])
                print(
                    f"   [{rep + 1}/{repeat}] {m.dest:5} {m.label:18} {result['seconds']:8.2f} s "
                    f"{result['bytes'] / MB / result['seconds']:8.1f} MB/s  RSS +{result['rss_growth_mb']:.1f} MB  "
                    f"emu CPU {result.get('emulator_cpu_pct', 0):.0f}%  client CPU {result['client_cpu_pct']:.0f}% "
                    f"(sys {result['client_sys_cpu_pct']:.0f}%)  iowait {result['machine_iowait_pct']:.0f}%"
                    + (f"  PROBLEMS {bad}" if bad else ""),
                    flush=True,
                )
    finally:
        emulator.stop()
    meta = {
        "title": workload.title,
        "objects": len(truth),
        "bytes": total_bytes,
        "repeat": repeat,
        "emulator_startup_seconds": info["startup_seconds"],
        "s3_server_restarts": moto.restarts if moto is not None else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    if not workload.bulk:
        meta["bulk_skipped"] = BULK_SKIPPED_C
        print(f"   {BULK_SKIPPED_C}", flush=True)
    return measurements, meta


def measure_listing(sizes: tuple[int, ...], args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, Any]]:
    print(f"\n== listing: hook.iter_objects() over {' and '.join(f'{n:,}' for n in sizes)} objects", flush=True)
    rows = []
    for n in sizes:
        spec = {"seed": SEED, "objects": n, "size_range": [1000, 2000], "latency": args.latency_ms / 1000}
        emulator = EmulatorProcess(spec, env)
        try:
            result, error = run_worker(
                {"kind": "listing", "emulator": emulator.info, "expected_objects": n, "dest": "none"},
                env,
                args.timeout,
            )
        finally:
            emulator.stop()
        row: dict[str, Any] = {"objects": n, "expected_search_requests": math.ceil(n / 100), "error": error}
        if result is not None:
            routes = result["emulator"]["requests"]
            row.update(
                listed=result["objects"],
                seconds=round(result["seconds"], 2),
                objects_per_s=round(result["objects"] / result["seconds"], 1),
                rss_growth_mb=result["rss_growth_mb"],
                rss_before_mb=result["rss_before_mb"],
                search_requests=routes.get("search", 0),
                regions_requests=routes.get("regions", 0),
                token_requests=result["emulator"]["token_requests"],
                emulator_cpu_pct=result.get("emulator_cpu_pct"),
                client_cpu_pct=result["client_cpu_pct"],
                problems=result["problems"],
            )
            print(
                f"   {n:>7,} objects: {row['seconds']:.2f} s, RSS +{row['rss_growth_mb']:.1f} MB, "
                f"{row['search_requests']} search requests (expected {row['expected_search_requests']})",
                flush=True,
            )
        else:
            print(f"   {n:>7,} objects: ERROR {error}", flush=True)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------- summarising


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(measurements: list[Measurement], meta: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for m in measurements:
        results = m.results
        row: dict[str, Any] = {
            "workload": m.workload,
            "dest": m.dest,
            "config": m.label,
            "kind": m.kind,
            "workers": m.workers,
            "runs": len(results),
            "errors": m.errors,
        }
        if results:
            n = meta[m.workload]["objects"]
            seconds = [r["seconds"] for r in results]
            routes = [r["emulator"]["requests"] for r in results]
            row.update(
                seconds=round(statistics.median(seconds), 3),
                seconds_all=[round(s, 3) for s in seconds],
                objects_per_s=round(statistics.median([r["objects"] / r["seconds"] for r in results]), 1),
                mb_per_s=round(statistics.median([r["bytes"] / MB / r["seconds"] for r in results]), 1),
                rss_growth_mb=round(statistics.median([r["rss_growth_mb"] for r in results]), 1),
                rss_growth_mb_max=max(r["rss_growth_mb"] for r in results),
                requests_per_object=round(statistics.median([r["emulator"]["total_requests"] for r in results]) / n, 3)
                if n
                else None,
                total_requests=[r["emulator"]["total_requests"] for r in results],
                token_requests=[r["emulator"]["token_requests"] for r in results],
                search_requests=[x.get("search", 0) for x in routes],
                regions_requests=[x.get("regions", 0) for x in routes],
                content_requests=[x.get("content", 0) for x in routes],
                other_requests={
                    k: max(x.get(k, 0) for x in routes)
                    for k in sorted({k for x in routes for k in x})
                    if k not in ("search", "regions", "content", "token")
                },
                emulator_cpu_pct=_median(results, "emulator_cpu_pct"),
                client_cpu_pct=_median(results, "client_cpu_pct"),
                client_sys_cpu_pct=_median(results, "client_sys_cpu_pct"),
                s3_server_cpu_pct=_median(results, "s3_server_cpu_pct") if m.dest == "s3" else None,
                s3_calls_per_object=round(
                    statistics.median([sum((r.get("s3_calls") or {}).values()) for r in results]) / n, 2
                )
                if m.dest == "s3" and n
                else None,
                s3_calls=results[-1].get("s3_calls"),
                machine_cpu_pct=_median(results, "machine_cpu_pct"),
                machine_iowait_pct=_median(results, "machine_iowait_pct"),
                md5_mismatches=sum(len(r["md5_mismatches"]) for r in results),
                problems=[p for r in results for p in r["problems"]][:20],
                verified=[r["verified"] for r in results],
            )
        rows.append(row)
    # ratios, from medians of the same run
    for row in rows:
        if "mb_per_s" not in row:
            continue
        plain = _find(rows, row["workload"], row["dest"], "plain")
        ceiling = _find(rows, row["workload"], "-", "ceiling")
        row["x_plain"] = round(row["mb_per_s"] / plain["mb_per_s"], 2) if plain and row["dest"] != "-" else None
        row["x_ceiling"] = round(row["mb_per_s"] / ceiling["mb_per_s"], 2) if ceiling else None
    return rows


def _find(rows: list[dict[str, Any]], workload: str, dest: str, config: str) -> dict[str, Any] | None:
    for row in rows:
        if row["workload"] == workload and row["dest"] == dest and row["config"] == config and "mb_per_s" in row:
            return row
    return None


def _best_objects(rows: list[dict[str, Any]], workload: str, dest: str) -> dict[str, Any] | None:
    candidates = [
        r
        for r in rows
        if r["workload"] == workload and r["dest"] == dest and r["kind"] == "objects" and "mb_per_s" in r
    ]
    return max(candidates, key=lambda r: r["mb_per_s"]) if candidates else None


def check_targets(
    rows: list[dict[str, Any]], listing: list[dict[str, Any]], meta: dict[str, dict[str, Any]], quick: bool
) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        targets.append(
            {"target": name, "status": "n/a" if ok is None else ("PASS" if ok else "FAIL"), "detail": detail}
        )

    for w in meta:
        for dest in ("local", "s3"):
            best = _best_objects(rows, w, dest)
            if best is None:
                continue
            where = f"({w}) {dest}"
            if w == "a":
                plain = _find(rows, w, dest, "plain")
                ratio = best.get("x_plain")
                add(
                    f"objects strategy at its best worker count >= 5x plain on {where}",
                    ratio is not None and ratio >= 5,
                    f"best: {best['config']} {best['mb_per_s']} MB/s vs plain {plain and plain['mb_per_s']} MB/s = "
                    f"{ratio}x",
                )
            if w in ("a", "b"):
                ratio = best.get("x_ceiling")
                ceiling = _find(rows, w, "-", "ceiling")
                bound = _find(rows, w, "local", VERIFYING_CEILING)
                add(
                    f"objects strategy at its best worker count >= 0.7x ceiling on {where}",
                    ratio is not None and ratio >= 0.7,
                    f"best: {best['config']} {best['mb_per_s']} MB/s vs ceiling {ceiling and ceiling['mb_per_s']} MB/s "
                    f"= {ratio}x"
                    + (
                        f" (vs {VERIFYING_CEILING} {bound['mb_per_s']} MB/s: "
                        f"{best['mb_per_s'] / bound['mb_per_s']:.2f}x)"
                        if bound
                        else ""
                    ),
                )
            bulk = _find(rows, w, dest, "ours bulk x8")
            if w == "a" and bulk is not None:
                add(
                    f"bulk >= objects on {where}",
                    bulk["mb_per_s"] >= best["mb_per_s"],
                    f"bulk {bulk['mb_per_s']} MB/s ({bulk['seconds']} s) vs best objects {best['config']} "
                    f"{best['mb_per_s']} MB/s ({best['seconds']} s) = {bulk['mb_per_s'] / best['mb_per_s']:.2f}x",
                )
    if "c" in meta:
        ours_c = [r for r in rows if r["workload"] == "c" and r["kind"] == "objects" and "mb_per_s" in r]
        if ours_c:
            worst = max(r["rss_growth_mb_max"] for r in ours_c)
            size = meta["c"]["bytes"] / MIB
            add(
                f"peak RSS growth copying the {size:,.0f} MiB object <= 64 MB (worst of every run and worker count)",
                worst <= 64,
                "; ".join(f"{r['config']}: max {r['rss_growth_mb_max']} MB" for r in ours_c),
            )
    ok_listing = [r for r in listing if "rss_growth_mb" in r]
    if len(ok_listing) >= 2:
        small, big = ok_listing[0], ok_listing[-1]
        grew = big["rss_growth_mb"] - small["rss_growth_mb"]
        add(
            f"listing {big['objects']:,} objects keeps memory flat",
            grew < 4 and big["listed"] == big["objects"],
            f"RSS growth {small['rss_growth_mb']} MB for {small['objects']:,} vs {big['rss_growth_mb']} MB for "
            f"{big['objects']:,} objects (difference {grew:.1f} MB; 10x the objects)",
        )
    # requests
    bad_search, bad_content, bad_token = [], [], []
    for row in rows:
        if row["kind"] not in ("objects", "bulk") or "mb_per_s" not in row:
            continue
        n = meta[row["workload"]]["objects"]
        name = f"({row['workload']}) {row['dest']} {row['config']}"
        if any(s != math.ceil(n / 100) for s in row["search_requests"]) or any(r > 1 for r in row["regions_requests"]):
            bad_search.append(f"{name}: search {row['search_requests']}, regions {row['regions_requests']}")
        if row["kind"] == "objects" and any(c != n for c in row["content_requests"]):
            bad_content.append(f"{name}: content {row['content_requests']} for {n} objects")
        if any(t != 1 for t in row["token_requests"]):
            bad_token.append(f"{name}: token {row['token_requests']}")
    for row in ok_listing:
        name = f"listing {row['objects']:,}"
        # keyset paging restarts each page at the last createdTime seen: ~1% more pages than ceil(N/100)
        if not row["expected_search_requests"] <= row["search_requests"] <= search_allowance(row["objects"]) or (
            row["regions_requests"] > 1
        ):
            bad_search.append(f"{name}: search {row['search_requests']}, regions {row['regions_requests']}")
        if row["token_requests"] != 1:
            bad_token.append(f"{name}: token {row['token_requests']}")
    add(
        "search requests = ceil(N/100) (+ 2% for keyset page restarts, + at most one regions call), every run of ours "
        "and the listing",
        not bad_search,
        "; ".join(bad_search) or "held in every run",
    )
    add(
        "content requests = one per object (objects strategy), every run",
        not bad_content,
        "; ".join(bad_content) or "held in every run",
    )
    add("token requests = 1 per process, every run", not bad_token, "; ".join(bad_token) or "held in every run")
    # the emulator is not the bottleneck
    details, ok = [], True
    for w in meta:
        best = _best_objects(rows, w, "local")
        ceiling = _find(rows, w, "-", "ceiling")
        if best is None:
            continue
        emu = best.get("emulator_cpu_pct") or 0.0
        ok = ok and emu < 90
        details.append(
            f"({w}) {best['config']}: emulator {emu:.0f}% of a core, client {best['client_cpu_pct']:.0f}%, machine "
            f"{best['machine_cpu_pct']:.0f}% of all cores"
            + (f"; ceiling: emulator {ceiling['emulator_cpu_pct']:.0f}%" if ceiling else "")
        )
    add("the emulator is not the bottleneck (< 90% of one core while ours runs at its best)", ok, "; ".join(details))
    if quick:
        for t in targets:
            t["detail"] += " [quick sizes]"
    return targets


# ------------------------------------------------------------------------------------------- output

COLUMNS = [
    ("workload", "wl", "{}"),
    ("dest", "dest", "{}"),
    ("config", "config", "{}"),
    ("objects_per_s", "obj/s", "{:.1f}"),
    ("mb_per_s", "MB/s", "{:.1f}"),
    ("x_plain", "x plain", "{:.2f}"),
    ("x_ceiling", "x ceil", "{:.2f}"),
    ("rss_growth_mb", "RSS+ MB", "{:.1f}"),
    ("requests_per_object", "req/obj", "{:.3f}"),
    ("token_requests", "token", "{}"),
    ("search_requests", "search", "{}"),
    ("regions_requests", "regions", "{}"),
    ("content_requests", "content", "{}"),
    ("emulator_cpu_pct", "emu CPU%", "{:.0f}"),
    ("client_cpu_pct", "client CPU%", "{:.0f}"),
    ("s3_calls_per_object", "S3 req/obj", "{:.2f}"),
    ("s3_server_cpu_pct", "S3 CPU%", "{:.0f}"),
    ("machine_cpu_pct", "mach CPU%", "{:.0f}"),
    ("machine_iowait_pct", "iowait%", "{:.0f}"),
    ("seconds", "s", "{:.2f}"),
]


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, list):
        distinct = sorted(set(value))
        return str(distinct[0]) if len(distinct) == 1 else "/".join(str(v) for v in value)
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    header = [title for _, title, _ in COLUMNS]
    body = [
        [_cell(r, key, fmt) for key, _, fmt in COLUMNS] if "mb_per_s" in r else [r["workload"], r["dest"], r["config"]]
        for r in rows
    ]
    body = [b + ["ERROR"] + [""] * (len(header) - len(b) - 1) if len(b) < len(header) else b for b in body]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = [
        "  ".join(h.rjust(w) if i > 2 else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    for b in body:
        lines.append(
            "  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True)))
        )
    return "\n".join(lines)


def listing_table(listing: list[dict[str, Any]], markdown: bool = False) -> str:
    header = ["objects", "s", "obj/s", "RSS+ MB", "search", "expected", "regions", "token", "emu CPU%", "client CPU%"]
    body = []
    for r in listing:
        if "rss_growth_mb" not in r:
            body.append([f"{r['objects']:,}", "ERROR", r["error"][:60]] + [""] * 7)
            continue
        body.append(
            [
                f"{r['objects']:,}",
                f"{r['seconds']:.2f}",
                f"{r['objects_per_s']:.0f}",
                f"{r['rss_growth_mb']:.1f}",
                str(r["search_requests"]),
                str(r["expected_search_requests"]),
                str(r["regions_requests"]),
                str(r["token_requests"]),
                f"{r['emulator_cpu_pct']:.0f}",
                f"{r['client_cpu_pct']:.0f}",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def code_version() -> dict[str, Any]:
    """The product code measured: git commit, uncommitted changes to it, and a digest of its sources."""
    import hashlib

    digest = hashlib.sha256()
    package = ROOT / "airflow_provider_eightbyeight"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    return {
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_subject": git("log", "-1", "--format=%s"),
        "uncommitted_product_changes": bool(git("status", "--porcelain", "--", "airflow_provider_eightbyeight")),
        "source_sha256": digest.hexdigest()[:16],
    }


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem_kb = int(handle.readline().split()[1])
    versions: dict[str, str | None] = {}
    for name in (
        "airflow-provider-eightbyeight",
        "apache-airflow",
        "apache-airflow-providers-amazon",
        "requests",
        "urllib3",
        "boto3",
        "s3fs",
        "moto",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[1])
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per configuration (default 3; 1 quick)")
    parser.add_argument(
        "--repeat-for",
        default="",
        help="fewer repetitions for given workloads, e.g. 'b=2,c=1' (default: --repeat for all)",
    )
    parser.add_argument("--workloads", default="a,b,c", help="comma-separated subset of a,b,c (default a,b,c)")
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition: a smoke run (< 2 min)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) destination")
    parser.add_argument("--no-listing", action="store_true", help="skip the 100,000-object listing measurement")
    parser.add_argument("--ceiling-threads", type=int, default=8, help="threads of the ceiling client (default 8)")
    parser.add_argument("--tmp-root", default="/tmp", help="where local destinations are created (default /tmp)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measured process (default 1800)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay the emulator adds to every API request, like a network round trip (default 0: loopback)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="JSON output path (default benchmarks/results/latest.json; scale-only runs: scale-latest.json)",
    )
    scale_tables.add_arguments(parser)
    args = parser.parse_args(argv)
    chosen = scale_tables.selection(args)
    only_new = bool(args.scale or args.scale_quick or args.memory_rule)
    if args.output is None:
        args.output = str(RESULTS / ("scale-latest.json" if only_new else "latest.json"))
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    per_workload = {}
    for item in filter(None, (s.strip() for s in args.repeat_for.split(","))):
        name, _, count = item.partition("=")
        per_workload[name.strip()] = int(count)
    catalogue = QUICK if args.quick else FULL
    names = [] if only_new else [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from a, b, c")

    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="8x8-bench-run-", dir=args.tmp_root))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AIRFLOW_HOME"] = str(scratch / "airflow_home")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    machine = machine_info()
    code = code_version()
    print(
        f"8x8 provider benchmark ({'scale tables only' if only_new else 'quick' if args.quick else 'full'}"
        + (f"; scale tables {chosen[0].name}: {','.join(chosen[1])}" if chosen else "")
        + f"): {machine['nproc']} x {machine['cpu_model']}, "
        f"{machine['memory_gib']} GiB, Python {machine['python']}; seed {SEED}"
        + (f"; emulator latency {args.latency_ms:g} ms per request" if args.latency_ms else ""),
        flush=True,
    )
    print(
        f"product code: commit {code['git_commit']} ({code['git_subject']}), sources {code['source_sha256']}"
        + (" + uncommitted changes" if code["uncommitted_product_changes"] else ""),
        flush=True,
    )
    moto = None
    measurements: list[Measurement] = []
    meta: dict[str, dict[str, Any]] = {}
    listing: list[dict[str, Any]] = []
    scale_report: dict[str, Any] | None = None
    try:
        if not args.no_s3 and any(catalogue[n].s3 for n in names):
            moto = MotoServer()
            env["AIRFLOW_CONN_AWS_MOTO"] = moto.conn_env
            print(f"moto S3 server pid {moto.proc.pid} at {moto.endpoint}, bucket {moto.bucket}", flush=True)
        for name in names:
            w = catalogue[name]
            count = per_workload.get(name, repeat)
            done, meta[name] = measure_workload(w, count, args, env, moto if w.s3 else None, scratch)
            measurements.extend(done)
        if not args.no_listing and not only_new:
            listing = measure_listing(LISTING_QUICK if args.quick else LISTING_FULL, args, env)
        if chosen is not None:
            scale_report = scale_tables.run_tables(*chosen, args, env, scratch)
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    rows = summarise(measurements, meta)
    targets = check_targets(rows, listing, meta, args.quick) if names or listing else []
    if scale_report is not None:
        targets += scale_tables.targets(scale_report)
    mismatches = sum(r.get("md5_mismatches", 0) for r in rows)
    failures = [
        f"({r['workload']}) {r['dest']} {r['config']}: {e}"
        for r in rows
        for e in [*r["errors"], *r.get("problems", [])]
    ]
    failures += [f"listing {r['objects']:,}: {r['error'] or r.get('problems')}" for r in listing if r.get("error")]
    failures += [f"listing {r['objects']:,}: {p}" for r in listing for p in r.get("problems", [])]
    failures += scale_tables.failures(scale_report) if scale_report is not None else []
    elapsed = time.monotonic() - started
    code_after = code_version()
    code_changed = code_after["source_sha256"] != code["source_sha256"]

    if rows:
        print("\n== results (medians of the repetitions; MB = 10^6 bytes)")
        for name in names:
            m = meta[name]
            print(
                f"   ({name}) {m['title']}: {m['objects']} objects, {m['bytes'] / MB:,.1f} MB, "
                f"{m['repeat']} repetition(s)"
            )
        print(table(rows))
    if scale_report is not None:
        print(f"\n== scale tables ({scale_report['seconds'] / 60:.1f} min; MB of RSS = MiB)")
        print(scale_tables.render(scale_report))
    if listing:
        print("\n== listing (hook.iter_objects(), nothing kept)")
        print(listing_table(listing))
    print("\n== targets")
    for t in targets:
        print(f"   {t['status']:4}  {t['target']}\n         {t['detail']}")
    print(f"\n== verification: {mismatches} MD5 mismatch(es), {len(failures)} other problem(s)")
    for line in failures[:30]:
        print(f"   {line}")
    print(f"   total time {elapsed / 60:.1f} min")
    if code_changed:
        print(
            f"WARNING: the product code changed during the run ({code['source_sha256']} -> "
            f"{code_after['source_sha256']}, commit {code_after['git_commit']}): the numbers mix two versions"
        )

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "seed": SEED,
        "repeat": repeat,
        "repeat_for": per_workload,
        "ceiling_threads": args.ceiling_threads,
        "latency_ms": args.latency_ms,
        "started_unix": time.time() - elapsed,
        "duration_seconds": round(elapsed, 1),
        "machine": machine,
        "code": code,
        "code_after": code_after,
        "code_changed_during_run": code_changed,
        "workloads": meta,
        "rows": rows,
        "listing": listing,
        "scale": scale_report,
        "targets": targets,
        "md5_mismatches": mismatches,
        "failures": failures,
        "raw": [
            {"workload": m.workload, "dest": m.dest, "config": m.label, "results": m.results, "errors": m.errors}
            for m in measurements
        ],
    }
    output.write_text(json.dumps(report, indent=1, sort_keys=True))
    markdown = [table(rows, markdown=True)] if rows else []
    if scale_report is not None:
        markdown += ["", scale_tables.render(scale_report, markdown=True)]
    if listing:
        markdown += ["", listing_table(listing, markdown=True)]
    markdown += ["", "| target | status | detail |", "|---|---|---|"]
    markdown += [f"| {t['target']} | {t['status']} | {t['detail']} |" for t in targets]
    output.with_suffix(".md").write_text("\n".join(markdown) + "\n")
    print(f"   written {output} and {output.with_suffix('.md')}")
    if mismatches or failures:
        print("FAILED: MD5 mismatches or unverified / failed runs (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
