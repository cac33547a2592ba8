"""A run that fails while collecting bulk jobs removes the zips it fetched ahead (each can be 2 GB)."""

from __future__ import annotations

import glob
import os
import tempfile

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.bulk import ZipCopier
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=3, objects_per_region=40, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.2, regions=("us-east",)
    )


def test_no_zip_left_after_a_failed_collection(make_hook, emulator, tmp_path, monkeypatch):
    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.bulk.BULK_MAX_OBJECTS", 10)
    zips = os.path.join(tempfile.gettempdir(), "8x8-bulk-*.zip")
    before = set(glob.glob(zips))
    hook = make_hook()
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions())

    def boom(self, job, zip_path, batch):
        raise RuntimeError("worker dies while extracting")  # e.g. AirflowTaskTimeout / disk full on destination

    monkeypatch.setattr(ZipCopier, "copy_from_zip", boom)
    with pytest.raises(RuntimeError):
        engine.run(hook.iter_objects("", region="us-east"), strategy="bulk", poll_interval=0.1)
    left = set(glob.glob(zips)) - before
    assert len(list((tmp_path / MANIFEST_DIR).iterdir())) == 1  # the failed run still wrote its manifest
    for path in left:  # tidy up what the bug leaves
        os.unlink(path)
    assert not left
