"""TransferEngine.run twice on one engine: the second run gets a store of its own."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=5, objects_per_region=12, archived_fraction=0.0, revoked_fraction=0.0, regions=("us-east",)
    )


def test_engine_runs_twice(make_hook, emulator, tmp_path):
    hook = make_hook()
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions())
    objs = list(hook.iter_objects("", region="us-east"))
    assert engine.run(objs[:6]).copied == 6
    second = engine.run(objs[6:])  # e.g. a loop over batches with one engine
    assert second.copied == 6
