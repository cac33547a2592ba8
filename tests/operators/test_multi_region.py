"""
Accounts with several regions work without configuration: search-based operators and the sensor search
every region of the account when neither the task nor the connection names one, and the connection test
says so. Naming a region (task or connection) still limits them to it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.operators import (
    EightByEightDeleteObjectsOperator,
    EightByEightListObjectsOperator,
    EightByEightTransferOperator,
)
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from airflow_provider_eightbyeight.testing.config import Account
from tests.helpers import FakeTI, drive

TWO_REGIONS = Account(key="key-two", secret="secret-two", regions=("us-east", "uk"))


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=23, objects_per_region=12, regions=("us-east", "uk"), accounts=(TWO_REGIONS,))


def _available(emulator: EightByEightEmulator, region: str, type_: str = "callrecording") -> set[str]:
    return {o["id"] for o in emulator.objects(region, states="AVAILABLE") if o["type"] == type_}


def test_the_list_operator_searches_every_region_when_none_is_set(make_hook, emulator):
    make_hook()
    listed = EightByEightListObjectsOperator(task_id="l", object_types=["callrecording"]).execute({"ti": FakeTI()})
    assert {o["id"] for o in listed} == _available(emulator, "us-east") | _available(emulator, "uk")
    assert {o["region"] for o in listed} == {"us-east", "uk"}


def test_a_region_on_the_task_or_the_connection_still_limits_the_search(make_hook, emulator):
    make_hook()
    only_uk = EightByEightListObjectsOperator(task_id="l", object_types=["callrecording"], region="uk")
    assert {o["id"] for o in only_uk.execute({"ti": FakeTI()})} == _available(emulator, "uk")
    make_hook(region="us-east")
    on_conn = EightByEightListObjectsOperator(task_id="l2", object_types=["callrecording"])
    assert {o["id"] for o in on_conn.execute({"ti": FakeTI()})} == _available(emulator, "us-east")


def test_the_transfer_copies_every_region_when_none_is_set(make_hook, emulator, tmp_path: Path):
    make_hook()
    op = EightByEightTransferOperator(
        task_id="t", object_types=["callrecording"], destination=tmp_path.as_uri() + "/", path_template="{id}"
    )
    summary, _ = drive(op)
    want = _available(emulator, "us-east") | _available(emulator, "uk")
    assert summary["copied"] == len(want) and summary["failed"] == 0
    assert {p.name for p in tmp_path.iterdir() if p.is_file()} == want
    for object_id in want:
        assert (tmp_path / object_id).read_bytes() == emulator.content(object_id)


def test_the_sensor_counts_every_region_poked_or_deferred(make_hook, emulator):
    make_hook()
    want = _available(emulator, "us-east") | _available(emulator, "uk")
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["callrecording"], min_count=len(want))
    result = sensor.poke({})
    assert result.is_done and set(result.xcom_value) == want
    deferring = EightByEightObjectsSensor(
        task_id="d", object_types=["callrecording"], min_count=len(want), deferrable=True, poke_interval=0.1
    )
    try:
        ids = deferring.execute({"ti": FakeTI()})
    except TaskDeferred as deferred:  # the triggerer's side: the same count over both regions
        event = asyncio.run(_first_event(deferred.trigger))
        assert event["status"] == "success" and event["count"] == len(want)
        ids = deferring.execute_complete({"ti": FakeTI()}, event)
    assert set(ids) == want


async def _first_event(trigger):  # type: ignore[no-untyped-def]
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_the_delete_operator_searches_every_region_when_none_is_set(make_hook, emulator, tmp_path: Path):
    make_hook()
    voicemails = _available(emulator, "us-east", "voicemail") | _available(emulator, "uk", "voicemail")
    assert voicemails
    op = EightByEightDeleteObjectsOperator(task_id="d", object_types=["voicemail"], confirm_delete_by_filter=True)
    result = op.execute({"ti": FakeTI()})
    assert set(result["deleted"]) == voicemails
    for region in ("us-east", "uk"):
        assert not _available(emulator, region, "voicemail")


def test_the_connection_test_says_what_tasks_will_do(make_hook):
    ok, message = make_hook().test_connection()
    assert ok and "us-east, uk" in message and "every region" in message
    ok, message = make_hook(region="uk").test_connection()
    assert ok and "region 'uk'" in message and "every region" not in message


def test_the_hook_itself_still_asks_for_a_choice(make_hook):
    hook: EightByEightHook = make_hook()
    with pytest.raises(Exception, match="several regions"):
        hook.resolve_region()
