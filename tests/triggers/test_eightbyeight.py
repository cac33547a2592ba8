"""Triggers: serialisation round trips and real runs against the emulator."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.module_loading import import_string

from airflow_provider_eightbyeight.testing import Account, EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.triggers.eightbyeight import (
    EightByEightBulkJobTrigger,
    EightByEightObjectsTrigger,
    EightByEightRestoreTrigger,
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=51, objects_per_region=20, bulk_delay=0.3, restore_delay=0.3)


def rebuild(trigger):
    """What the triggerer does: serialise, JSON round trip, import the class, construct."""
    classpath, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))
    return import_string(classpath)(**kwargs), kwargs


async def first_event(trigger):
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


@pytest.mark.parametrize(
    "trigger",
    [
        EightByEightObjectsTrigger(
            eightbyeight_conn_id="c", filter="type==voicemail", region=["uk"], min_count=3, poll_interval=5
        ),
        EightByEightBulkJobTrigger(eightbyeight_conn_id="c", jobs=[{"zip_name": "z.zip", "region": "uk"}]),
        EightByEightRestoreTrigger(eightbyeight_conn_id="c", objects=[{"id": "o1", "region": None}], timeout_at=9.5),
    ],
)
def test_serialize_round_trip(trigger):
    rebuilt, kwargs = rebuild(trigger)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == trigger.serialize()
    assert kwargs["eightbyeight_conn_id"] == "c" and "password" not in json.dumps(kwargs)


@pytest.mark.asyncio
async def test_objects_trigger_fires_when_enough_objects_match(make_hook, emulator):
    make_hook()
    voicemails = sum(1 for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "voicemail")
    trigger, _ = rebuild(
        EightByEightObjectsTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            filter="type==voicemail",
            min_count=voicemails + 1,
            poll_interval=0.2,
            timeout_at=time.time() + 30,
        )
    )
    task = asyncio.create_task(first_event(trigger))
    await asyncio.sleep(0.5)
    assert not task.done()
    emulator.add_object("us-east", type="voicemail")
    assert await asyncio.wait_for(task, 10) == {"status": "success", "count": voicemails + 1}


@pytest.mark.asyncio
async def test_objects_trigger_times_out_with_a_count(make_hook, emulator):
    make_hook()
    trigger = EightByEightObjectsTrigger(
        eightbyeight_conn_id="eightbyeight_default",
        filter="type==nothing",
        min_count=1,
        poll_interval=0.1,
        timeout_at=time.time() + 0.3,
    )
    event = await asyncio.wait_for(first_event(trigger), 10)
    assert event["status"] == "timeout" and event["count"] == 0


@pytest.mark.asyncio
async def test_objects_trigger_counts_only_objects_whose_id_can_be_used(make_hook, emulator):
    make_hook()
    transcripts = [o for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "transcription"]
    first = datetime.fromisoformat(min(o["createdTime"] for o in transcripts)).replace(tzinfo=timezone.utc)
    emulator.add_object("us-east", type="transcription", object_id=" padded", created=first - timedelta(minutes=1))
    trigger = EightByEightObjectsTrigger(
        eightbyeight_conn_id="eightbyeight_default",
        filter="type==transcription",
        min_count=len(transcripts) + 1,
        poll_interval=0.1,
        timeout_at=time.time() + 0.5,
    )
    event = await asyncio.wait_for(first_event(trigger), 10)
    assert event["status"] == "timeout" and event["count"] == len(transcripts), event
    exact = EightByEightObjectsTrigger(
        eightbyeight_conn_id="eightbyeight_default", filter="type==transcription", min_count=len(transcripts)
    )
    assert await asyncio.wait_for(first_event(exact), 10) == {"status": "success", "count": len(transcripts)}


@pytest.mark.asyncio
async def test_errors_become_error_events_with_the_clear_message(make_hook):
    make_hook(secret="s3cr3t-typo-9q")
    trigger = EightByEightObjectsTrigger(eightbyeight_conn_id="eightbyeight_default", filter=None, poll_interval=0.1)
    event = await asyncio.wait_for(first_event(trigger), 10)
    assert event["status"] == "error" and event["error_type"] == "AuthenticationError"
    assert "rejected the API key and secret" in event["message"] and "s3cr3t-typo-9q" not in event["message"]


@pytest.mark.asyncio
async def test_polling_never_blocks_the_event_loop(make_hook, emulator):
    make_hook()
    emulator.add_fault(FaultRule(kind="latency", route="search", delay=0.8, times=1))
    trigger = EightByEightObjectsTrigger(
        eightbyeight_conn_id="eightbyeight_default", filter=None, poll_interval=0.1, timeout_at=time.time() + 30
    )
    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    event = await asyncio.wait_for(first_event(trigger), 10)
    elapsed = time.monotonic() - started
    beat.cancel()
    assert event["status"] == "success" and elapsed >= 0.8
    assert ticks >= 40  # the loop kept running while the search waited 0.8 s on 8x8


@pytest.mark.asyncio
async def test_bulk_job_trigger_reports_final_statuses(make_hook, emulator):
    hook = make_hook()
    objs = list(hook.iter_objects(max_objects=3))
    done = hook.start_bulk_download(objs)[0]
    cancelled = hook.start_bulk_download(objs[:1])[0]
    hook.cancel_bulk_job(cancelled.zip_name)
    trigger, _ = rebuild(
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            jobs=[{"zip_name": done.zip_name, "region": "us-east"}, {"zip_name": cancelled.zip_name, "region": None}],
            poll_interval=0.1,
            timeout_at=time.time() + 30,
        )
    )
    event = await asyncio.wait_for(first_event(trigger), 10)
    assert event == {"status": "success", "jobs": {done.zip_name: "DONE", cancelled.zip_name: "CANCELLED"}}


@pytest.mark.asyncio
async def test_restore_trigger_waits_until_available(make_hook, emulator):
    hook = make_hook()
    archived = [o["id"] for o in emulator.objects("us-east", states="AVAILABLE")[:2]]
    for object_id in archived:
        emulator.set_object_state(object_id, "ARCHIVED")
    for object_id in archived:
        hook.restore_object(object_id)
    trigger = EightByEightRestoreTrigger(
        eightbyeight_conn_id="eightbyeight_default",
        objects=[{"id": i, "region": "us-east"} for i in archived],
        poll_interval=0.1,
        timeout_at=time.time() + 30,
    )
    started = time.monotonic()
    assert await asyncio.wait_for(first_event(trigger), 10) == {"status": "success", "pending": []}
    assert time.monotonic() - started >= 0.2
    assert all(emulator.get(i)["objectState"] == "AVAILABLE" for i in archived)


@pytest.mark.asyncio
async def test_a_long_wait_rides_out_an_outage_longer_than_the_retry_budget(make_hook, emulator):
    """Polls that fail after the hook's retries are retried at the next poll (issue 8 #7)."""
    make_hook(max_retries=1)
    archived = emulator.add_object("us-east", state="ARCHIVED", size=1000)["id"]
    hook = make_hook(max_retries=1)
    hook.restore_object(archived, 1, region="us-east")
    emulator.add_fault(FaultRule(kind="status", route="search", status=503, times=6))  # 3 polls' worth
    trigger, _ = rebuild(
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            objects=[{"id": archived, "region": "us-east"}],
            poll_interval=0.1,
            timeout_at=time.time() + 30,
        )
    )
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert emulator.stats()["faults_injected"]["status"] == 6


@pytest.mark.asyncio
async def test_consecutive_failed_polls_end_the_wait_with_an_error_naming_them(make_hook, emulator):
    make_hook(max_retries=0)
    emulator.add_fault(FaultRule(kind="status", route="bulk_status", status=503))
    trigger, kwargs = rebuild(
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            jobs=[{"zip_name": "z.zip", "region": "us-east"}],
            poll_interval=0.05,
            max_consecutive_failures=3,
        )
    )
    assert kwargs["max_consecutive_failures"] == 3
    event = await first_event(trigger)
    assert event["status"] == "error" and "3 polls in a row failed" in event["message"] and "503" in event["message"]


@pytest.mark.asyncio
async def test_a_permission_error_ends_the_wait_at_once(make_hook, emulator):
    make_hook(max_retries=0)
    emulator.add_fault(FaultRule(kind="status", route="bulk_status", status=403))
    trigger, _ = rebuild(
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            jobs=[{"zip_name": "z.zip", "region": "us-east"}],
            poll_interval=0.05,
        )
    )
    event = await first_event(trigger)
    assert event["status"] == "error" and event["error_type"] == "PermissionDeniedError"
    assert emulator.stats()["requests"]["bulk_status"] == 1


@pytest.mark.asyncio
async def test_an_unknown_object_id_ends_a_restore_wait_naming_it(make_hook, emulator):
    """An id 8x8 does not know cannot become AVAILABLE: the wait ends at once, naming the id."""
    make_hook()
    known = emulator.add_object("us-east", state="ARCHIVED", size=1000)["id"]
    trigger, _ = rebuild(
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            objects=[{"id": known, "region": "us-east"}, {"id": "no-such-object-4711", "region": "us-east"}],
            poll_interval=0.05,
            timeout_at=time.time() + 3,
        )
    )
    started = time.monotonic()
    event = await first_event(trigger)
    assert event["status"] == "error" and event["error_type"] == "NotFoundError"
    assert "no-such-object-4711" in event["message"] and known not in event["message"]
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_an_unknown_bulk_job_ends_the_wait_naming_it(make_hook, emulator):
    make_hook()
    trigger, _ = rebuild(
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            jobs=[{"zip_name": "never-started.zip", "region": "us-east"}],
            poll_interval=0.05,
            timeout_at=time.time() + 3,
        )
    )
    event = await first_event(trigger)
    assert event["status"] == "error" and event["error_type"] == "NotFoundError"
    assert "never-started.zip" in event["message"]
    assert emulator.stats()["requests"]["bulk_status"] == 1


def test_timeout_events_never_raise(make_hook, emulator):
    """timeout_event reads live data; when 8x8 fails it still answers a timeout event, saying why."""
    hook = make_hook(max_retries=0)
    emulator.add_fault(FaultRule(kind="status", route="*", status=503))
    triggers = [
        EightByEightObjectsTrigger(eightbyeight_conn_id="eightbyeight_default", filter=None, region="us-east"),
        EightByEightBulkJobTrigger(
            eightbyeight_conn_id="eightbyeight_default", jobs=[{"zip_name": "z.zip", "region": "us-east"}]
        ),
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default", objects=[{"id": "o1", "region": "us-east"}]
        ),
    ]
    for trigger in triggers:
        event = trigger.timeout_event(hook)
        assert event["status"] == "timeout", event
        assert "503" in event["message"] and "last check failed" in event["message"]
    assert emulator.stats()["faults_injected"]["status"] == 3


@pytest.mark.asyncio
async def test_the_timeout_fires_while_polls_fail_with_the_last_known_data(make_hook, emulator):
    make_hook(max_retries=0)
    archived = emulator.add_object("us-east", state="ARCHIVED", size=1000)["id"]  # never restored: stays pending
    trigger, _ = rebuild(
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            objects=[{"id": archived, "region": "us-east"}],
            poll_interval=0.05,
            timeout_at=time.time() + 3.0,
            max_consecutive_failures=1000,
        )
    )
    task = asyncio.create_task(first_event(trigger))
    await searches_seen(emulator, 2)  # a few good polls...
    assert not task.done()
    emulator.add_fault(FaultRule(kind="status", route="search", status=503))  # ...then 8x8 fails to the end
    event = await asyncio.wait_for(task, 10)
    assert event["status"] == "timeout"
    assert event["pending"] == [archived]  # as of the last good poll
    assert "503" in event["message"]


async def searches_seen(emulator, count: int, timeout: float = 20.0) -> None:
    """Wait until the emulator has answered ``count`` searches (polls), however busy the machine is."""
    deadline = time.monotonic() + timeout
    while emulator.stats()["requests"].get("search", 0) < count:
        assert time.monotonic() < deadline, f"fewer than {count} polls in {timeout} s"
        await asyncio.sleep(0.02)


ROTATED = "Rotated-Trigger-Secret-0005"
#: The default account plus one whose only job is to put ROTATED in the suite's secret scan.
ROTATION_CONFIG = EmulatorConfig(
    seed=51,
    objects_per_region=20,
    accounts=(Account(key="trigger-key", secret="Trigger-Secret-Before-0006"), Account(key="watch", secret=ROTATED)),
)


@pytest.mark.asyncio
@pytest.mark.parametrize("emulator_config", [ROTATION_CONFIG])
async def test_a_waiting_trigger_picks_up_a_rotated_secret(make_hook, emulator):
    """The secret is regenerated mid-wait (old tokens die) and put in the connection: no poll fails."""
    make_hook()
    archived = emulator.add_object("us-east", state="ARCHIVED", size=1000)["id"]
    trigger, _ = rebuild(
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            objects=[{"id": archived, "region": "us-east"}],
            poll_interval=0.05,
            timeout_at=time.time() + 30,
            max_consecutive_failures=1,  # any failed poll would end the wait with an error
        )
    )
    task = asyncio.create_task(first_event(trigger))
    await searches_seen(emulator, 2)
    assert not task.done()
    emulator.store.accounts[emulator.key] = Account(key=emulator.key, secret=ROTATED)
    emulator.revoke_tokens()
    make_hook(secret=ROTATED)  # the same connection id, now with the new secret
    await asyncio.sleep(0.3)
    assert not task.done()
    emulator.set_object_state(archived, "AVAILABLE")
    assert await asyncio.wait_for(task, 10) == {"status": "success", "pending": []}
    # the dead token, and the old secret at the token URL if a poll came before the connection was updated
    assert emulator.stats()["status_counts"]["401"] in (1, 2)


@pytest.mark.asyncio
@pytest.mark.parametrize("emulator_config", [ROTATION_CONFIG])
async def test_a_poll_refused_after_the_connection_is_read_again_ends_the_wait(make_hook, emulator):
    """Rotated at 8x8 but not in the connection: the re-read finds nothing new, so waiting cannot help."""
    make_hook()
    archived = emulator.add_object("us-east", state="ARCHIVED", size=1000)["id"]
    trigger, _ = rebuild(
        EightByEightRestoreTrigger(
            eightbyeight_conn_id="eightbyeight_default",
            objects=[{"id": archived, "region": "us-east"}],
            poll_interval=0.05,
            timeout_at=time.time() + 30,
        )
    )
    task = asyncio.create_task(first_event(trigger))
    await searches_seen(emulator, 2)
    polls = emulator.stats()["requests"]["search"]
    emulator.store.accounts[emulator.key] = Account(key=emulator.key, secret=ROTATED)
    emulator.revoke_tokens()
    event = await asyncio.wait_for(task, 10)
    assert event["status"] == "error" and event["error_type"] == "AuthenticationError"
    assert "rejected the API key and secret" in event["message"] and ROTATED not in event["message"]
    assert emulator.stats()["requests"]["search"] <= polls + 1  # the refused poll was the last
