"""
Golden runs: the whole transfer (operator → run → engine → hook → the emulator over HTTP) on a fixed-seed
emulator, snapshotted, so that moving code between modules cannot change what a run does.

{objects, bulk, auto} x {deferrable, in the worker} x {delete on, off} x {a fresh destination, a re-run over
damaged and foreign copies}. Each snapshot holds the normalised manifest (records by id, no timings), the
summary without timings, and the emulator's requests per endpoint (polls of a job or a restore counted as
"polled", since how often depends on the clock). ``EIGHTBYEIGHT_UPDATE_GOLDEN=1`` rewrites them; a change to a
snapshot is a change of behaviour and must be explained in its commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig
from tests.helpers import FakeTI, drive, is_sidecar

SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE = os.environ.get("EIGHTBYEIGHT_UPDATE_GOLDEN") == "1"

#: Endpoints asked until something is ready (a bulk job, a restore: its objects are searched by id), so how
#: often depends on the clock: only whether they were asked. Every other endpoint's count is exact.
POLLED = {"bulk_status", "bulk_statuses", "get_object", "metadata", "search"}
#: Summary keys that depend on the clock (``requests`` counts the polls of an in-worker wait) or on this machine.
TIMINGS = {"seconds", "manifest", "destination", "requests"}
#: Manifest keys that name this test's temporary folder or a time.
LOCAL = {"destination", "source"}

SCENARIOS = [
    (strategy, deferrable, delete, history)
    for strategy in ("objects", "bulk", "auto")
    for deferrable in (True, False)
    for delete in (False, True)
    for history in ("fresh", "damaged")
]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=2112,
        objects_per_region=12,
        regions=("us-east", "uk"),
        accounts=(Account(regions=("us-east", "uk")),),
        archived_fraction=0.2,
        revoked_fraction=0.1,
        bulk_delay=0.3,
        restore_delay=0.3,
        unstable_ties=False,
    )


def _operator(dest: Path, strategy: str, deferrable: bool, delete: bool, task_id: str) -> Any:
    return EightByEightTransferOperator(
        task_id=task_id,
        destination=dest.as_uri(),
        strategy=strategy,
        deferrable=deferrable,
        delete_after_transfer=delete,
        on_archived="restore",
        write_metadata=True,
        poll_interval=0.1,
        restore_poll_interval=0.1,
        not_ready_poll_interval=0.1,
        max_workers=2,
        region="all",
    )


def _damage(dest: Path, emulator: EightByEightEmulator) -> None:
    """Break one copy, put a foreign file at another's path and drop the manifests, as history can."""
    copies = sorted(p for p in dest.rglob("*") if p.is_file() and "_manifests" not in p.parts and not is_sidecar(p))
    copies[0].write_bytes(b"damaged")
    copies[1].write_bytes(b"a file someone else put here")
    copies[1].with_name(copies[1].name + ".meta.json").unlink()
    for manifest in (dest / "_manifests").iterdir():
        manifest.unlink()


def _manifest(dest: Path) -> list[dict[str, Any]]:
    [path] = sorted((dest / "_manifests").glob("*.jsonl"))[-1:]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        for key in LOCAL:
            record.pop(key, None)
    return sorted(records, key=lambda r: (r["id"], r["path"]))


def _requests(emulator: EightByEightEmulator) -> dict[str, Any]:
    routes = emulator.stats()["requests"]
    return {route: ("polled" if route in POLLED else n) for route, n in sorted(routes.items()) if route != "admin"}


def _files(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and "_manifests" not in p.parts)


@pytest.mark.parametrize(("strategy", "deferrable", "delete", "history"), SCENARIOS)
def test_golden_run(
    strategy: str,
    deferrable: bool,
    delete: bool,
    history: str,
    make_hook: Any,
    emulator: EightByEightEmulator,
    tmp_path: Path,
) -> None:
    make_hook()
    dest = tmp_path / "dest"
    if history == "damaged":
        drive(_operator(dest, strategy, deferrable, False, "first"), FakeTI())
        _damage(dest, emulator)
        for object_id in [o["id"] for region in emulator.regions for o in emulator.objects(region, "AVAILABLE")][:1]:
            emulator.set_object_state(object_id, "ARCHIVED")  # restored again by the second run
    emulator.reset_stats()
    summary, deferrals = drive(_operator(dest, strategy, deferrable, delete, "golden"), FakeTI())
    got = {
        "summary": {k: v for k, v in summary.items() if k not in TIMINGS},
        "deferred": deferrals > 0,
        "manifest": _manifest(dest),
        "files": _files(dest),
        "requests": _requests(emulator),
        "states": {o["id"]: o["objectState"] for region in emulator.regions for o in emulator.objects(region)},
    }
    name = f"{strategy}-{'deferred' if deferrable else 'worker'}-{'delete' if delete else 'keep'}-{history}.json"
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        if not UPDATE:
            pytest.fail(f"no snapshot {name} yet: written now; check it and commit it")
    want = json.loads(path.read_text())
    got = json.loads(json.dumps(got))  # as the snapshot holds it
    for part in ("summary", "deferred", "files", "requests", "states"):
        assert got[part] == want[part], part
    mine, theirs = ({(r["id"], r["path"]): r for r in m} for m in (got["manifest"], want["manifest"]))
    assert sorted(mine) == sorted(theirs), "manifest records"
    for key, record in mine.items():
        assert record == theirs[key], key
