"""
The benchmark harness the orchestrators share (:mod:`benchmarks.run` and :mod:`benchmarks.scale`): the
emulator and the worker as child processes, the ground truth of a workload, and the common constants.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REGION, RESULT_PREFIX, http_json, parse_result

ROOT = Path(__file__).resolve().parent.parent
SEED = 1234
MB = 1_000_000
VERIFYING_CEILING = "ceiling+md5+write"


class EmulatorProcess:
    """``python -m benchmarks.emulator_server`` as a child process."""

    def __init__(self, spec: dict[str, Any], env: dict[str, str], timeout: float = 600.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator_server", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        info = None
        while info is None and time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                if self.proc.poll() is not None:
                    break
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(RESULT_PREFIX):
                info = json.loads(line[len(RESULT_PREFIX) :])
        selector.close()
        if info is None:
            self.stop()
            raise RuntimeError(f"the emulator did not start (exit code {self.proc.poll()})")
        self.info: dict[str, Any] = info

    def stop(self) -> None:
        terminate(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def terminate(proc: subprocess.Popen) -> None:
    """Stop a child process: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_worker(spec: dict[str, Any], env: dict[str, str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run one worker process; its result (or ``None``) and an error text."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    result = parse_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return None, f"exit code {proc.returncode}: {tail}"
    return result, ""


def ground_truth(base_url: str, path: Path) -> list[dict[str, Any]]:
    """The emulator's AVAILABLE objects of the region (with their real MD5), written to ``path``."""
    items = http_json(f"{base_url}/_emulator/objects?region={REGION}&states=AVAILABLE")
    objects = [{"id": o["id"], "name": o["objectName"], "size": o["storedBytes"], "md5": o["md5"]} for o in items]
    path.write_text(json.dumps({"objects": objects}))
    return objects
