"""A bulk object that turns PENDING during the job wait lands at the same path deferred or in the worker."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=3, objects_per_region=10, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.3, regions=("us-east",)
    )


POLICY = RunPolicy(strategy="bulk", poll_interval=0.1, not_ready_poll_interval=0.1, not_ready_timeout=2.0)


def _go(hook, emulator, dest, deferred):
    engine = TransferEngine(hook, dest.as_uri(), TransferOptions())
    run = TransferRun(engine, POLICY)
    outcome = run.start(hook.iter_objects("", region="us-east"))
    victim = sorted(o["id"] for o in emulator.objects("us-east", states="AVAILABLE"))[0]
    emulator.set_object_state(victim, "PENDING")
    n = 0
    while isinstance(outcome, Pause):
        event = run.wait_here(outcome)
        n += 1
        if deferred:
            state = run.state()
            run.close()
            run = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), POLICY, state)
        outcome = run.resume(event)
        if n == 1:
            emulator.set_object_state(victim, "AVAILABLE")
    assert n == 2
    rec = {r.id: r for r in outcome.records}[victim]
    return rec.status, rec.path


def test_same_path_deferred_or_not(make_hook, emulator, tmp_path):
    hook = make_hook()
    a = _go(hook, emulator, tmp_path / "here", deferred=False)
    b = _go(hook, emulator, tmp_path / "deferred", deferred=True)
    assert a == b


def test_a_rerun_after_an_in_worker_run_copies_nothing_twice(make_hook, emulator, tmp_path):
    hook = make_hook()
    status, path = _go(hook, emulator, tmp_path / "here", deferred=False)
    assert status == "copied" and "~" not in path  # at its own rendered path, not beside a stale claim
    again = TransferEngine(hook, (tmp_path / "here").as_uri(), TransferOptions()).run(
        hook.iter_objects("", region="us-east")
    )
    files = [p for p in (tmp_path / "here").rglob("*") if p.is_file() and "_manifests" not in p.parts]
    assert again.copied == 0 and again.skipped == 10 and len(files) == 10
