"""The objects sensor and the restore operator outside a DAG run (poke, timeouts, deferral, events)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_provider_eightbyeight.errors import EightByEightError
from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightObjectsTrigger, EightByEightRestoreTrigger


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=61, objects_per_region=30, restore_delay=0.3)


@pytest.fixture
def conn(make_hook):
    make_hook()


def test_poke_pushes_matching_ids(conn, emulator):
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], min_count=2)
    result = sensor.poke({})
    want = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "callrecording"}
    assert result.is_done and set(result.xcom_value) == want
    assert not EightByEightObjectsSensor(task_id="s2", object_types=["meeting"], min_count=999).poke({}).is_done


def test_an_object_whose_id_cannot_be_used_neither_counts_nor_hides_a_usable_match(conn, emulator):
    calls = [o for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "callrecording"]
    first = datetime.fromisoformat(min(o["createdTime"] for o in calls)).replace(tzinfo=timezone.utc)
    emulator.add_object("us-east", type="callrecording", object_id=" padded", created=first - timedelta(minutes=1))
    # min_count is every usable match; the unusable one sorts first (createdTime ASC), inside the read limit
    enough = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], min_count=len(calls), max_ids=1)
    result = enough.poke({})
    assert result.is_done and result.xcom_value == [min(calls, key=lambda o: o["createdTime"])["id"]]
    too_many = EightByEightObjectsSensor(task_id="t", object_types=["callrecording"], min_count=len(calls) + 1)
    assert not too_many.poke({}).is_done


def test_non_deferrable_sensor_times_out(conn):
    sensor = EightByEightObjectsSensor(
        task_id="s", object_types=["nothing-like-this"], poke_interval=0.1, timeout=0.3, deferrable=False
    )
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute({"ti": None})


def test_deferrable_sensor_defers_with_a_serialisable_trigger(conn):
    sensor = EightByEightObjectsSensor(
        task_id="s",
        object_types=["voicemail"],
        created_after="2027-01-01T00:00:00Z",
        min_count=3,
        poke_interval=7,
        timeout=60,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, EightByEightObjectsTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["filter"] == "type==voicemail;createdTime=ge=1798761600000"
    assert (kwargs["min_count"], kwargs["poll_interval"]) == (3, 7.0)
    assert info.value.method_name == "execute_complete"


def test_sensor_resume_handles_every_event(conn, emulator):
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], deferrable=True)
    ids = sensor.execute_complete({}, {"status": "success", "count": 1})
    assert ids and all(isinstance(i, str) for i in ids)
    with pytest.raises(EightByEightError, match="boom"):
        sensor.execute_complete({}, {"status": "error", "message": "boom"})
    with pytest.raises(AirflowSensorTimeout, match="Only 0 of 1"):
        sensor.execute_complete({}, {"status": "timeout", "count": 0})


def test_min_count_must_be_positive(conn):
    with pytest.raises(ValueError, match="min_count"):
        EightByEightObjectsSensor(task_id="s", min_count=0).poke({})


def test_restore_operator_waits_synchronously(conn, emulator):
    ids = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")[:2]]
    for object_id in ids:
        emulator.set_object_state(object_id, "ARCHIVED")
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=ids, poll_interval=0.1, deferrable=False)
    assert op.execute({}) == ids
    assert all(emulator.get(i)["objectState"] == "AVAILABLE" for i in ids)


def test_restore_operator_defers_and_reports_timeouts(conn, emulator):
    archived = [o["id"] for o in emulator.objects("us-east", states="ARCHIVED")]
    op = EightByEightRestoreObjectsOperator(task_id="r", deferrable=True, poll_interval=5)

    class TI:
        task_id, map_index = "r", -1
        store: dict = {}

        def xcom_push(self, key, value):
            self.store[key] = value

        def xcom_pull(self, task_ids, key, map_indexes):
            return self.store.get(key)

    ti = TI()
    with pytest.raises(TaskDeferred) as info:
        op.execute({"ti": ti})
    assert isinstance(info.value.trigger, EightByEightRestoreTrigger)
    assert sorted(o["id"] for o in info.value.trigger.objects) == sorted(archived)
    assert sorted(op.execute_complete({"ti": ti}, {"status": "success"})) == sorted(archived)
    with pytest.raises(EightByEightError, match="did not complete"):
        op.execute_complete({"ti": ti}, {"status": "timeout", "message": "late", "pending": archived})
    with pytest.raises(ValueError, match="expiration_days"):
        EightByEightRestoreObjectsOperator(task_id="x", expiration_days=11)


def test_restore_by_search_restores_every_archived_object_when_restoring_shows_pending(conn, emulator):
    """Objects leaving ARCHIVED while the search pages must not shift later pages (issue 8 #4)."""
    emulator.config.restore_pending_state = "PENDING"
    emulator.config.restore_delay = 3600.0
    for _ in range(250):
        emulator.add_object("us-east", state="ARCHIVED", size=1000)
    archived = {o["id"] for o in emulator.objects("us-east", states="ARCHIVED")}
    op = EightByEightRestoreObjectsOperator(task_id="r", wait_for_completion=False)
    restored = op.execute({})
    assert set(restored) == archived and len(restored) == len(archived) >= 250
    assert not emulator.objects("us-east", states="ARCHIVED")  # every one is restoring (PENDING) now
