"""
The main job (``make demo``): start the 8x8 emulator, run example DAG 1 (daily export) with
``airflow dags test`` on a real Airflow with SQLite, and print what was copied and where.

Not a DAG: Airflow skips this file (see ``.airflowignore``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(os.environ.get("EIGHTBYEIGHT_DEMO_DIR") or ROOT / ".demo")
AIRFLOW_HOME = DEMO_DIR / "airflow"
DESTINATION = DEMO_DIR / "recordings"
DAG_ID = "example_eightbyeight_daily_export"
LOGICAL_DATE = "2026-11-03T00:00:00+00:00"  # data interval 2026-11-02 .. 2026-11-03


def _airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    airflow = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run([airflow, *args], env=env, capture_output=True, text=True, check=False)


def _latest_manifest() -> Path | None:
    manifests = sorted((DESTINATION / "_manifests").glob("*.jsonl"))
    return manifests[-1] if manifests else None


def main() -> int:
    """Run the demo; return a process exit code."""
    from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig

    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW_VAR_EIGHTBYEIGHT_DESTINATION": DESTINATION.as_uri() + "/",
    }
    if not (AIRFLOW_HOME / "airflow.db").exists():
        print("Creating the Airflow metadata database (SQLite)...")
        migrated = _airflow("db", "migrate", env=env)
        if migrated.returncode != 0:
            print(migrated.stdout[-3000:], migrated.stderr[-3000:], sep="\n")
            return migrated.returncode
        from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_1_PLUS

        if not AIRFLOW_V_3_1_PLUS:  # `dags test` of Airflow 3.0 refuses, and 2.11 skips, assets not in the DB
            _airflow("dags", "reserialize", env=env)

    config = EmulatorConfig(seed=2026, objects_per_region=300, accounts=(Account(regions=("us-east",)),))
    with EightByEightEmulator(config) as emulator:
        env["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"] = emulator.connection_uri()
        print(f"8x8 emulator running at {emulator.base_url} (token URL {emulator.token_url})")
        previous = _latest_manifest()
        print(f"Running DAG {DAG_ID} for {LOGICAL_DATE} with `airflow dags test`...")
        run = _airflow("dags", "test", DAG_ID, LOGICAL_DATE, env=env)
        log_path = DEMO_DIR / "last_dag_run.log"
        log_path.write_text(run.stdout + run.stderr)
        manifest = _latest_manifest()
        if run.returncode != 0 or manifest is None or manifest == previous:
            print(run.stdout[-4000:], run.stderr[-4000:], sep="\n")
            print(f"The DAG run failed; full log: {log_path}")
            return run.returncode or 1
        stats = emulator.stats()

    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    copied = [r for r in records if r["status"] == "copied"]
    skipped = [r for r in records if r["status"] == "skipped"]
    other = [r for r in records if r["status"] not in ("copied", "skipped")]
    print()
    print(f"{'status':8} {'type':20} {'bytes':>8}  path")
    for record in (copied or skipped)[:12]:
        print(f"{record['status']:8} {record['type'] or '':20} {record['size'] or 0:8d}  {record['path']}")
    if len(copied or skipped) > 12:
        print(f"... and {len(copied or skipped) - 12} more")
    print()
    print(
        f"{'copied':>10}: {len(copied)} objects, {sum(r['size'] or 0 for r in copied):,} bytes, all MD5-verified: "
        f"{all(r['verified'] for r in copied)}"
    )
    print(f"{'skipped':>10}: {len(skipped)} (already present and verified by an earlier run)")
    print(f"{'not copied':>10}: {len(other)} ({', '.join(sorted({r['status'] for r in other})) or 'none'})")
    print(f"{'folder':>10}: {DESTINATION}")
    print(f"{'manifest':>10}: {manifest}")
    print(f"{'8x8 calls':>10}: {stats['total_requests']} requests, {stats['token_requests']} token request(s)")
    print(f"{'DAG log':>10}: {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
