"""Log lines say what happened: a satisfied sensor, a finished restore, archived objects left out."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator, EightByEightTransferOperator
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine
from airflow_provider_eightbyeight.transfer.run import RunPolicy, TransferRun
from tests.helpers import FakeTI


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=71, objects_per_region=30, restore_delay=0.2)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def _stdlib(task) -> logging.Logger:  # type: ignore[no-untyped-def]
    logger = logging.getLogger(f"tests.lines.{task.task_id}")
    task._cached_logger = logger
    return logger


def test_a_satisfied_sensor_says_done_not_waiting(make_hook, emulator, caplog):
    make_hook()
    caplog.set_level(logging.INFO, logger="tests.lines")
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], min_count=1)
    _stdlib(sensor)
    assert sensor.poke({}).is_done
    lines = _messages(caplog)
    assert any("match (at least 1 wanted): done." in m for m in lines), lines
    assert not any("waiting" in m for m in lines), lines
    caplog.clear()
    waiting = EightByEightObjectsSensor(task_id="w", object_types=["callrecording"], min_count=10_000)
    _stdlib(waiting)
    assert not waiting.poke({}).is_done
    assert any("waiting until 10000 do" in m for m in _messages(caplog)), _messages(caplog)


def test_the_restore_task_reports_after_it_resumes(make_hook, caplog):
    make_hook()
    caplog.set_level(logging.INFO, logger="tests.lines")
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=["a", "b"])
    _stdlib(op)
    assert op.execute_complete({"ti": FakeTI()}, {"status": "success"}, restored=["a", "b"]) == ["a", "b"]
    assert any("Restore complete: 2 object(s) are AVAILABLE now" in m for m in _messages(caplog)), _messages(caplog)


def test_archived_objects_left_out_are_named_with_the_way_to_copy_them(make_hook, emulator, tmp_path, caplog):
    hook = make_hook()
    for obj in emulator.objects("us-east", states="AVAILABLE")[:3]:
        emulator.set_object_state(obj["id"], "ARCHIVED")
    archived = [o for o in emulator.objects("us-east") if o["objectState"] == "ARCHIVED"]
    assert len(archived) >= 3
    log = logging.getLogger("tests.lines.run")
    caplog.set_level(logging.INFO, logger="tests.lines")
    engine = TransferEngine(hook, str(tmp_path), log=log)
    summary = TransferRun(engine, RunPolicy(on_archived="skip")).start(
        hook.iter_objects(states=["AVAILABLE", "ARCHIVED"])
    )
    assert summary.archived == len(archived)
    [warning] = [m for m in _messages(caplog) if "ARCHIVED object(s) were not copied" in m]
    assert warning.startswith(f"{len(archived)} ARCHIVED") and "on_archived='restore'" in warning


def test_asset_events_must_be_a_known_mode():
    with pytest.raises(ValueError, match="asset_events must be one of changed, always"):
        EightByEightTransferOperator(task_id="t", destination="file:///tmp/x/", asset_events="sometimes")
