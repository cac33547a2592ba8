"""
Profile this provider's objects strategy with pyinstrument: ``python -m benchmarks.profile [--workers 8]``.

Starts the emulator (workload (a) by default) in its own process, runs one ``TransferEngine.run`` in a
worker process with every ``copy_one`` call profiled in its own thread (pyinstrument follows one thread
per profiler; the sessions are summed) plus the main thread, and writes the report to
``benchmarks/results/profile.txt`` (``profile-s3.txt`` for ``--dest s3``). ``--strategy bulk`` profiles
``run_bulk`` instead (it works in the main thread: ``profile-bulk.txt``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import ROOT, EmulatorProcess, ground_truth, run_worker
from benchmarks.run import FULL, QUICK, RESULTS, MotoServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[1])
    parser.add_argument("--workers", type=int, default=8, help="max_workers (default 8)")
    parser.add_argument("--workload", default="a", choices=("a", "b", "c"), help="workload (default a)")
    parser.add_argument("--dest", default="local", choices=("local", "s3"), help="destination (default local)")
    parser.add_argument("--strategy", default="objects", choices=("objects", "bulk"), help="default objects")
    parser.add_argument("--quick", action="store_true", help="the quick workload sizes")
    parser.add_argument("--interval", type=float, default=0.001, help="sampling interval in seconds")
    parser.add_argument("--output", default=None, help="report path (default benchmarks/results/profile[-s3].txt)")
    args = parser.parse_args(argv)
    workload = (QUICK if args.quick else FULL)[args.workload]
    suffix = ("" if args.dest == "local" else "-s3") + ("" if args.strategy == "objects" else "-bulk")
    output = Path(args.output or RESULTS / f"profile{suffix}.txt")
    scratch = Path(tempfile.mkdtemp(prefix="8x8-bench-profile-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AIRFLOW_HOME"] = str(scratch / "airflow_home")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    moto = MotoServer() if args.dest == "s3" else None
    emulator = None
    try:
        emulator = EmulatorProcess(workload.spec(), env)
        truth = scratch / "truth.json"
        ground_truth(emulator.info["base_url"], truth)
        spec = {
            "kind": args.strategy,
            "dest": args.dest,
            "workers": args.workers,
            "emulator": emulator.info,
            "truth": str(truth),
            "profile": {"path": str(output), "interval": args.interval},
        }
        if moto is not None:
            env["AIRFLOW_CONN_AWS_MOTO"] = moto.conn_env
            spec["s3"] = {"endpoint": moto.endpoint, "bucket": moto.bucket, "prefix": "profile", "pid": moto.proc.pid}
        else:
            spec["dest_dir"] = str(scratch / "dest")
            os.makedirs(spec["dest_dir"])
        result, error = run_worker(spec, env, 1800)
    finally:
        if emulator is not None:
            emulator.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    if result is None:
        print(f"profiling failed: {error}")
        return 1
    print(
        f"({workload.name}) {workload.title}, {args.strategy} strategy, {args.dest}, {args.workers} workers, "
        f"profiled: {result['seconds']:.2f} s "
        f"({result['bytes'] / 1e6 / result['seconds']:.1f} MB/s; profiling slows it down), client CPU "
        f"{result['client_cpu_pct']:.0f}%, emulator CPU {result.get('emulator_cpu_pct', 0):.0f}%"
    )
    print(f"written {output}")
    lines = output.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if ": flat, self time" in line), 0)
    print("\n".join(lines[start : start + 40]))
    return 0 if not result["md5_mismatches"] and not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
