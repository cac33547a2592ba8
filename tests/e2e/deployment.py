"""
A real Airflow deployment for the end-to-end tests: api-server, scheduler (LocalExecutor), dag-processor and
triggerer as separate processes on loopback, with their own AIRFLOW_HOME (SQLite), the example DAGs, and a
user with a password (simple auth manager), as a new user would run it. The 8x8 side is the emulator's CLI in
its own process.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: The user the tests log in as (its password is generated per deployment).
USER = "admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:  # a server still starting
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class EmulatorProcess:
    """``eightbyeight-emulator --json`` in its own process; ``admin(...)`` calls its ``/_emulator/`` API."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.log_path = folder / "emulator.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(BIN / "eightbyeight-emulator"), "--json", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the emulator did not start: {self.log_path.read_text()[-2000:]}")
        self.info: dict[str, Any] = json.loads(line)
        self.base_url: str = self.info["base_url"]

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(method, f"{self.base_url}/_emulator/{path.lstrip('/')}", timeout=30, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class AirflowDeployment:
    """
    The four Airflow components as processes. ``env`` adds settings (``AIRFLOW__...``, ``AIRFLOW_VAR_...``)
    for every component. ``api(...)`` calls the public REST API as the logged-in user.
    """

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
    #: The UI's page to log in from, and what its URL holds until the login is done.
    LOGIN = ("/", "/auth/login")

    def __init__(self, home: Path, dags_folder: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        (home / "passwords.json").write_text(json.dumps({USER: self.password}))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "NO_PROXY": "*",
            **(env or {}),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Any] = {}
        self._token: str | None = None

    # ------------------------------------------------------------------ processes

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> AirflowDeployment:
        migrated = self.cli("db", "migrate")
        if migrated.returncode:
            raise AssertionError(f"airflow db migrate failed: {migrated.stderr[-3000:]}")
        for name in self.COMPONENTS:
            self.start_component(name)
        wait_for(self._healthy, 180, "the api-server, scheduler, dag-processor and triggerer to be healthy")
        return self

    def start_component(self, name: str) -> None:
        log = (self.home / f"{name}.log").open("ab")
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), name],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self._logs.pop(name).close()

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_component(name)

    def log_text(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited ({proc.returncode}): {self.log_text(name)[-3000:]}")
        health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        return all(
            health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "triggerer", "dag_processor")
        )

    # ------------------------------------------------------------------ REST API

    def token(self) -> str:
        if self._token is None:
            resp = requests.post(
                f"{self.url}/auth/token", json={"username": USER, "password": self.password}, timeout=30
            )
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        resp = requests.request(
            method,
            f"{self.url}/api/v2/{path.lstrip('/')}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
            **kwargs,
        )
        if resp.status_code not in tuple(expect):
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        def parsed() -> Any:
            resp = requests.get(
                f"{self.url}/api/v2/dags/{dag_id}", headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
            )
            return resp.json() if resp.status_code == 200 else None

        return wait_for(parsed, timeout, f"the dag-processor to parse {dag_id}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf or {}})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        def finished() -> Any:
            run = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_for(finished, timeout, f"run {run_id} of {dag_id} to finish", interval=1.0)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        resp = requests.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Authorization": f"Bearer {self.token()}", "Accept": "application/json"},
            timeout=60,
        )
        resp.raise_for_status()
        return json.dumps(resp.json().get("content"))  # the structured log lines, as text to search
