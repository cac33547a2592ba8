"""A deferrable transfer that fails while it defers cancels the bulk jobs it started (they would run on at 8x8)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig

REGION = "us-east"


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=23, objects_per_region=4, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.2, regions=(REGION,)
    )


class _XComDown(Exception):
    pass


def test_jobs_are_cancelled_when_saving_the_resume_state_fails(make_hook, emulator, tmp_path):
    """
    'When a run fails after starting jobs, it cancels its jobs before the error propagates.' The deferrable
    operator saves the run's state to XCom before deferring; if that push fails (metadata DB or XCom backend
    down) the error leaves execute() with the run's bulk jobs still running at 8x8 and nobody to collect them.
    """
    from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
    from tests.helpers import FakeTI

    class BrokenTI(FakeTI):
        def xcom_push(self, key: str, value: Any) -> None:
            if key == "eightbyeight_resume_transfer_run":  # the run's saved state
                raise _XComDown(f"XCom backend unavailable for {key}")
            super().xcom_push(key, value)

    make_hook()
    for _ in range(3):
        emulator.add_object(REGION, type="callrecording", size=1000)
    emulator.store.config.bulk_delay = 3600.0  # the jobs are still running when the task defers
    op = EightByEightTransferOperator(
        task_id="t", destination=(tmp_path / "dest").as_uri(), strategy="bulk", deferrable=True, poll_interval=0.1
    )
    with pytest.raises(_XComDown):
        op.execute({"ti": BrokenTI()})
    started = emulator.stats()["requests"].get("bulk_start", 0)
    cancelled = emulator.stats()["requests"].get("bulk_cancel", 0)
    assert started >= 1
    assert cancelled >= started, (
        f"the task failed after starting {started} bulk job(s) and cancelled {cancelled}: they keep running at 8x8"
    )
    [manifest] = sorted((tmp_path / "dest" / "_manifests").glob("*.jsonl"))
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert records and not [r for r in records if r["status"] == "waiting"], records  # a fate each
    in_jobs = [r for r in records if r["status"] == "failed"]
    assert in_jobs and all("XCom backend unavailable" in r["reason"] for r in in_jobs), in_jobs
