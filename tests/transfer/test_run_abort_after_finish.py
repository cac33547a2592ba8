"""An interruption during the delete phase (e.g. execution_timeout) surfaces as itself, and the manifest
already names what was about to be deleted."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR, read_manifest


class TaskTimeout(Exception):
    pass


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=5, objects_per_region=12, archived_fraction=0.0, revoked_fraction=0.0, regions=("us-east",)
    )


def test_interrupt_during_delete_keeps_its_error(make_hook, emulator, tmp_path):
    hook = make_hook()

    def interrupted(*a, **k):
        raise TaskTimeout("execution_timeout while deleting")

    hook.delete_objects = interrupted
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(prove_skips=True))
    with pytest.raises(TaskTimeout):  # the interruption itself, not an error of the run's own clean-up
        engine.run(hook.iter_objects("", region="us-east"), delete_after_transfer=True)
    [manifest] = list((tmp_path / MANIFEST_DIR).iterdir())
    records = list(read_manifest(manifest))
    assert len(records) == 12 and all(r.status == "copied" for r in records)
    assert {r.delete for r in records} == {"requested"}  # named before the call that never happened
    assert all(emulator.get(r.id)["objectState"] == "AVAILABLE" for r in records)
