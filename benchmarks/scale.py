"""
The scale tables: many small objects (1-4 KB, so per-object overhead dominates) copied by ONE task.

Every measurement runs ``EightByEightTransferOperator.execute()`` (default settings unless a table sweeps
``max_workers``) in a fresh worker process (``benchmarks.worker``, kind ``operator``) against the emulator in
its own process (its memory does not count). Tables:

- ``scale``: 10k / 100k / 300k objects in one task: seconds, objects/s, peak RSS growth, requests per object.
- ``rerun``: the same task again over the 100k objects already at the destination (everything skipped).
- ``first``: time from ``execute()`` to the first file at the destination, 10k and 100k objects, 0 and
  20 ms per request (at the scale table's latency it comes from the scale run; otherwise the worker stops
  as soon as the first file is there).
- ``wan``: on 2,000 small objects at 0 / 20 / 80 ms per request: the operator with default settings vs the
  plain client and the verifying-writer bound (``ceiling+md5+write``, 8 and 64 threads).
- ``sweep``: the operator at max_workers 8 / 16 / 32 / 64 / 128 on the same workload and latencies.
- ``memory``: the acceptance rule, exactly 15,000 and 45,000 objects: "one task copying 45,000 small
  objects grows RSS by <= 100 MB, and by <= 1.25x (+10 MB) of the growth at 15,000"; with
  ``--trace-memory`` also a tracemalloc run at 45,000 (top allocations near the peak).

Called from :mod:`benchmarks.run` (``--scale``, ``--scale-quick``, ``--memory-rule``, ``--tables``; the full
run includes every table).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import set_latency
from benchmarks.harness import MB, SEED, VERIFYING_CEILING, EmulatorProcess, ground_truth, run_worker

#: Object sizes of every scale workload: small, so the per-object overhead is what is measured.
SMALL = (1024, 4096)
TABLES = ("scale", "rerun", "first", "wan", "sweep", "memory")
#: The acceptance rule of the memory table.
MEMORY_LIMIT_MB = 100.0
MEMORY_FACTOR = 1.25
MEMORY_SLACK_MB = 10.0
#: The operator's defaults should reach this share of the verifying-writer bound at every WAN latency.
BOUND_SHARE = 0.8
#: Threads of the verifying-writer bound besides ``--ceiling-threads``: enough to hide 80 ms round trips.
WIDE_BOUND_THREADS = 64


@dataclass(frozen=True)
class ScaleSizes:
    """Object counts and latencies of the scale tables."""

    name: str
    scale: tuple[int, ...]
    rerun: int | None
    first: tuple[int, ...]
    first_latencies_ms: tuple[float, ...]
    wan_objects: int
    wan_latencies_ms: tuple[float, ...]
    sweep_workers: tuple[int, ...]
    memory: tuple[int, int] = (15_000, 45_000)


FULL_SCALE = ScaleSizes(
    "full",
    scale=(10_000, 100_000, 300_000),
    rerun=100_000,
    first=(10_000, 100_000),
    first_latencies_ms=(0, 20),
    wan_objects=2_000,
    wan_latencies_ms=(0, 20, 80),
    sweep_workers=(8, 16, 32, 64, 128),
)
QUICK_SCALE = ScaleSizes(
    "quick",
    scale=(2_000, 6_000),
    rerun=6_000,
    first=(2_000, 6_000),
    first_latencies_ms=(0, 20),
    wan_objects=300,
    wan_latencies_ms=(0, 20, 80),
    sweep_workers=(8, 16, 32, 64, 128),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of the scale tables (on ``python -m benchmarks.run``)."""
    group = parser.add_argument_group("scale tables (many small objects in one task)")
    group.add_argument("--scale", action="store_true", help="run only the scale tables, full sizes (about 25 min here)")
    group.add_argument(
        "--scale-quick",
        action="store_true",
        help="run only the scale tables, small sizes (2k/6k objects, 300 for wan/sweep): a smoke run (~2-3 min)",
    )
    group.add_argument(
        "--memory-rule",
        action="store_true",
        help="run only the 15,000 / 45,000-object memory acceptance measurement and print PASS/FAIL",
    )
    group.add_argument(
        "--tables", default=None, help=f"comma-separated subset of {','.join(TABLES)} (default: all selected)"
    )
    group.add_argument("--no-scale", action="store_true", help="leave the scale tables out of the full run")
    group.add_argument(
        "--trace-memory", action="store_true", help="memory table: also a tracemalloc run at the larger count"
    )
    group.add_argument("--scale-objects", default=None, help="object counts of the scale table, e.g. 10000,100000")
    group.add_argument("--rerun-objects", type=int, default=None, help="object count of the re-run (0: none)")
    group.add_argument("--first-objects", default=None, help="object counts of the first-object table")
    group.add_argument("--first-latencies", default=None, help="latencies (ms) of the first-object table, e.g. 0,20")
    group.add_argument("--wan-objects", type=int, default=None, help="objects of the wan / sweep workload")
    group.add_argument("--wan-latencies", default=None, help="latencies (ms) of the wan / sweep tables, e.g. 0,20,80")
    group.add_argument("--sweep-workers", default=None, help="max_workers of the sweep, e.g. 8,16,32,64")
    group.add_argument(
        "--scale-repeat", type=int, default=1, help="repetitions of each wan / sweep / memory measurement"
    )


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def selection(args: argparse.Namespace) -> tuple[ScaleSizes, tuple[str, ...]] | None:
    """The sizes and tables to run (``None``: no scale table), from the command line."""
    only_new = args.scale or args.scale_quick or args.memory_rule
    if not only_new and (args.quick or args.no_scale):
        return None
    sizes = QUICK_SCALE if args.scale_quick else FULL_SCALE
    if args.tables:
        tables = tuple(t.strip() for t in args.tables.split(",") if t.strip())
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise SystemExit(f"unknown table(s) {unknown}; choose from {', '.join(TABLES)}")
    elif args.memory_rule and not (args.scale or args.scale_quick):
        tables = ("memory",)
    elif args.scale_quick and not args.memory_rule:
        tables = tuple(t for t in TABLES if t != "memory")
    else:
        tables = TABLES
    overrides: dict[str, Any] = {}
    if args.scale_objects:
        overrides["scale"] = _ints(args.scale_objects)
    if args.rerun_objects is not None:
        overrides["rerun"] = args.rerun_objects or None
    if args.first_objects:
        overrides["first"] = _ints(args.first_objects)
    if args.first_latencies:
        overrides["first_latencies_ms"] = _floats(args.first_latencies)
    if args.wan_objects:
        overrides["wan_objects"] = args.wan_objects
    if args.wan_latencies:
        overrides["wan_latencies_ms"] = _floats(args.wan_latencies)
    if args.sweep_workers:
        overrides["sweep_workers"] = _ints(args.sweep_workers)
    return replace(sizes, **overrides), tables


# ------------------------------------------------------------------------------------------- measuring


def _emulator(objects: int, latency_ms: float, env: dict[str, str]) -> EmulatorProcess:
    spec = {"seed": SEED, "objects": objects, "size_range": list(SMALL), "latency": latency_ms / 1000}
    started = time.monotonic()
    emulator = EmulatorProcess(spec, env, timeout=1800)
    print(
        f"   emulator with {objects:,} objects of {SMALL[0]}-{SMALL[1]} B ready in "
        f"{time.monotonic() - started:.1f} s (pid {emulator.info['pid']})",
        flush=True,
    )
    return emulator


def _operator_spec(info: dict[str, Any], dest_dir: str, objects: int, **extra: Any) -> dict[str, Any]:
    spec = {"kind": "operator", "dest": "local", "dest_dir": dest_dir, "emulator": info, "expected_objects": objects}
    return spec | {k: v for k, v in extra.items() if v is not None}


def _row(result: dict[str, Any] | None, error: str, objects: int, **fields: Any) -> dict[str, Any]:
    """One measured run as a table row (the worker's result reduced to what the tables show)."""
    row: dict[str, Any] = {"objects": objects, **fields, "error": error}
    if result is None:
        return row
    emulator = result.get("emulator", {})
    requests = emulator.get("total_requests", 0)
    seconds = result["seconds"]
    done = result.get("objects", 0)
    row.update(
        seconds=round(seconds, 2),
        objects_per_s=round(done / seconds, 1) if seconds and done else None,
        mb_per_s=round(result.get("bytes", 0) / MB / seconds, 2) if seconds else None,
        rss_growth_mb=result["rss_growth_mb"],
        rss_before_mb=result["rss_before_mb"],
        kb_per_object=round(result["rss_growth_mb"] * 1024 / objects, 2) if objects else None,
        requests=requests,
        requests_per_object=round(requests / objects, 3) if objects else None,
        routes=emulator.get("requests", {}),
        client_cpu_pct=result.get("client_cpu_pct"),
        emulator_cpu_pct=result.get("emulator_cpu_pct"),
        machine_cpu_pct=result.get("machine_cpu_pct"),
        max_workers=result.get("max_workers"),
        first_object_seconds=result.get("first_object_seconds"),
        copied=result.get("copied"),
        skipped=result.get("skipped"),
        problems=result.get("problems", [])[:10],
        md5_mismatches=len(result.get("md5_mismatches", [])),
    )
    if result.get("tracemalloc"):
        row["tracemalloc"] = result["tracemalloc"]
    return row


def _say(label: str, row: dict[str, Any]) -> None:
    if row.get("error"):
        print(f"   {label:34} ERROR {row['error']}", flush=True)
        return
    bad = len(row.get("problems") or []) + (row.get("md5_mismatches") or 0)
    first = row.get("first_object_seconds")
    print(
        f"   {label:34} {row['seconds']:8.2f} s  {row.get('objects_per_s') or 0:8.1f} obj/s  "
        f"RSS +{row['rss_growth_mb']:.1f} MB  {row.get('requests_per_object') or 0:.3f} req/obj  "
        f"client CPU {row.get('client_cpu_pct') or 0:.0f}%  emu CPU {row.get('emulator_cpu_pct') or 0:.0f}%"
        + (f"  first object {first:.3f} s" if first is not None else "")
        + (f"  PROBLEMS {bad}: {(row.get('problems') or [''])[0][:200]}" if bad else ""),
        flush=True,
    )


def measure_counts(
    sizes: ScaleSizes, tables: tuple[str, ...], args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    """The scale, rerun and first-object tables: one emulator per object count, reused by all three."""
    base_ms = float(args.latency_ms)
    scale_rows: list[dict[str, Any]] = []
    rerun_row: dict[str, Any] | None = None
    first_rows: list[dict[str, Any]] = []
    counts = set(sizes.scale) if "scale" in tables else set()
    if "rerun" in tables and sizes.rerun:
        counts.add(sizes.rerun)
    if "first" in tables:
        counts.update(sizes.first)
    for n in sorted(counts):
        print(f"\n== scale: {n:,} small objects in one task (emulator latency {base_ms:g} ms)", flush=True)
        emulator = _emulator(n, base_ms, env)
        info = emulator.info
        try:
            full_first: float | None = None
            copy = ("scale" in tables and n in sizes.scale) or ("rerun" in tables and n == sizes.rerun)
            if copy:
                dest = tempfile.mkdtemp(prefix="8x8-bench-scale-", dir=args.tmp_root)
                try:
                    result, error = run_worker(_operator_spec(info, dest, n), env, args.timeout)
                    row = _row(result, error, n, latency_ms=base_ms, table="scale")
                    _say(f"operator (defaults) {n:,}", row)
                    full_first = row.get("first_object_seconds")
                    if n in sizes.scale and "scale" in tables:
                        scale_rows.append(row)
                    if n == sizes.rerun and "rerun" in tables and result is not None:
                        result, error = run_worker(_operator_spec(info, dest, n, rerun=True), env, args.timeout)
                        rerun_row = _row(result, error, n, latency_ms=base_ms, table="rerun")
                        _say(f"re-run over {n:,} present", rerun_row)
                finally:
                    started = time.monotonic()
                    shutil.rmtree(dest, ignore_errors=True)
                    print(f"   (destination removed in {time.monotonic() - started:.1f} s)", flush=True)
            if "first" in tables and n in sizes.first:
                for latency in sizes.first_latencies_ms:
                    if latency == base_ms and full_first is not None:
                        first_rows.append(
                            {"objects": n, "latency_ms": latency, "first_object_seconds": full_first, "how": "full run"}
                        )
                        continue
                    set_latency(info["base_url"], latency / 1000)
                    dest = tempfile.mkdtemp(prefix="8x8-bench-first-", dir=args.tmp_root)
                    # the worker ends itself at the first file: what the task keeps in its temp folder
                    # (the run store) is left behind, so give it a temp folder of its own and remove it
                    own_tmp = tempfile.mkdtemp(prefix="8x8-bench-first-tmp-", dir=args.tmp_root)
                    try:
                        result, error = run_worker(
                            _operator_spec(info, dest, n, stop_after_first=True),
                            {**env, "TMPDIR": own_tmp},
                            args.timeout,
                        )
                    finally:
                        shutil.rmtree(dest, ignore_errors=True)
                        shutil.rmtree(own_tmp, ignore_errors=True)
                        set_latency(info["base_url"], base_ms / 1000)
                    first = (result or {}).get("first_object_seconds")
                    first_rows.append(
                        {
                            "objects": n,
                            "latency_ms": latency,
                            "first_object_seconds": first,
                            "how": "stopped at the first file",
                            "requests_until_then": (result or {}).get("emulator", {}).get("requests"),
                            "error": error,
                        }
                    )
                    print(
                        f"   first object, {n:,} objects at {latency:g} ms: "
                        + (f"{first:.3f} s" if first is not None else f"ERROR {error}"),
                        flush=True,
                    )
        finally:
            emulator.stop()
    return {"scale": scale_rows, "rerun": rerun_row, "first": first_rows}


def measure_memory(sizes: ScaleSizes, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Exactly 15,000 and 45,000 objects (one task each, default settings) and the acceptance rule."""
    small, big = sizes.memory
    rows: list[dict[str, Any]] = []
    trace: dict[str, Any] | None = None
    for n in (small, big):
        print(f"\n== memory rule: {n:,} small objects in one task", flush=True)
        emulator = _emulator(n, float(args.latency_ms), env)
        try:
            runs = []
            for rep in range(max(1, args.scale_repeat)):
                dest = tempfile.mkdtemp(prefix="8x8-bench-mem-", dir=args.tmp_root)
                try:
                    result, error = run_worker(_operator_spec(emulator.info, dest, n), env, args.timeout)
                finally:
                    shutil.rmtree(dest, ignore_errors=True)
                row = _row(result, error, n, table="memory")
                _say(f"[{rep + 1}] operator (defaults) {n:,}", row)
                runs.append(row)
            good = [r for r in runs if not r.get("error")]
            row = dict(max(good, key=lambda r: r["rss_growth_mb"]) if good else runs[0])
            row["rss_growth_mb_all"] = [r.get("rss_growth_mb") for r in runs]
            rows.append(row)
            if args.trace_memory and n == big:
                dest = tempfile.mkdtemp(prefix="8x8-bench-trace-", dir=args.tmp_root)
                try:
                    result, error = run_worker(_operator_spec(emulator.info, dest, n, trace=True), env, args.timeout)
                finally:
                    shutil.rmtree(dest, ignore_errors=True)
                traced = _row(result, error, n, table="memory-trace")
                _say(f"tracemalloc run {n:,}", traced)
                trace = traced.get("tracemalloc") or {"error": error}
                trace["rss_growth_mb"] = traced.get("rss_growth_mb")
                trace["seconds"] = traced.get("seconds")
        finally:
            emulator.stop()
    return {"rows": rows, "rule": memory_rule(rows, small, big), "trace": trace}


def memory_rule(rows: list[dict[str, Any]], small: int, big: int) -> dict[str, Any]:
    """PASS / FAIL of: growth(big) <= 100 MB and growth(big) <= 1.25 x growth(small) + 10 MB."""
    by_n = {r["objects"]: r for r in rows if r.get("rss_growth_mb") is not None}
    if small not in by_n or big not in by_n:
        return {"status": "n/a", "detail": "a measurement failed"}
    g_small, g_big = by_n[small]["rss_growth_mb"], by_n[big]["rss_growth_mb"]
    limit = MEMORY_FACTOR * g_small + MEMORY_SLACK_MB
    absolute, relative = g_big <= MEMORY_LIMIT_MB, g_big <= limit
    per_object = (g_big - g_small) * 1024 / (big - small)
    return {
        "status": "PASS" if absolute and relative else "FAIL",
        "growth_small_mb": g_small,
        "growth_big_mb": g_big,
        "relative_limit_mb": round(limit, 1),
        "absolute_ok": absolute,
        "relative_ok": relative,
        "marginal_kb_per_object": round(per_object, 2),
        "detail": (
            f"{big:,}: +{g_big:.1f} MB ({'<=' if absolute else '>'} {MEMORY_LIMIT_MB:.0f} MB); "
            f"{small:,}: +{g_small:.1f} MB, so the limit is 1.25 x {g_small:.1f} + 10 = {limit:.1f} MB "
            f"({'held' if relative else 'exceeded'}); marginal {per_object:.2f} KB per object"
        ),
    }


def _wan_configs(sizes: ScaleSizes, tables: tuple[str, ...], ceiling_threads: int) -> list[dict[str, Any]]:
    configs: list[dict[str, Any]] = []
    for threads in sorted({ceiling_threads, WIDE_BOUND_THREADS}):
        configs.append({"config": f"{VERIFYING_CEILING} x{threads}", "kind": "bound", "workers": threads})
    if "wan" in tables:
        configs.append({"config": "plain", "kind": "plain", "workers": 1})
    configs.append({"config": "operator (defaults)", "kind": "default", "workers": None})
    if "sweep" in tables:
        configs += [{"config": f"operator x{n}", "kind": "sweep", "workers": n} for n in sizes.sweep_workers]
    return configs


def measure_wan(
    sizes: ScaleSizes, tables: tuple[str, ...], args: argparse.Namespace, env: dict[str, str], scratch: Path
) -> list[dict[str, Any]]:
    """Bound, plain and the operator (defaults, and the max_workers sweep) at every WAN latency."""
    n = sizes.wan_objects
    latencies = ", ".join(f"{x:g}" for x in sizes.wan_latencies_ms)
    print(f"\n== wan / sweep: {n:,} small objects at {latencies} ms per request", flush=True)
    emulator = _emulator(n, 0.0, env)
    rows: list[dict[str, Any]] = []
    try:
        info = emulator.info
        truth = scratch / "truth-wan.json"
        ground_truth(info["base_url"], truth)
        for latency in sizes.wan_latencies_ms:
            set_latency(info["base_url"], latency / 1000)
            configs = _wan_configs(sizes, tables, args.ceiling_threads)
            results: dict[str, list[dict[str, Any]]] = {c["config"]: [] for c in configs}
            errors: dict[str, list[str]] = {c["config"]: [] for c in configs}
            default_workers: int | None = None
            for rep in range(max(1, args.scale_repeat)):
                order = list(configs)
                random.Random(f"{SEED}:wan:{latency}:{rep}").shuffle(order)
                # the defaults first: a sweep entry equal to the default worker count is then not run twice
                order.sort(key=lambda c: c["kind"] != "default")
                for c in order:
                    if c["kind"] == "sweep" and c["workers"] == default_workers:
                        continue
                    dest = tempfile.mkdtemp(prefix="8x8-bench-wan-", dir=args.tmp_root)
                    if c["kind"] == "bound":
                        spec = {
                            "kind": "ceiling",
                            "dest": "local",
                            "verify_write": True,
                            "threads": c["workers"],
                            "dest_dir": dest,
                            "emulator": info,
                            "truth": str(truth),
                        }
                    elif c["kind"] == "plain":
                        spec = {"kind": "plain", "dest": "local", "dest_dir": dest, "emulator": info}
                        spec["truth"] = str(truth)
                    else:
                        spec = _operator_spec(info, dest, n, workers=c["workers"], truth=str(truth))
                    try:
                        result, error = run_worker(spec, env, args.timeout)
                    finally:
                        shutil.rmtree(dest, ignore_errors=True)
                    if result is None:
                        errors[c["config"]].append(error)
                    else:
                        results[c["config"]].append(result)
                        if c["kind"] == "default":
                            default_workers = result.get("max_workers")
                    _say(
                        f"[{rep + 1}] {latency:g} ms {c['config']}",
                        _row(result, error, n),
                    )
            for c in configs:
                if c["kind"] == "sweep" and c["workers"] == default_workers:
                    continue
                runs = results[c["config"]]
                label = c["config"]
                if c["kind"] == "default" and default_workers:
                    label = f"operator (defaults: x{default_workers})"
                if not runs:
                    error = "; ".join(errors[c["config"]])
                    rows.append({"latency_ms": latency, "config": label, "kind": c["kind"], "error": error})
                    continue
                middle = sorted(runs, key=lambda r: r["objects"] / r["seconds"])[len(runs) // 2]
                row = _row(middle, "", n, latency_ms=latency, config=label, kind=c["kind"])
                row["workers"] = c["workers"] or default_workers
                row["seconds_all"] = [round(r["seconds"], 2) for r in runs]
                row["errors"] = errors[c["config"]]
                rows.append(row)
            bound = max((r["objects_per_s"] for r in rows if _at(r, latency, "bound")), default=None)
            plain = next((r["objects_per_s"] for r in rows if _at(r, latency, "plain")), None)
            for r in rows:
                if r.get("latency_ms") == latency and r.get("objects_per_s"):
                    r["x_bound"] = round(r["objects_per_s"] / bound, 2) if bound else None
                    r["x_plain"] = round(r["objects_per_s"] / plain, 2) if plain else None
    finally:
        emulator.stop()
    return rows


def _at(row: dict[str, Any], latency: float, kind: str) -> bool:
    return row.get("latency_ms") == latency and row.get("kind") == kind and bool(row.get("objects_per_s"))


def run_tables(
    sizes: ScaleSizes, tables: tuple[str, ...], args: argparse.Namespace, env: dict[str, str], scratch: Path
) -> dict[str, Any]:
    """Every selected scale table, in the order counts, memory, wan / sweep."""
    started = time.monotonic()
    report: dict[str, Any] = {"sizes": sizes.name, "tables": list(tables), "object_sizes": list(SMALL)}
    report["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]  # the machine may be shared
    if {"scale", "rerun", "first"} & set(tables):
        report.update(measure_counts(sizes, tables, args, env))
    if "memory" in tables:
        report["memory"] = measure_memory(sizes, args, env)
    if {"wan", "sweep"} & set(tables):
        report["wan"] = measure_wan(sizes, tables, args, env, scratch)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


# ------------------------------------------------------------------------------------------- results


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The scale tables' targets: the memory rule, and the defaults against the verifying-writer bound."""
    out: list[dict[str, Any]] = []
    memory = report.get("memory")
    if memory:
        small, big = (r["objects"] for r in memory["rows"]) if len(memory["rows"]) == 2 else (15_000, 45_000)
        out.append(
            {
                "target": f"one task copying {big:,} small objects grows RSS by <= 100 MB, and by <= 1.25x "
                f"(+10 MB) of the growth at {small:,}",
                "status": memory["rule"]["status"],
                "detail": memory["rule"]["detail"],
            }
        )
    wan = report.get("wan") or []
    for latency in sorted({r["latency_ms"] for r in wan if "latency_ms" in r}):
        default = next((r for r in wan if _at(r, latency, "default")), None)
        bounds = [r for r in wan if _at(r, latency, "bound")]
        if default is None or not bounds:
            out.append({"target": f"defaults >= {BOUND_SHARE}x bound at {latency:g} ms", "status": "n/a", "detail": ""})
            continue
        best = max(bounds, key=lambda r: r["objects_per_s"])
        ratio = default["objects_per_s"] / best["objects_per_s"]
        sweep = [r for r in wan if r.get("latency_ms") == latency and r.get("kind") in ("sweep", "default")]
        top = max((r for r in sweep if r.get("objects_per_s")), key=lambda r: r["objects_per_s"], default=None)
        out.append(
            {
                "target": f"operator defaults >= {BOUND_SHARE}x the verifying-writer bound at {latency:g} ms "
                f"({default['objects']:,} small objects)",
                "status": "PASS" if ratio >= BOUND_SHARE else "FAIL",
                "detail": f"{default['config']} {default['objects_per_s']:.0f} obj/s vs {best['config']} "
                f"{best['objects_per_s']:.0f} obj/s = {ratio:.2f}x"
                + (
                    f"; best in the sweep: x{top['workers']} {top['objects_per_s']:.0f} obj/s "
                    f"({top['objects_per_s'] / best['objects_per_s']:.2f}x)"
                    if top
                    else ""
                ),
            }
        )
    return out


def recommendation(report: dict[str, Any]) -> str | None:
    """The smallest max_workers of the sweep that reaches 0.8x the bound at every latency, if any."""
    wan = [r for r in report.get("wan") or [] if r.get("objects_per_s") and r.get("kind") in ("sweep", "default")]
    latencies = sorted({r["latency_ms"] for r in wan})
    if not wan or not latencies:
        return None
    workers = sorted({r["workers"] for r in wan if r.get("workers")})
    per: dict[int, list[float]] = {}
    for w in workers:
        ratios = [r["x_bound"] for r in wan if r["workers"] == w and r.get("x_bound") is not None]
        if len(ratios) == len(latencies):
            per[w] = ratios
    good = [w for w, ratios in per.items() if min(ratios) >= BOUND_SHARE]
    lines = ", ".join(f"x{w}: " + "/".join(f"{x:.2f}" for x in ratios) for w, ratios in sorted(per.items()))
    ms = "/".join(f"{x:g}" for x in latencies)
    verdict = (
        f"smallest max_workers reaching {BOUND_SHARE}x the bound at every latency: {min(good)}"
        if good
        else f"no max_workers of the sweep reaches {BOUND_SHARE}x the bound at every latency"
    )
    return f"{verdict} (x bound at {ms} ms -- {lines})"


def _fmt(value: Any, fmt: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _render(header: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def _count_row(r: dict[str, Any], label: str = "") -> list[str]:
    if r.get("error"):
        return [f"{r['objects']:,}", label, "ERROR", r["error"][:80]] + ["" for _ in range(8)]
    routes = r.get("routes") or {}
    return [
        f"{r['objects']:,}",
        label,
        _fmt(r.get("seconds"), "{:.1f}"),
        _fmt(r.get("objects_per_s"), "{:.0f}"),
        _fmt(r.get("rss_growth_mb"), "{:.1f}"),
        _fmt(r.get("kb_per_object"), "{:.2f}"),
        _fmt(r.get("requests_per_object"), "{:.3f}"),
        f"{routes.get('search', 0)}/{routes.get('content', 0)}/{routes.get('token', 0)}/{routes.get('regions', 0)}",
        _fmt(r.get("first_object_seconds"), "{:.3f}"),
        _fmt(r.get("client_cpu_pct"), "{:.0f}"),
        _fmt(r.get("emulator_cpu_pct"), "{:.0f}"),
        _fmt(r.get("max_workers"), "{}"),
    ]


COUNT_HEADER = [
    "objects",
    "run",
    "s",
    "obj/s",
    "RSS+ MB",
    "KB/obj",
    "req/obj",
    "search/content/token/regions",
    "first obj s",
    "client CPU%",
    "emu CPU%",
    "workers",
]


def render(report: dict[str, Any], markdown: bool = False) -> str:
    """Every scale table of a report, as text (or Markdown)."""
    parts: list[str] = []
    rows = [_count_row(r, "copy") for r in report.get("scale") or []]
    if report.get("rerun"):
        rows.append(_count_row(report["rerun"], "re-run (all present)"))
    if rows:
        parts += ["scale: one task (operator, default settings), small objects of 1-4 KB"]
        parts.append(_render(COUNT_HEADER, rows, markdown))
    first = report.get("first") or []
    if first:
        body = [
            [
                f"{r['objects']:,}",
                f"{r['latency_ms']:g}",
                _fmt(r.get("first_object_seconds"), "{:.3f}") if not r.get("error") else "ERROR",
                r.get("how", ""),
            ]
            for r in first
        ]
        parts += ["", "first object: seconds from execute() to the first file at the destination"]
        parts.append(_render(["objects", "latency ms", "first obj s", "how"], body, markdown))
    memory = report.get("memory")
    if memory:
        body = [
            [
                f"{r['objects']:,}",
                _fmt(r.get("seconds"), "{:.1f}"),
                _fmt(r.get("objects_per_s"), "{:.0f}"),
                _fmt(r.get("rss_growth_mb"), "{:.1f}"),
                "/".join(_fmt(x, "{:.1f}") for x in r.get("rss_growth_mb_all", [])),
                _fmt(r.get("kb_per_object"), "{:.2f}"),
                _fmt(r.get("rss_before_mb"), "{:.1f}"),
                _fmt(r.get("requests_per_object"), "{:.3f}"),
            ]
            for r in memory["rows"]
        ]
        parts += ["", f"memory rule: {memory['rule']['status']} -- {memory['rule']['detail']}"]
        parts.append(
            _render(
                ["objects", "s", "obj/s", "RSS+ MB (max)", "all runs", "KB/obj", "RSS before MB", "req/obj"],
                body,
                markdown,
            )
        )
        trace = memory.get("trace")
        if trace and trace.get("near_peak"):
            peak = trace["near_peak"]
            parts += [
                "",
                f"tracemalloc at {memory['rows'][-1]['objects']:,} (traced peak {trace.get('traced_peak_mb')} MB; "
                f"snapshot near the peak {peak['traced_mb']} MB; RSS +{trace.get('rss_growth_mb')} MB under tracing)",
            ]
            body = [[f"{x['mb']:.2f}", f"{x['count']:,}", x["where"]] for x in peak["by_line"]]
            parts.append(_render(["MB", "blocks", "allocated at"], body, markdown))
    wan = report.get("wan") or []
    if wan:
        body = []
        for r in wan:
            if not r.get("objects_per_s"):
                body.append([_fmt(r.get("latency_ms"), "{:g}"), r["config"], "ERROR"] + ["" for _ in range(8)])
                continue
            body.append(
                [
                    _fmt(r["latency_ms"], "{:g}"),
                    r["config"],
                    _fmt(r.get("seconds"), "{:.2f}"),
                    _fmt(r.get("objects_per_s"), "{:.0f}"),
                    _fmt(r.get("x_bound"), "{:.2f}"),
                    _fmt(r.get("x_plain"), "{:.2f}"),
                    _fmt(r.get("rss_growth_mb"), "{:.1f}"),
                    _fmt(r.get("requests_per_object"), "{:.3f}"),
                    _fmt(r.get("first_object_seconds"), "{:.3f}"),
                    _fmt(r.get("client_cpu_pct"), "{:.0f}"),
                    _fmt(r.get("emulator_cpu_pct"), "{:.0f}"),
                ]
            )
        n = wan[0].get("objects")
        parts += ["", f"wan / sweep: {n:,} small objects; x bound = obj/s / best {VERIFYING_CEILING} at that latency"]
        header = ["ms", "config", "s", "obj/s", "x bound", "x plain", "RSS+ MB", "req/obj", "first obj s"]
        parts.append(_render([*header, "client CPU%", "emu CPU%"], body, markdown))
        advice = recommendation(report)
        if advice:
            parts += ["", advice]
    return "\n".join(parts)


def failures(report: dict[str, Any]) -> list[str]:
    """Every failed or unverified scale measurement (for the exit status)."""
    rows = list(report.get("scale") or [])
    rows += [report["rerun"]] if report.get("rerun") else []
    rows += list((report.get("memory") or {}).get("rows", []))
    rows += list(report.get("wan") or [])
    out = []
    for r in rows:
        name = f"scale {r.get('table') or r.get('config')} {r.get('objects', '')} objects"
        if r.get("error"):
            out.append(f"{name}: {r['error']}")
        for p in r.get("problems") or []:
            out.append(f"{name}: {p}")
        if r.get("md5_mismatches"):
            out.append(f"{name}: {r['md5_mismatches']} MD5 mismatches")
    for r in report.get("first") or []:
        if r.get("error") or r.get("first_object_seconds") is None:
            out.append(f"first object {r['objects']:,} at {r['latency_ms']:g} ms: {r.get('error') or 'no file seen'}")
    return out
