"""The pure waits (what is waited for and the one polling loop), and the triggers built on them."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_eightbyeight import waits
from airflow_provider_eightbyeight.errors import NotFoundError
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.triggers.eightbyeight import (
    EightByEightBulkJobTrigger,
    EightByEightObjectsTrigger,
    EightByEightRestoreTrigger,
    trigger_for,
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=53, objects_per_region=12, bulk_delay=0.3, restore_delay=0.3)


def first(wait: waits.Wait, hook: Any) -> dict[str, Any]:
    async def one() -> dict[str, Any]:
        events = [event async for event in waits.poll(wait, hook)]
        assert len(events) == 1, events  # the loop yields exactly one event
        return events[0]

    return asyncio.run(one())


OBJECTS = waits.ObjectsWait(poll_interval=5, timeout_at=9.5, filter="type==voicemail", min_count=2)
JOBS = waits.BulkJobsWait(poll_interval=1, timeout_at=None, jobs=[{"zip_name": "z.zip", "region": "uk"}])
RESTORES = waits.RestoreWait(poll_interval=2, timeout_at=3.0, max_consecutive_failures=4, objects=[{"id": "o"}])


@pytest.mark.parametrize(
    ("wait", "trigger_type", "field"),
    [
        (OBJECTS, EightByEightObjectsTrigger, "filter"),
        (JOBS, EightByEightBulkJobTrigger, "jobs"),
        (RESTORES, EightByEightRestoreTrigger, "objects"),
    ],
)
def test_a_waits_trigger_waits_for_the_same_thing(wait: waits.Wait, trigger_type: type, field: str) -> None:
    trigger = trigger_for(wait, "conn")
    assert type(trigger) is trigger_type
    assert trigger.wait == wait  # every field, so the triggerer polls exactly what the worker would
    _, kwargs = trigger.serialize()
    rebuilt = trigger_type(**json.loads(json.dumps(kwargs)))
    assert rebuilt.wait == wait and rebuilt.eightbyeight_conn_id == "conn"
    assert kwargs[field] == getattr(wait, field)


def test_a_wait_no_trigger_runs_is_refused() -> None:
    with pytest.raises(TypeError, match="no trigger waits for a Wait"):
        trigger_for(waits.Wait(poll_interval=1, timeout_at=None), "conn")


def test_the_loop_ends_when_the_check_sees_the_wait_over(make_hook, emulator) -> None:
    hook = make_hook()
    count = len(emulator.objects("us-east", states="AVAILABLE"))
    wait = waits.ObjectsWait(poll_interval=0.05, timeout_at=time.time() + 30, min_count=count)
    assert first(wait, hook) == {"status": "success", "count": count}
    assert wait.last_count == count


def test_the_loop_times_out_with_what_the_last_poll_saw(make_hook, emulator) -> None:
    hook = make_hook()
    wait = waits.ObjectsWait(poll_interval=0.05, timeout_at=time.time() + 0.2, filter="type==nothing")
    event = first(wait, hook)
    assert event["status"] == "timeout" and event["count"] == 0, event


def test_an_unknown_job_ends_the_wait_at_once_naming_its_zip(make_hook, emulator) -> None:
    hook = make_hook()
    wait = waits.BulkJobsWait(poll_interval=0.05, timeout_at=time.time() + 30, jobs=[{"zip_name": "gone.zip"}])
    started = time.monotonic()
    event = first(wait, hook)
    assert event["status"] == "error" and event["error_type"] == NotFoundError.__name__, event
    assert "gone.zip" in event["message"]
    assert time.monotonic() - started < 10  # not after a timeout: waiting cannot cure it


def test_failed_polls_in_a_row_end_the_wait_with_their_count(make_hook, emulator) -> None:
    hook = make_hook()
    emulator.add_fault(FaultRule(kind="status", route="search", status=503))
    wait = waits.ObjectsWait(poll_interval=0.01, timeout_at=time.time() + 30, max_consecutive_failures=3)
    event = first(wait, hook)
    assert event["status"] == "error" and event["message"].startswith("3 polls in a row failed"), event


def test_a_check_before_deferring_that_fails_defers(make_hook, emulator) -> None:
    hook = make_hook()
    wait = waits.ObjectsWait(poll_interval=1, timeout_at=None, min_count=1)
    assert waits.event_now(wait, hook) == {"status": "success", "count": 1}
    emulator.add_fault(FaultRule(kind="status", route="search", status=503))
    assert waits.event_now(wait, hook) is None


def test_the_trigger_and_the_worker_end_the_same_way(make_hook, emulator) -> None:
    """A restore waited for in the triggerer and in the worker: the same loop, the same event."""
    hook = make_hook()
    archived = [o["id"] for o in emulator.objects("us-east", states="ARCHIVED")][:2]
    assert archived, "the emulator's seed has archived objects"
    for object_id in archived:
        hook.restore_object(object_id, 1)
    refs = [{"id": i, "region": None} for i in archived]
    here = first(waits.RestoreWait(poll_interval=0.05, timeout_at=time.time() + 30, objects=refs), hook)
    trigger = EightByEightRestoreTrigger(
        eightbyeight_conn_id="eightbyeight_default", objects=refs, poll_interval=0.05, timeout_at=time.time() + 30
    )

    async def in_the_triggerer() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    assert here == asyncio.run(in_the_triggerer()) == {"status": "success", "pending": []}
