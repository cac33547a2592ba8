"""
The main job (``make demo``): start the 8x8 emulator, then list and download call recordings with
EightByEightHook, verified by MD5, and print what was moved and where.

Not a DAG: Airflow skips this file (see ``.airflowignore``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
DESTINATION = DEMO_DIR / "recordings"


def _prepare_airflow() -> None:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-demo-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def main() -> int:
    """Run the demo; return a process exit code."""
    _prepare_airflow()
    from airflow_provider_eightbyeight.filters import ObjectFilter
    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
    from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig

    config = EmulatorConfig(seed=2026, objects_per_region=120, accounts=(Account(regions=("us-east", "uk")),))
    with EightByEightEmulator(config) as emulator:
        os.environ["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"] = emulator.connection_uri()
        print(f"8x8 emulator running at {emulator.base_url} (token URL {emulator.token_url})")
        hook = EightByEightHook()
        ok, message = hook.test_connection()
        print(f"Connection test: {message}")
        if not ok:
            return 1
        flt = ObjectFilter(object_types=["callrecording", "callcenterrecording"])
        rows = []
        total = 0
        for obj in hook.iter_objects(flt, all_regions=True):
            target = DESTINATION / obj.region / (obj.type or "object") / f"{obj.id}_{obj.name}"  # type: ignore[operator]
            result = hook.download_object(obj, target)
            rows.append((obj.region, obj.type, obj.id, result.size, result.md5, result.verified))
            total += result.size
        print()
        print(f"{'region':8} {'type':20} {'object id':36} {'bytes':>8}  md5 verified")
        for region, kind, oid, size, md5, verified in rows[:10]:
            print(f"{region:8} {kind:20} {oid:36} {size:8d}  {md5[:8]}… {'yes' if verified else 'no'}")
        if len(rows) > 10:
            print(f"... and {len(rows) - 10} more")
        print()
        print(f"Copied {len(rows)} recordings, {total:,} bytes, all MD5-verified: {all(r[5] for r in rows)}")
        print(f"Destination folder: {DESTINATION}")
        print(f"Requests sent: {hook.stats.requests} (token requests: {hook.stats.token_requests})")
        hook.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
