"""
The event-driven example and ``from_triggering_events``: a run started by watcher events copies exactly
the objects they name (verified), whatever else is at 8x8; a run without such events copies nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import Account, EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferError
from airflow_provider_eightbyeight.triggers.new_objects import EightByEightNewObjectsTrigger
from airflow_provider_eightbyeight.watch import Matcher, SeenObject, event_payloads
from tests.helpers import FakeTI, files_under, manifests, needs
from tests.watching import asset_events

pytestmark = needs("event-driven scheduling")
TWO_REGIONS = Account(regions=("us-east", "uk"))


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=73, objects_per_region=20, regions=("us-east", "uk"), accounts=(TWO_REGIONS,))


def events_for(objects: list[dict[str, Any]], max_ids: int = 2) -> Any:
    """The triggering asset events a watcher's payloads for ``objects`` become."""
    seen = [
        SeenObject(id=o["id"], region=o["region"], type=o["type"], state="AVAILABLE", created_ms=0) for o in objects
    ]
    return asset_events(
        list(event_payloads(seen, max_ids=max_ids, connection="eightbyeight_default", matcher=Matcher()))
    )


def test_a_run_started_by_watcher_events_copies_exactly_their_objects(make_hook, emulator, tmp_path: Path):
    make_hook()
    both = emulator.objects("us-east", states="AVAILABLE")[:3] + emulator.objects("uk", states="AVAILABLE")[:2]
    for obj, region in zip(both, ["us-east"] * 3 + ["uk"] * 2, strict=True):
        obj["region"] = region
    gone = emulator.objects("us-east", states="AVAILABLE")[5]
    gone["region"] = "us-east"
    emulator.set_object_state(gone["id"], "REVOKED")  # deleted at 8x8 after the event
    op = EightByEightTransferOperator(task_id="copy", from_triggering_events=True, destination=tmp_path.as_uri())
    with pytest.raises(TransferError, match=f"{gone['id']}: object was deleted at 8x8"):
        op.execute({"ti": FakeTI(), "triggering_asset_events": events_for([*both, gone])})
    copied = files_under(tmp_path)
    assert set(copied) == {o["id"] for o in both}
    assert all(copied[o["id"]].read_bytes() == emulator.content(o["id"]) for o in both)
    [records] = manifests(tmp_path)
    status = {r["id"]: r["status"] for r in records if "id" in r}
    assert status == {**{o["id"]: "copied" for o in both}, gone["id"]: "failed"}  # the vanished one is accounted for


def test_a_run_without_watcher_events_copies_nothing_and_says_why(make_hook, emulator, tmp_path: Path, caplog):
    make_hook()
    caplog.set_level(logging.INFO, logger="tests.events")
    op = EightByEightTransferOperator(task_id="copy", from_triggering_events=True, destination=tmp_path.as_uri())
    op._cached_logger = logging.getLogger("tests.events")  # type: ignore[attr-defined]
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    result = op.execute({"ti": FakeTI(), "triggering_asset_events": TriggeringAssetEventsAccessor.build([])})
    assert result["copied"] == 0 and not files_under(tmp_path)
    assert "EightByEightNewObjectsTrigger" in caplog.text


@pytest.mark.parametrize(
    "extra",
    [{"object_ids": ["x"]}, {"object_types": ["voicemail"]}, {"created_after": "2026-11-01"}, {"max_objects": 3}],
)
def test_from_triggering_events_refuses_a_second_source(extra):
    with pytest.raises(ValueError, match="from_triggering_events=True copies exactly") as err:
        EightByEightTransferOperator(task_id="t", from_triggering_events=True, destination="/tmp/x", **extra)
    assert next(iter(extra)) in str(err.value)


def test_the_example_dag_is_scheduled_on_a_watched_asset(example_dagbag):
    dag = example_dagbag.get_dag("example_eightbyeight_new_recordings")
    [asset] = dag.timetable.asset_condition.objects
    [watcher] = asset.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, EightByEightNewObjectsTrigger)
    assert set(trigger.object_types) == {"callrecording", "callcenterrecording"}
    assert dag.get_task("copy_new_recordings").from_triggering_events
