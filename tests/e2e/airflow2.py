"""
An Airflow 2.11 deployment for the end-to-end tests: webserver (the Flask-AppBuilder UI and the REST API v1),
scheduler (which parses the DAGs on Airflow 2) and triggerer as separate processes on loopback, with their own
AIRFLOW_HOME (SQLite, so the SequentialExecutor) and an Admin user with a password. The same methods as
:class:`tests.e2e.deployment.AirflowDeployment`, so the tests of the examples run on either.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from tests.e2e.deployment import BIN, USER, AirflowDeployment, wait_for


class Airflow2Deployment(AirflowDeployment):
    """Airflow 2's components and REST API v1 (basic auth for the tests, the session for the UI)."""

    COMPONENTS = ("webserver", "scheduler", "triggerer")
    LOGIN = ("/login/", "/login")

    def __init__(self, home: Path, dags_folder: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(home, dags_folder, env)
        for name in [k for k in self.env if k.startswith(("AIRFLOW__API__", "AIRFLOW__API_AUTH__"))]:
            del self.env[name]  # Airflow 3's api-server settings
        for name in ("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"):
            self.env.pop(name, None)
        self.env.update(
            {
                # the executor starts `airflow tasks run` from PATH
                "PATH": f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",  # Airflow 2 runs no other executor on SQLite
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
                "AIRFLOW__WEBSERVER__BASE_URL": self.url,
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                **(env or {}),
            }
        )

    def start(self) -> AirflowDeployment:
        migrated = self.cli("db", "migrate")
        if migrated.returncode:
            raise AssertionError(f"airflow db migrate failed: {migrated.stderr[-3000:]}")
        made = self.cli(
            "users", "create", "--username", USER, f"--password={self.password}", "--role", "Admin",
            "--email", "admin@example.com", "--firstname", "Ada", "--lastname", "Admin",
        )  # fmt: skip
        if made.returncode:
            raise AssertionError(f"airflow users create failed: {made.stderr[-3000:]}")
        for name in self.COMPONENTS:
            self.start_component(name)
        wait_for(self._healthy, 180, "the webserver, scheduler and triggerer to be healthy")
        return self

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited ({proc.returncode}): {self.log_text(name)[-3000:]}")
        health = requests.get(f"{self.url}/health", timeout=5).json()
        return all(health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "triggerer"))

    # ------------------------------------------------------------------ REST API v1

    def token(self) -> str:
        raise NotImplementedError("Airflow 2's REST API takes basic auth (see api())")

    def api(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        # v1 answers a create with 200 where v2 answers 201
        wanted = {200 if code == 201 else code for code in expect}
        resp = requests.request(
            method,
            f"{self.url}/api/v1/{path.lstrip('/')}",
            auth=(USER, self.password),
            timeout=60,
            **kwargs,
        )
        if resp.status_code not in wanted:
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        def parsed() -> Any:
            resp = requests.get(f"{self.url}/api/v1/dags/{dag_id}", auth=(USER, self.password), timeout=30)
            return resp.json() if resp.status_code == 200 else None

        return wait_for(parsed, timeout, f"the scheduler to parse {dag_id}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        body: dict[str, Any] = {"conf": conf or {}}
        if logical_date is not None:
            body["logical_date"] = logical_date
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        resp = requests.get(
            f"{self.url}/api/v1/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
            auth=(USER, self.password),
            timeout=60,
        )
        resp.raise_for_status()
        return json.dumps(resp.json().get("content"))

    def import_errors(self) -> dict[str, str]:
        """The DAG files Airflow could not load, with their errors."""
        errors = self.api("GET", "importErrors")["import_errors"]
        return {str(e["filename"]): str(e["stack_trace"]) for e in errors}
