"""A run interrupted in the main thread (e.g. execution_timeout) stops its copy pool before it publishes its
manifest: copies still running finish and are recorded with their own fate, never as "not attempted"."""

from __future__ import annotations

import time

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR, read_manifest


class Timeout(Exception):
    pass


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=3, objects_per_region=40, archived_fraction=0.0, revoked_fraction=0.0, regions=("us-east",)
    )


def test_abort_waits_for_the_pool(make_hook, emulator, tmp_path, monkeypatch, caplog):
    emulator.add_fault(FaultRule(kind="latency", route="content", delay=0.5))
    hook = make_hook()
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(max_workers=4))
    real_copy_all = TransferEngine.copy_all

    def copy_all(self, *args, **kwargs):
        for taken, record in enumerate(real_copy_all(self, *args, **kwargs), start=1):
            if taken == 2:
                raise Timeout("execution_timeout")  # what Airflow's timeout signal does in the main thread
            yield record

    monkeypatch.setattr(TransferEngine, "copy_all", copy_all)
    with pytest.raises(Timeout):
        engine.run(hook.iter_objects("", region="us-east"))
    [manifest] = list((tmp_path / MANIFEST_DIR).iterdir())
    at_abort = {r.id: r for r in read_manifest(manifest)}
    time.sleep(3)  # the pool is still running
    files = {
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file() and "_manifests" not in p.parts
    }
    said_failed_but_present = [
        r.id for r in at_abort.values() if r.status == "failed" and any(r.id in f for f in files)
    ]
    closed_errors = [m for m in caplog.messages if "closed database" in m]
    assert not said_failed_but_present and not closed_errors
