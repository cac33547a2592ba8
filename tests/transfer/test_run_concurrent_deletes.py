"""
Two deleting runs over overlapping windows: each object is reported ``deleted`` by exactly one of them; the
other finds it already REVOKED when its call is made and reports it ``already_deleted``.
"""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun

REGION = "us-east"
POLICY = RunPolicy(delete_after_transfer=True, not_ready_poll_interval=0.1, not_ready_timeout=3.0)


@pytest.fixture
def emulator_config():
    return EmulatorConfig(seed=12, objects_per_region=6, archived_fraction=0.0, revoked_fraction=0.0, regions=(REGION,))


def test_each_delete_is_reported_by_one_run(make_hook, emulator, tmp_path):
    hook = make_hook()
    pending = emulator.add_object(REGION, size=1000, state="PENDING")
    late = TransferRun(TransferEngine(hook, (tmp_path / "b").as_uri(), TransferOptions()), POLICY)
    pause = late.start(hook.iter_objects("", region=REGION, states=("AVAILABLE", "PENDING")))
    assert isinstance(pause, Pause)  # copied the 6, waits for the pending one
    early = TransferEngine(hook, (tmp_path / "a").as_uri(), TransferOptions()).run(
        hook.iter_objects("", region=REGION), delete_after_transfer=True
    )
    assert early.deleted == 6
    emulator.set_object_state(pending["id"], "AVAILABLE")
    summary = late.resume(late.wait_here(pause))
    assert summary.deleted == 1 and summary.already_deleted == 6 and summary.not_deleted == 0
    assert summary.as_dict()["already_deleted"] == 6
    fates = {r.id: r.delete for r in summary.records}
    assert fates[pending["id"]] == "deleted"
    assert sorted(v for k, v in fates.items() if k != pending["id"]) == ["already_deleted"] * 6


def test_the_hook_does_not_send_deletes_for_objects_already_gone(hook, emulator):
    [first, second] = [o["id"] for o in emulator.objects(REGION)[:2]]
    emulator.set_object_state(first, "REVOKED")
    result = hook.delete_objects([first, second], region=REGION)
    assert result.already_deleted == (first,)
    assert result.deleted == (second,)
