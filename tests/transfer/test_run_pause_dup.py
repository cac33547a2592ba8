"""An object of a bulk job that turns PENDING during the job wait is listed once in the next pause manifest."""

from __future__ import annotations

import collections

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR, read_manifest
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=3, objects_per_region=10, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.3, regions=("us-east",)
    )


def test_pause_manifest_lists_object_once(make_hook, emulator, tmp_path):
    hook = make_hook()
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions())
    run = TransferRun(
        engine, RunPolicy(strategy="bulk", poll_interval=0.1, not_ready_poll_interval=0.1, not_ready_timeout=1.0)
    )
    pause = run.start(hook.iter_objects("", region="us-east"))
    assert isinstance(pause, Pause)
    victim = emulator.objects("us-east", states="AVAILABLE")[0]["id"]
    emulator.set_object_state(victim, "PENDING")
    outcome = run.resume(run.wait_here(pause))
    assert isinstance(outcome, Pause), outcome
    manifest = tmp_path / MANIFEST_DIR / run.manifest
    records = list(read_manifest(manifest))
    counts = collections.Counter(r.id for r in records)
    dup = {i: [(r.status, r.extra) for r in records if r.id == i] for i, c in counts.items() if c > 1}
    assert not dup, dup  # the object that turned PENDING is waited for once, not also as a bulk job's
    assert [r.extra.get("wait") for r in records if r.id == victim] == ["pending"]
    emulator.set_object_state(victim, "AVAILABLE")
    summary = run.resume(run.wait_here(outcome))
    final = list(read_manifest(manifest))
    assert summary.copied == 10 and summary.failed == 0
    assert len(final) == 10 and {r.status for r in final} == {"copied"}
