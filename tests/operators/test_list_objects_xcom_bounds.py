"""Every XCom the list operator and the objects sensor push is bounded, and going over the bound is never silent."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_eightbyeight.operators import EightByEightListObjectsOperator, EightByEightTransferOperator
from airflow_provider_eightbyeight.operators.list_objects import (
    MAX_BATCHED_IDS,
    MAX_XCOM_ITEMS,
    XComBoundExceededError,
)
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor
from airflow_provider_eightbyeight.sensors.eightbyeight import MAX_SENSOR_IDS
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightObjectsTrigger
from tests.helpers import FakeTI, first_event

#: Objects in us-east: 24 seeded plus 226 added below (AVAILABLE ones are what a default search sees).
EXTRA = 226


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=73, objects_per_region=24)


@pytest.fixture
def available(make_hook, emulator) -> list[str]:
    """Define the default connection, add objects (three pages' worth); the AVAILABLE ids, oldest first."""
    make_hook()
    for i in range(EXTRA):  # distinct creation times, so "the first N" is one well-defined list
        emulator.add_object("us-east", size=100, created=f"2026-12-01T{i // 60:02d}:{i % 60:02d}:00")
    objects = emulator.objects("us-east", states="AVAILABLE")
    assert len(objects) > 200
    emulator.reset_stats()
    return [o["id"] for o in sorted(objects, key=lambda o: (o["createdTime"], o["id"]))]


def captured(op, caplog) -> logging.Logger:
    """Send the task's log to a stdlib logger caplog sees."""
    logger = logging.getLogger(f"tests.xcom_bounds.{op.task_id}")
    op._cached_logger = logger
    caplog.set_level(logging.INFO, logger=logger.name)
    return logger


def searches(emulator) -> int:
    return emulator.stats()["requests"].get("search", 0)


# ---------------------------------------------------------------------------- list operator


def test_list_defaults_are_documented_bounds():
    assert (MAX_XCOM_ITEMS, MAX_BATCHED_IDS) == (10_000, 1_000_000)
    assert EightByEightListObjectsOperator(task_id="s").xcom_bound == MAX_XCOM_ITEMS
    assert EightByEightListObjectsOperator(task_id="i", return_ids=True).xcom_bound == MAX_XCOM_ITEMS
    assert EightByEightListObjectsOperator(task_id="b", batch_size=100).xcom_bound == MAX_BATCHED_IDS
    assert EightByEightListObjectsOperator(task_id="m", batch_size=9, max_xcom_items=50).xcom_bound == 50
    for bad in (0, -1, True, 2.5, "10"):
        with pytest.raises(ValueError, match="max_xcom_items"):
            EightByEightListObjectsOperator(task_id="x", max_xcom_items=bad)  # type: ignore[arg-type]


def test_more_matches_than_the_bound_fail_naming_the_fixes_and_stop_reading_early(available, emulator, caplog):
    op = EightByEightListObjectsOperator(task_id="l", max_xcom_items=30)
    captured(op, caplog)
    with pytest.raises(XComBoundExceededError) as info:
        op.execute({"ti": FakeTI()})
    message = str(info.value)
    assert "More than 30 objects match" in message and "max_xcom_items=30" in message
    for fix in ("partition.windows", "batch_size", "raise max_xcom_items", "truncate=True"):
        assert fix in message
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "More than 30 objects match" in line.getMessage() and "returning none" in line.getMessage()
    assert "stopped at 31" in line.getMessage()
    assert searches(emulator) == 1  # 31 objects: the first page of 100, not the 3 pages of the whole search


def test_the_bound_error_is_final_and_survives_pickling():
    err = XComBoundExceededError("More than 5 objects match", hint="raise max_xcom_items")
    assert isinstance(err, AirflowFailException)  # a retry would list the same objects: no retries
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is XComBoundExceededError and str(again) == str(err)


def test_exactly_the_bound_is_returned_whole(available):
    ids = EightByEightListObjectsOperator(task_id="i", return_ids=True, max_xcom_items=len(available)).execute({})
    assert ids == available
    with pytest.raises(XComBoundExceededError, match=f"More than {len(available) - 1} objects"):
        EightByEightListObjectsOperator(task_id="j", return_ids=True, max_xcom_items=len(available) - 1).execute({})


def test_truncate_returns_the_first_ones_and_says_the_rest_are_missing(available, caplog):
    op = EightByEightListObjectsOperator(task_id="t", max_xcom_items=25, truncate=True)
    captured(op, caplog)
    summaries = op.execute({})
    assert [s["id"] for s in summaries] == available[:25]  # the first in sort order (createdTime ASC)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "match" in r.getMessage()]
    assert "More than 25 objects match" in line and "only the first 25 summaries" in line
    assert "NOT in this XCom" in line


def test_summaries_xcom_stays_within_the_bound(available):
    summaries = EightByEightListObjectsOperator(task_id="s", max_xcom_items=40, truncate=True).execute({})
    assert len(summaries) == 40
    assert len(json.dumps(summaries)) < 40 * 2_000  # ~0.8 KB per summary: the bound holds in bytes too


def test_max_objects_is_an_explicit_cut_not_an_overflow(available, emulator):
    ids = EightByEightListObjectsOperator(task_id="m", return_ids=True, max_objects=7, max_xcom_items=10).execute({})
    assert ids == available[:7]
    with pytest.raises(XComBoundExceededError):  # asking for more than the bound still meets the bound
        EightByEightListObjectsOperator(task_id="n", return_ids=True, max_objects=50, max_xcom_items=10).execute({})


def test_batches_bound_the_total_number_of_ids(available):
    with pytest.raises(XComBoundExceededError, match="max_xcom_items=60"):
        EightByEightListObjectsOperator(task_id="b", batch_size=20, max_xcom_items=60).execute({})
    batches = EightByEightListObjectsOperator(task_id="c", batch_size=20, max_xcom_items=60, truncate=True).execute({})
    assert [len(b) for b in batches] == [20, 20, 20]
    assert [i for b in batches for i in b] == available[:60]
    whole = EightByEightListObjectsOperator(task_id="d", batch_size=100).execute({})
    assert [i for b in whole for i in b] == available  # under the default 1,000,000 ids


def test_a_mapped_downstream_is_held_to_max_map_length(available, monkeypatch, caplog):
    from airflow.providers.common.compat.sdk import DAG

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    with DAG("bounds", schedule=None):
        listing = EightByEightListObjectsOperator(task_id="list", batch_size=50)
        EightByEightTransferOperator.partial(task_id="copy", destination="file:///tmp/x").expand(
            object_ids=listing.output
        )
        alone = EightByEightListObjectsOperator(task_id="alone", batch_size=50)
    with pytest.raises(XComBoundExceededError) as info:
        listing.execute({"ti": FakeTI()})
    message = str(info.value)
    assert "More than 150 objects match" in message and "max_map_length=3" in message
    assert "larger batch_size" in message
    assert len(alone.execute({})) == -(-len(available) // 50) > 3  # nothing expands over it: no such limit
    mapped_ti = FakeTI()
    mapped_ti.is_mapped = True  # type: ignore[attr-defined]  # a mapped list task's output is not expanded over
    assert len(listing.execute({"ti": mapped_ti})) == -(-len(available) // 50)
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "1024")
    assert [i for b in listing.execute({}) for i in b] == available


# ---------------------------------------------------------------------------- sensor (and its trigger)


def test_sensor_default_bound_is_a_thousand_ids():
    assert MAX_SENSOR_IDS == 1_000
    assert EightByEightObjectsSensor(task_id="s").max_ids == 1_000
    for bad in (-1, None, True, 1.5):
        with pytest.raises(ValueError, match="max_ids"):
            EightByEightObjectsSensor(task_id="x", max_ids=bad)  # type: ignore[arg-type]


def test_sensor_pushes_at_most_max_ids_and_says_so(available, emulator, caplog):
    sensor = EightByEightObjectsSensor(task_id="s", max_ids=5)
    captured(sensor, caplog)
    result = sensor.poke({})
    assert result.is_done and result.xcom_value == available[:5]
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "At least 6 object(s) match" in line and "only the first 5 ids" in line and "incomplete" in line
    assert searches(emulator) == 1  # read 6 objects, not every match


def test_sensor_counts_to_min_count_beyond_max_ids(available, caplog):
    sensor = EightByEightObjectsSensor(task_id="s", min_count=150, max_ids=3)
    captured(sensor, caplog)
    result = sensor.poke({})
    assert result.is_done and result.xcom_value == available[:3]
    assert "At least 150 object(s) match" in caplog.text
    assert not EightByEightObjectsSensor(task_id="t", min_count=len(available) + 1, max_ids=3).poke({}).is_done
    assert EightByEightObjectsSensor(task_id="u", max_ids=0).poke({}).xcom_value == []


def test_sensor_resume_after_the_trigger_is_bounded_too(available, caplog):
    sensor = EightByEightObjectsSensor(task_id="s", max_ids=4, deferrable=True)
    captured(sensor, caplog)
    assert sensor.execute_complete({}, {"status": "success", "count": 1}) == available[:4]
    assert "only the first 4 ids" in caplog.text


def test_sensor_under_the_bound_pushes_every_id_without_a_warning(available, caplog):
    sensor = EightByEightObjectsSensor(task_id="s")
    captured(sensor, caplog)
    result = sensor.poke({})
    assert result.xcom_value == available and len(available) < MAX_SENSOR_IDS
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_trigger_event_carries_a_count_not_ids(available):
    trigger = EightByEightObjectsTrigger(
        eightbyeight_conn_id="eightbyeight_default", filter=None, min_count=3, poll_interval=0.1
    )
    event = asyncio.run(first_event(trigger))
    assert event == {"status": "success", "count": 3}  # counted up to min_count only, however many match


# ---------------------------------------------------------------------------- delete and restore operators


def test_delete_names_at_most_the_bound_but_counts_everything(available, emulator, caplog):
    from airflow_provider_eightbyeight.operators import EightByEightDeleteObjectsOperator

    op = EightByEightDeleteObjectsOperator(
        task_id="purge", object_ids=available[:7], max_xcom_items=3, created_after=None
    )
    captured(op, caplog)
    result = op.execute({"ti": FakeTI()})
    assert len(result["deleted"]) == 3 and set(result["deleted"]) <= set(available[:7])
    assert result["deleted_count"] == 7 and result["failed_count"] == 0 and result["not_found_count"] == 0
    assert all(emulator.get(i)["objectState"] in ("REVOKED", "DELETED") for i in available[:7])  # all deleted
    assert "at most 3 ids per list" in caplog.text


def test_restore_refuses_more_objects_than_it_may_name_before_restoring_any(make_hook, emulator):
    from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator

    make_hook()
    archived = [emulator.add_object("us-east", size=100, state="ARCHIVED")["id"] for _ in range(5)]
    op = EightByEightRestoreObjectsOperator(
        task_id="restore", object_ids=archived, max_xcom_items=4, wait_for_completion=False, created_after=None
    )
    with pytest.raises(XComBoundExceededError, match="More than 4 objects to restore"):
        op.execute({"ti": FakeTI()})
    by_search = EightByEightRestoreObjectsOperator(
        task_id="restore2", max_xcom_items=4, wait_for_completion=False, created_after=None
    )
    with pytest.raises(XComBoundExceededError, match="nothing was restored"):
        by_search.execute({"ti": FakeTI()})
    assert all(emulator.get(i)["objectState"] == "ARCHIVED" for i in archived)
    within = EightByEightRestoreObjectsOperator(
        task_id="restore3", object_ids=archived[:4], max_xcom_items=4, wait_for_completion=False, created_after=None
    )
    assert within.execute({"ti": FakeTI()}) == archived[:4]
