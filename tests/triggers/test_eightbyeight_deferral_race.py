"""
The provider's side of Airflow's stale-success race after a deferral (issue 18 point 10): the operators and the
sensor never defer on a wait that is already over, and in the triggerer no trigger sends its first event before
the scheduler can have drained the executor's report of the worker that deferred.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator, EightByEightTransferOperator
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from airflow_provider_eightbyeight.triggers import eightbyeight as triggers
from airflow_provider_eightbyeight.triggers.eightbyeight import (
    EightByEightBulkJobTrigger,
    EightByEightObjectsTrigger,
    EightByEightRestoreTrigger,
    first_event_delay,
)
from tests.helpers import FAST_RETRY_EXTRAS, FakeTI, drive

CONN = "eightbyeight_default"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=18, objects_per_region=12, bulk_delay=0.0, restore_delay=0.0)


@pytest.fixture
def conn(make_hook: Any) -> None:
    make_hook()


def in_the_triggerer(trigger: Any) -> Any:
    """What the triggerer does: serialise, JSON round trip, import, construct, set the trigger's row id."""
    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    rebuilt.trigger_id = 42
    return rebuilt


async def timed_first_event(trigger: Any) -> tuple[dict[str, Any], float]:
    async for event in trigger.run():
        return dict(event.payload), time.time()
    raise AssertionError("the trigger ended without an event")


def ready_triggers(emulator: EightByEightEmulator, hook: Any, **kwargs: Any) -> list[Any]:
    """One trigger of each kind whose wait is over at its first poll."""
    available = emulator.objects("us-east", states="AVAILABLE")
    job = hook.start_bulk_download([available[0]["id"]], region="us-east")[0]  # ready at once (bulk_delay=0)
    return [
        EightByEightObjectsTrigger(eightbyeight_conn_id=CONN, filter=None, min_count=1, poll_interval=0.1, **kwargs),
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id=CONN,
            jobs=[{"zip_name": job.zip_name, "region": "us-east"}],
            poll_interval=0.1,
            **kwargs,
        ),
        EightByEightRestoreTrigger(
            eightbyeight_conn_id=CONN,
            objects=[{"id": available[1]["id"], "region": "us-east"}],
            poll_interval=0.1,
            **kwargs,
        ),
    ]


# ---------------------------------------------------------------------------- the first event's delay


def test_the_delay_covers_the_supervisor_wait_and_a_scheduler_loop() -> None:
    from airflow.providers.common.compat.sdk import conf

    heartbeat = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)  # Airflow 2 has no [workers]
    idle = conf.getfloat("scheduler", "scheduler_idle_sleep_time")
    assert first_event_delay() == heartbeat + 2 * idle + triggers.FIRST_EVENT_MARGIN
    assert first_event_delay() == 10.0  # Airflow's defaults: 5 s, 1 s


def test_the_delay_follows_the_airflow_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "2")
    monkeypatch.setenv("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "0.5")
    assert first_event_delay() == 2 + 1 + triggers.FIRST_EVENT_MARGIN


def test_a_new_trigger_is_not_before_now_plus_the_delay_and_keeps_it_across_serialisation() -> None:
    before = time.time()
    trigger = EightByEightRestoreTrigger(eightbyeight_conn_id=CONN, objects=[{"id": "o1", "region": None}])
    _, kwargs = trigger.serialize()
    assert before + first_event_delay() <= kwargs["not_before"] <= time.time() + first_event_delay()
    time.sleep(0.05)
    rebuilt = in_the_triggerer(trigger)  # a triggerer building it again later: the same time, not a new one
    assert rebuilt.not_before == trigger.not_before and rebuilt.serialize() == trigger.serialize()


@pytest.mark.parametrize(
    ("classpath", "kwargs"),
    [
        ("EightByEightObjectsTrigger", {"filter": "type==x", "region": ["uk"], "all_regions": False, "min_count": 3}),
        ("EightByEightBulkJobTrigger", {"jobs": [{"zip_name": "z.zip", "region": "uk"}]}),
        ("EightByEightRestoreTrigger", {"objects": [{"id": "o1", "region": None}]}),
    ],
)
def test_kwargs_stored_before_not_before_existed_still_build_the_trigger(classpath: str, kwargs: dict) -> None:
    """Deferred tasks already in a database have trigger kwargs without ``not_before``."""
    stored = {
        "eightbyeight_conn_id": CONN,
        "poll_interval": 5.0,
        "timeout_at": 9.5,
        "max_consecutive_failures": 10,
        **kwargs,
    }
    trigger = getattr(triggers, classpath)(**stored)
    _, now = trigger.serialize()
    assert {k: v for k, v in now.items() if k != "not_before"} == stored
    assert now["not_before"] == pytest.approx(time.time() + first_event_delay(), abs=1)


@pytest.mark.asyncio
async def test_in_the_triggerer_no_first_event_comes_before_not_before(
    make_hook: Any, emulator: EightByEightEmulator
) -> None:
    hook = make_hook()
    for trigger in ready_triggers(emulator, hook, not_before=time.time() + 1.0, timeout_at=time.time() + 30):
        rebuilt = in_the_triggerer(trigger)
        event, at = await asyncio.wait_for(timed_first_event(rebuilt), 10)
        assert event["status"] == "success", event
        assert at >= trigger.not_before, (type(trigger).__name__, at - trigger.not_before)


@pytest.mark.asyncio
async def test_a_trigger_created_now_holds_its_first_event_for_the_delay(
    make_hook: Any, emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook()
    monkeypatch.setattr(triggers, "first_event_delay", lambda: 1.5)
    created = time.time()
    [trigger, *_] = ready_triggers(emulator, hook)
    event, at = await asyncio.wait_for(timed_first_event(in_the_triggerer(trigger)), 10)
    assert event == {"status": "success", "count": 1}
    assert at - created >= 1.5


@pytest.mark.asyncio
async def test_outside_the_triggerer_nothing_waits(make_hook: Any, emulator: EightByEightEmulator) -> None:
    """Under ``dag.test()`` and in a worker (no ``trigger_id``) there is no executor report to race."""
    hook = make_hook()
    for trigger in ready_triggers(emulator, hook, not_before=time.time() + 60):
        started = time.time()
        event, at = await asyncio.wait_for(timed_first_event(trigger), 10)
        assert event["status"] == "success" and at - started < 5


@pytest.mark.asyncio
async def test_a_skewed_clock_never_holds_longer_than_the_delay(
    make_hook: Any, emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook()
    [trigger, *_] = ready_triggers(emulator, hook, not_before=time.time() + 3600)  # a worker an hour ahead
    monkeypatch.setattr(triggers, "first_event_delay", lambda: 0.5)
    started = time.time()
    event, at = await asyncio.wait_for(timed_first_event(in_the_triggerer(trigger)), 10)
    assert event["status"] == "success" and 0.5 <= at - started < 5


# ---------------------------------------------------------------------------- never defer on a finished wait


def test_the_restore_operator_does_not_defer_when_every_object_is_available_and_returns_the_same(
    conn: None, emulator: EightByEightEmulator
) -> None:
    ids = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")[:2]]
    for object_id in ids:
        emulator.set_object_state(object_id, "ARCHIVED")  # restored at once (restore_delay=0)
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=ids, deferrable=True, poll_interval=5)
    ti = FakeTI()
    assert op.execute({"ti": ti}) == ids  # no TaskDeferred
    assert all(emulator.get(i)["objectState"] == "AVAILABLE" for i in ids)
    # the outcome of a deferral: the trigger's event handed to execute_complete
    assert op.execute_complete({"ti": ti}, {"status": "success", "pending": []}, restored=ids) == ids


def test_the_restore_operator_still_defers_while_a_restore_runs(conn: None, emulator: EightByEightEmulator) -> None:
    emulator.config.restore_delay = 3600.0
    ids = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")[:2]]
    for object_id in ids:
        emulator.set_object_state(object_id, "ARCHIVED")
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=ids, deferrable=True, poll_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": FakeTI()})
    assert deferred.value.method_name == "execute_complete"
    assert sorted(o["id"] for o in deferred.value.trigger.objects) == sorted(ids)


def test_the_sensor_does_not_defer_when_enough_objects_match_and_returns_the_same(
    conn: None, emulator: EightByEightEmulator
) -> None:
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], min_count=1, deferrable=True)
    ids = sensor.execute({})  # no TaskDeferred
    assert ids and ids == sensor.execute_complete({}, {"status": "success", "count": 1})


@pytest.fixture
def two_emulators(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start emulators with the same seed (the same objects) on demand; the connection points at the last."""
    started: list[EightByEightEmulator] = []

    def start(**overrides: Any) -> EightByEightEmulator:
        config = EmulatorConfig(
            seed=18, objects_per_region=12, archived_fraction=0.25, revoked_fraction=0.0, **overrides
        )
        emulator = EightByEightEmulator(config).__enter__()
        started.append(emulator)
        extra = {"api_base_url": emulator.base_url, **FAST_RETRY_EXTRAS}
        value = {"conn_type": "eightbyeight", "login": emulator.key, "password": emulator.secret, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(value))
        return emulator

    yield start
    for emulator in started:
        emulator.__exit__(None, None, None)


def _fates(root: Path) -> dict[str, str]:
    [path] = sorted((root / MANIFEST_DIR).glob("*.jsonl"))[-1:]
    return {r["id"]: r["status"] for r in (json.loads(line) for line in path.read_text().splitlines())}


@pytest.mark.parametrize(
    "waits",
    [
        pytest.param({"strategy": "bulk", "poll_interval": 0.1}, id="bulk-jobs"),
        pytest.param({"on_archived": "restore", "restore_poll_interval": 0.1}, id="restores"),
    ],
)
def test_the_transfer_does_not_defer_on_a_finished_wait_and_ends_as_a_deferred_run(
    two_emulators: Any, tmp_path: Path, waits: dict[str, Any]
) -> None:
    outcomes = {}
    for name, delay in (("ready at once", 0.0), ("deferred", 1.0)):
        two_emulators(bulk_delay=delay, restore_delay=delay)
        dest = tmp_path / name.replace(" ", "_")
        op = EightByEightTransferOperator(task_id="t", destination=dest.as_uri(), deferrable=True, **waits)
        summary, deferrals = drive(op)
        outcomes[name] = (summary, deferrals, _fates(dest))
    (ready, ready_deferrals, ready_fates), (deferred, deferrals, deferred_fates) = outcomes.values()
    assert (ready_deferrals, deferrals) == (0, 1)
    keys = ("copied", "restored", "skipped", "archived", "not_ready", "failed", "bytes_copied")
    assert {k: ready[k] for k in keys} == {k: deferred[k] for k in keys}
    assert ready_fates == deferred_fates
    assert ready["copied"] + ready["restored"] > 0 and not ready["failed"]
