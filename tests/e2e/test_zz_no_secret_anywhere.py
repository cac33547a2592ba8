"""
Runs after the other end-to-end tests (files are collected in name order): the 8x8 secret must be in no byte
the deployment wrote — component and task logs, the metadata database (connections are Fernet-encrypted), the
copies, manifests and sidecars.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.deployment import AirflowDeployment, EmulatorProcess

#: Files that hold the secret by design: the emulator's own log (it is 8x8, not the provider).
_OWNED_BY_8X8 = {"emulator.log"}


def test_the_secret_is_in_no_log_database_or_file(
    deployment: AirflowDeployment, emulator_process: EmulatorProcess, e2e_dir: Path
) -> None:
    secret = emulator_process.info["secret"].encode()
    scanned = 0
    leaks: list[str] = []
    for path in e2e_dir.rglob("*"):
        if not path.is_file() or path.name in _OWNED_BY_8X8:
            continue
        scanned += 1
        if secret in path.read_bytes():
            leaks.append(str(path.relative_to(e2e_dir)))
    db = deployment.home / "airflow.db"
    assert db.stat().st_size > 0 and scanned > 20  # the scan saw the deployment's files, the database included
    assert not leaks, leaks


def test_no_deprecation_warning_from_the_provider_in_any_log(deployment: AirflowDeployment, e2e_dir: Path) -> None:
    """What the scheduler, the triggerer, the UI server and every task logged: no deprecation warning names a
    module of this provider (Airflow's own warnings are Airflow's)."""
    pattern = re.compile(rb"airflow_provider_eightbyeight[/\w.]*:\d+: (\w*(?:Deprecat|Removed)\w*|FutureWarning)")
    logs = [p for p in e2e_dir.rglob("*") if p.is_file() and (p.suffix == ".log" or "logs" in p.parts)]
    assert logs, "the deployment wrote no logs"
    found = [f"{p.relative_to(e2e_dir)}: {m.group(0).decode()}" for p in logs for m in pattern.finditer(p.read_bytes())]
    assert not found, found[:10]
