"""Helpers shared by the benchmark orchestrator and its worker processes (standard library only)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import urllib.request
from typing import Any

#: Prefix of the one line a worker / emulator process prints for the orchestrator.
RESULT_PREFIX = "BENCH-RESULT "
REGION = "us-east"
CLK_TCK = os.sysconf("SC_CLK_TCK")
_KB = re.compile(r"^(\w+):\s+(\d+) kB", re.MULTILINE)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> bool:
    """Whether something listens on 127.0.0.1:port within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def proc_status_kb(pid: int | str = "self") -> dict[str, int]:
    """The ``kB`` fields of /proc/<pid>/status (VmRSS, VmHWM, ...) in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return {name: int(value) for name, value in _KB.findall(handle.read())}


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def process_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads) in seconds, or ``None`` if it cannot be read."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_jiffies() -> tuple[int, int, int]:
    """(busy, iowait, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    iowait = values[4] if len(values) > 4 else 0
    total = sum(values[:8])
    return total - values[3] - iowait, iowait, total


class RssSampler:
    """Peak RSS of this process while running: VmHWM (reset at start) and VmRSS sampled every 20 ms."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.baseline_kb = 0
        self.sampled_peak_kb = 0
        self.hwm_reset = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.hwm_reset = reset_peak_rss()
        self.baseline_kb = proc_status_kb()["VmRSS"]
        self.sampled_peak_kb = self.baseline_kb
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sampled_peak_kb = max(self.sampled_peak_kb, proc_status_kb()["VmRSS"])

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        status = proc_status_kb()
        peak = max(self.sampled_peak_kb, status["VmRSS"])
        if self.hwm_reset:
            peak = max(peak, status["VmHWM"])
        return {
            "rss_before_mb": round(self.baseline_kb / 1024, 2),
            "rss_peak_mb": round(peak / 1024, 2),
            "rss_growth_mb": round((peak - self.baseline_kb) / 1024, 2),
            "rss_method": "VmHWM (reset) + VmRSS sampled every 20 ms" if self.hwm_reset else "VmRSS every 20 ms",
        }


def http_json(url: str, method: str = "GET", body: Any = None, timeout: float = 600.0) -> Any:
    """A JSON request with urllib (for the emulator's admin API)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def emulator_stats(base_url: str) -> dict[str, Any]:
    """The emulator's request counters."""
    return dict(http_json(f"{base_url}/_emulator/stats"))


def reset_emulator_stats(base_url: str) -> None:
    """Zero the emulator's request counters."""
    http_json(f"{base_url}/_emulator/stats/reset", method="POST", body={})


def set_latency(base_url: str, seconds: float) -> None:
    """Make the running emulator wait ``seconds`` before answering every API request (0: no delay)."""
    http_json(f"{base_url}/_emulator/faults", method="DELETE", body={})
    if seconds > 0:
        rule = {"kind": "latency", "route": "*", "delay": seconds}
        http_json(f"{base_url}/_emulator/faults", method="POST", body={"rules": [rule]})


class Meter:
    """Everything measured around one transfer: wall time, RSS, CPU of the client, emulator, S3 server, machine."""

    def __init__(self, base_url: str | None, emulator_pid: int | None, s3_pid: int | None = None) -> None:
        self.base_url = base_url
        self.emulator_pid = emulator_pid
        self.s3_pid = s3_pid
        self.rss = RssSampler()
        self.result: dict[str, Any] = {}

    def start(self) -> None:
        if self.base_url:
            reset_emulator_stats(self.base_url)
        self._emu_cpu = process_cpu_seconds(self.emulator_pid)
        self._s3_cpu = process_cpu_seconds(self.s3_pid)
        self._machine = machine_cpu_jiffies()
        self.rss.start()
        self._times = os.times()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self._t0
        times = os.times()
        machine = machine_cpu_jiffies()
        emu_cpu = process_cpu_seconds(self.emulator_pid)
        s3_cpu = process_cpu_seconds(self.s3_pid)
        out: dict[str, Any] = {"seconds": seconds}
        out.update(self.rss.stop())
        user, system = times.user - self._times.user, times.system - self._times.system
        out["client_cpu_pct"] = round(100 * (user + system) / seconds, 1)
        out["client_sys_cpu_pct"] = round(100 * system / seconds, 1)
        if emu_cpu is not None and self._emu_cpu is not None:
            out["emulator_cpu_pct"] = round(100 * (emu_cpu - self._emu_cpu) / seconds, 1)
        if s3_cpu is not None and self._s3_cpu is not None:
            out["s3_server_cpu_pct"] = round(100 * (s3_cpu - self._s3_cpu) / seconds, 1)
        busy, iowait, total = (now - before for now, before in zip(machine, self._machine, strict=True))
        # of all CPUs: 100% = every core busy
        out["machine_cpu_pct"] = round(100 * busy / total, 1) if total else None
        out["machine_iowait_pct"] = round(100 * iowait / total, 1) if total else None
        if self.base_url:
            stats = emulator_stats(self.base_url)
            routes = {k: v for k, v in stats.get("requests", {}).items() if k != "admin"}
            out["emulator"] = {
                "total_requests": stats.get("total_requests", 0),
                "token_requests": stats.get("token_requests", 0),
                "requests": routes,
                "content_bytes_sent": stats.get("content_bytes_sent", 0),
                "max_concurrent_requests": stats.get("max_concurrent_requests", 0),
                "status_counts": stats.get("status_counts", {}),
            }
        self.result = out
        return out


def emit(payload: dict[str, Any]) -> None:
    """Print the one result line the orchestrator reads."""
    print(RESULT_PREFIX + json.dumps(payload, sort_keys=True), flush=True)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The last result line of a child's output, or ``None``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return None
