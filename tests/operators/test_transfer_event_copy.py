"""
``EightByEightTransferOperator(from_triggering_events=True)`` under adversity (from an adversarial review): a run
started by watcher events copies exactly the objects they name, accounts for each in its manifest, and fails
clearly on bad input; deferral, repeats, re-runs and deleted objects do not change that.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import Account, EmulatorConfig
from airflow_provider_eightbyeight.watch import EVENT_SOURCE
from tests.helpers import FakeTI, drive, files_under, manifests, needs
from tests.watching import asset_events

pytestmark = needs("event-driven scheduling")
TWO_REGIONS = Account(regions=("us-east", "uk"))


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=73, objects_per_region=20, regions=("us-east", "uk"), accounts=(TWO_REGIONS,))


def payload(by_region: Any, ids: Any = None) -> dict[str, Any]:
    if ids is None:
        ids = [i for v in by_region.values() for i in v] if isinstance(by_region, dict) else []
    return {"source": EVENT_SOURCE, "connection": "eightbyeight_default", "by_region": by_region, "ids": ids}


def available(emulator, region: str, n: int) -> list[str]:
    return [o["id"] for o in emulator.objects(region, states="AVAILABLE")[:n]]


def fates(root) -> dict[str, tuple[str, str | None]]:
    """The last manifest's fate of each id."""
    found = manifests(root)
    return {r["id"]: (r["status"], r.get("reason")) for r in (found[-1] if found else []) if "id" in r}


def op_for(tmp_path, **kwargs: Any) -> EightByEightTransferOperator:
    return EightByEightTransferOperator(
        task_id="copy", from_triggering_events=True, destination=tmp_path.as_uri(), **kwargs
    )


# ------------------------------------------------------------------------------------------- defects


def test_an_event_naming_a_region_the_account_lacks_does_not_abort_the_others(make_hook, emulator, tmp_path):
    """
    One event names a region the account does not have (deprovisioned, or a watcher of another account):
    the other events' objects must still be copied and every named id must get a fate in the manifest.
    (It once aborted the whole run with a RegionError whose advice, "Set region=", could not help.)
    """
    make_hook()
    us = available(emulator, "us-east", 3)
    events = asset_events([payload({"mars": ["0a0a0a0a-0000-0000-0000-000000000001"]}), payload({"us-east": us})])
    result = op_for(tmp_path, fail_on_error=False).execute({"ti": FakeTI(), "triggering_asset_events": events})
    assert result["copied"] == 3 and result["failed"] == 1
    assert set(files_under(tmp_path)) == set(us), "the us-east objects of the other event were not copied"
    recorded = fates(tmp_path)
    assert set(recorded) == {*us, "0a0a0a0a-0000-0000-0000-000000000001"}, recorded
    assert "mars" in recorded["0a0a0a0a-0000-0000-0000-000000000001"][1]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"us-east": "STRID"}, id="by_region-value-is-a-string"),
        pytest.param({"us-east": None}, id="by_region-value-is-null"),
        pytest.param({"us-east": ["", "@VALID@"]}, id="an-empty-id"),
    ],
)
def test_a_malformed_watcher_payload_gets_a_clear_error_or_is_accounted_for(make_hook, emulator, tmp_path, bad):
    """
    A payload claiming the watcher's source but malformed gets a clear error naming the event and the field,
    before anything is copied. (A string was once split into one-character "ids", ``null`` raised a bare
    TypeError, and an empty id aborted the run after its chunk's valid ids were neither copied nor recorded.)
    """
    make_hook()
    uk = available(emulator, "uk", 1)
    us = available(emulator, "us-east", 1)
    bad = {k: ([us[0] if i == "@VALID@" else i for i in v] if isinstance(v, list) else v) for k, v in bad.items()}
    valid = set(uk) | ({us[0]} if us[0] in (bad["us-east"] or []) else set())
    events = asset_events([payload({"uk": uk}), {"source": EVENT_SOURCE, "by_region": bad, "ids": []}])
    with pytest.raises(ConfigurationError, match=r"asset event of eightbyeight_new_recordings .* payload is malformed"):
        op_for(tmp_path, fail_on_error=False).execute({"ti": FakeTI(), "triggering_asset_events": events})
    assert not files_under(tmp_path) and valid  # nothing half-done


def test_a_repeated_batch_after_delete_after_transfer_is_skipped_not_failed(make_hook, emulator, tmp_path):
    """
    Delivery is at least once, and a DAG run may be cleared and re-run: the same events come again. With
    delete_after_transfer=True the first run deleted the objects at 8x8 after proving their copies; the repeat
    must find the verified copies (the destination and the first manifest say so) and succeed, deleting nothing
    again. (Every object was once recorded "failed: object was deleted at 8x8 (REVOKED)" and the task failed.)
    """
    make_hook()
    us, uk = available(emulator, "us-east", 3), available(emulator, "uk", 2)
    events = [payload({"us-east": us, "uk": uk})]

    def run() -> dict[str, Any]:
        return op_for(tmp_path, delete_after_transfer=True).execute(
            {"ti": FakeTI(), "triggering_asset_events": asset_events(events)}
        )

    first = run()
    assert first["copied"] == 5 and first["deleted"] == 5
    copies = {i: p.read_bytes() for i, p in files_under(tmp_path).items()}
    again = run()  # the same DAG run cleared and re-run, or the same batch delivered twice
    assert again["failed"] == 0 and again["copied"] == 0 and again["skipped"] == 5 and again["deleted"] == 0
    assert {status for status, _ in fates(tmp_path).values()} == {"skipped"}
    assert {i: p.read_bytes() for i, p in files_under(tmp_path).items()} == copies


# ------------------------------------------------------------------------------------------- what holds


@pytest.mark.parametrize("mode", ["bulk", "restore", "wait"])
def test_a_deferred_run_resumes_with_exactly_the_events_objects(make_hook, emulator, tmp_path, mode):
    make_hook()
    us, uk = available(emulator, "us-east", 4), available(emulator, "uk", 3)
    archived = [o["id"] for o in emulator.objects("us-east", states="ARCHIVED")][:1]
    pending = emulator.add_object("uk", state="PENDING", size=3000)["id"]
    kwargs = {
        "bulk": {"strategy": "bulk", "poll_interval": 0.1},
        "restore": {"on_archived": "restore", "restore_poll_interval": 0.2},
        "wait": {"not_ready_poll_interval": 0.2, "not_ready_timeout": 30},
    }[mode]
    events = asset_events(
        [payload({"us-east": us[:2] + archived, "uk": uk[:1]}), payload({"uk": [*uk[1:], pending], "us-east": us[2:]})]
    )
    # The pending object becomes AVAILABLE once the task has deferred (not after a fixed delay: on a loaded
    # machine a delay can end before the first search, and the run then has nothing to wait for).
    result, deferrals = drive(
        op_for(tmp_path, deferrable=True, **kwargs),
        context={"triggering_asset_events": events},
        resumed={"triggering_asset_events": None},
        on_defer=lambda n: n == 1 and emulator.set_object_state(pending, "AVAILABLE"),
    )
    assert deferrals >= 1
    named = {*us, *uk, *archived, pending}
    recorded = fates(tmp_path)
    assert set(recorded) == named
    assert set(files_under(tmp_path)) == named - (set(archived) if mode != "restore" else set())
    assert all(files_under(tmp_path)[i].read_bytes() == emulator.content(i) for i in files_under(tmp_path))
    assert result["failed"] == 0


def test_many_events_thousands_of_ids_and_repeats_are_each_accounted_for_once(make_hook, emulator, tmp_path):
    make_hook()
    us, uk = available(emulator, "us-east", 5), available(emulator, "uk", 5)
    unknown = [str(uuid.UUID(int=i)) for i in range(1, 3001)]
    events = [
        payload({"us-east": unknown[k : k + 250] + us[:1], "uk": unknown[k + 250 : k + 500] + uk[:1]})
        for k in range(0, 3000, 500)
    ]
    events.append(payload({"us-east": us, "uk": uk}))  # a repeat of some ids
    result = op_for(tmp_path, fail_on_error=False).execute(
        {"ti": FakeTI(), "triggering_asset_events": asset_events(events)}
    )
    recorded = fates(tmp_path)
    assert set(recorded) == {*unknown, *us, *uk}
    assert set(files_under(tmp_path)) == {*us, *uk}
    assert result["copied"] == 10 and result["failed"] == 3000


def test_a_cleared_and_rerun_dag_run_skips_its_verified_copies(make_hook, emulator, tmp_path):
    make_hook()
    us, uk = available(emulator, "us-east", 3), available(emulator, "uk", 2)
    events = [payload({"us-east": us, "uk": uk}), payload({"us-east": us[:1], "uk": uk})]

    def run() -> dict[str, Any]:
        return op_for(tmp_path, write_metadata=True).execute(
            {"ti": FakeTI(), "triggering_asset_events": asset_events(events)}
        )

    assert run()["copied"] == 5
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "_manifests" not in p.parts)
    again = run()
    assert again["copied"] == 0 and again["skipped"] == 5 and again["failed"] == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "_manifests" not in p.parts) == before
