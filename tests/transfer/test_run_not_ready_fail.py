"""``on_not_ready="fail"``: objects not ready fail the task at once (no wait), after the rest is copied."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferError, TransferOptions
from airflow_provider_eightbyeight.transfer.run import RunPolicy, TransferRun
from tests.helpers import FakeTI

REGION = "us-east"


@pytest.fixture
def emulator_config():
    return EmulatorConfig(seed=8, objects_per_region=5, archived_fraction=0.0, revoked_fraction=0.0, regions=(REGION,))


def test_the_run_does_not_wait_and_counts_them_as_failures(make_hook, emulator, tmp_path):
    hook = make_hook()
    pending = emulator.add_object(REGION, size=1000, state="PENDING")
    run = TransferRun(TransferEngine(hook, tmp_path.as_uri(), TransferOptions()), RunPolicy(on_not_ready="fail"))
    summary = run.start(hook.iter_objects("", region=REGION, states=("AVAILABLE", "PENDING")))
    assert not hasattr(summary, "trigger"), "the run paused to wait"
    assert summary.copied == 5 and summary.not_ready == 1 and summary.failure_count == 1
    assert "on_not_ready='fail'" in summary.failures[pending["id"]]


def test_the_operator_fails_the_task_without_deferring(make_hook, emulator, tmp_path):
    make_hook()
    pending = emulator.add_object(REGION, size=1000, state="PENDING")
    op = EightByEightTransferOperator(
        task_id="t", destination=tmp_path.as_uri(), on_not_ready="fail", deferrable=True, region=REGION
    )
    with pytest.raises(TransferError, match=pending["id"]) as raised:
        op.execute({"ti": FakeTI()})
    assert "not ready" in str(raised.value)
    copied = [p for p in tmp_path.rglob("*") if p.is_file() and "_manifests" not in p.parts]
    assert len(copied) == 5
