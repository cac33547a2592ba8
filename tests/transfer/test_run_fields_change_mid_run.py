"""
An object whose metadata turns malformed while the run waits (for its bulk job, or for a restore) is that
object's failure: recorded failed with the problem, never copied, never deleted at 8x8.
"""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun

REGION = "us-east"


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=5, objects_per_region=6, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.3, regions=(REGION,)
    )


def _run(hook, dest, policy, during_wait, states=None):
    engine = TransferEngine(hook, dest.as_uri(), TransferOptions())
    run = TransferRun(engine, policy)
    outcome = run.start(hook.iter_objects("", region=REGION, states=states))
    waits = 0
    while isinstance(outcome, Pause):
        if waits == 0:
            during_wait()
        outcome = run.resume(run.wait_here(outcome))
        waits += 1
    assert waits >= 1, "the run never waited: the case was not exercised"
    return outcome


@pytest.mark.parametrize(
    "wire",
    [{"objectName": 5}, {"checksum": 12}, {"storedBytes": "big"}, {"createdTime": [1]}],
    ids=["name", "checksum", "size", "created"],
)
def test_a_field_malformed_during_the_bulk_wait_is_that_objects_failure(make_hook, emulator, tmp_path, wire):
    hook = make_hook()
    victim = sorted(o["id"] for o in emulator.objects(REGION))[0]

    def malform() -> None:
        emulator.set_object_wire(victim, wire=wire)

    policy = RunPolicy(strategy="bulk", poll_interval=0.1, delete_after_transfer=True)
    summary = _run(hook, tmp_path / "dest", policy, malform)
    records = {r.id: r for r in summary.records}
    assert records[victim].status == "failed", records[victim]
    assert "not copied" in (records[victim].reason or ""), records[victim].reason
    assert not records[victim].path or not (tmp_path / "dest" / records[victim].path).exists()
    assert emulator.get(victim)["objectState"] == "AVAILABLE"  # not deleted
    others = [r for i, r in records.items() if i != victim]
    assert len(others) == 5 and all(r.status == "copied" for r in others), [r.status for r in others]


def test_a_field_malformed_during_the_restore_wait_is_that_objects_failure(make_hook, emulator, tmp_path):
    hook = make_hook()
    victim = sorted(o["id"] for o in emulator.objects(REGION))[0]
    emulator.set_object_state(victim, "ARCHIVED")

    def malform() -> None:
        emulator.set_object_wire(victim, wire={"objectName": 5})

    policy = RunPolicy(on_archived="restore", poll_interval=0.1, restore_timeout=30, delete_after_transfer=True)
    summary = _run(hook, tmp_path / "dest", policy, malform, states=("AVAILABLE", "ARCHIVED"))
    records = {r.id: r for r in summary.records}
    assert records[victim].status == "failed" and "not copied" in (records[victim].reason or ""), records[victim]
    assert emulator.get(victim)["objectState"] != "DELETED"
