"""
Issue 8, "Nothing lost", at the hook and the manage operators: deletes report what 8x8 confirms, content
refusals name the object's state, restores by id find each id's region, long Retry-After waits are honoured.

Everything runs against the emulator over real HTTP; fault rules stand in for answers a real 8x8 may give.
"""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    EightByEightError,
    NotFoundError,
    PermissionDeniedError,
)
from airflow_provider_eightbyeight.models import StoredObject
from airflow_provider_eightbyeight.testing import Account, EmulatorConfig, FaultRule

KEY, SECRET = "key-main", "secret-main"
TWO_REGIONS = Account(key="key-two", secret="secret-two", regions=("us-east", "uk"))


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=21, objects_per_region=12, accounts=(Account(key=KEY, secret=SECRET), TWO_REGIONS))


@pytest.fixture
def hook(make_hook):
    return make_hook(key=KEY, secret=SECRET)


def available(emulator, region: str = "us-east") -> list[str]:
    return [o["id"] for o in emulator.objects(region, states="AVAILABLE")]


# ---------------------------------------------------------------------------- deletes


def test_a_batch_the_server_deletes_only_partly_is_reported_truthfully(hook, emulator):
    """8x8 answers 204 for the batch but leaves one id alone: that id is failed, with its state, not deleted."""
    ids = available(emulator)[:4]
    ignored = ids[1]
    emulator.add_fault(FaultRule(kind="keep", object_ids=[ignored]))  # the server skips one id of the batch
    result = hook.delete_objects(ids)
    assert set(result.deleted) == set(ids) - {ignored}
    assert list(result.failed) == [ignored] and not result.not_found
    assert result.failed[ignored] == "8x8 accepted the delete but the object is still AVAILABLE"
    assert emulator.get(ignored)["objectState"] == "AVAILABLE"


def test_per_id_statuses_in_the_delete_answer_explain_failures(hook, emulator):
    """When 8x8's answer carries per-id statuses, a failed id's reason quotes its own status."""
    ids = available(emulator)[:2]
    body = json.dumps([{"id": ids[0], "status": "LOCKED by legal hold"}, {"id": ids[1], "status": "OK"}])
    emulator.add_fault(FaultRule(kind="status", route="delete", status=200, body=body, times=1))  # deletes nothing
    result = hook.delete_objects(ids)
    assert result.deleted == () and set(result.failed) == set(ids)
    assert "still AVAILABLE" in result.failed[ids[0]] and "LOCKED by legal hold" in result.failed[ids[0]]
    assert "still AVAILABLE" in result.failed[ids[1]] and "LOCKED" not in result.failed[ids[1]]


def test_per_id_statuses_of_a_refused_delete_are_quoted_too(hook, emulator):
    """A 404 whose body lists ``"<id>:<status>"`` strings: the still-AVAILABLE id's reason quotes its status."""
    ids = available(emulator)[:2]
    body = json.dumps([f"{ids[0]}:HELD", f"{ids[1]}:NOT_FOUND"])
    emulator.add_fault(FaultRule(kind="status", route="delete", status=404, body=body, times=1))  # deletes nothing
    result = hook.delete_objects(ids)
    assert result.deleted == () and set(result.failed) == set(ids) and not result.not_found
    assert "HTTP 404" in result.failed[ids[0]] and "'HELD'" in result.failed[ids[0]]
    assert "'NOT_FOUND'" in result.failed[ids[1]]


def test_a_search_that_rejects_the_id_selector_falls_back_to_reading_each_id(hook, emulator):
    """A 400 for the read-back search (no ``id`` selector) is answered by one metadata read per id."""
    ids = available(emulator)[:3]
    emulator.add_fault(FaultRule(kind="status", route="search", status=400, times=1))
    result = hook.delete_objects([*ids, "no-such-object"])
    assert set(result.deleted) == set(ids) and result.not_found == ("no-such-object",) and not result.failed
    assert emulator.stats()["requests"]["get_object"] == 4


def test_a_search_that_ignores_the_id_selector_is_not_taken_for_unknown_ids(hook, emulator):
    """An empty read-back while a deleted id is readable one by one: the ids are read one by one."""
    ids = available(emulator)[:3]
    empty = json.dumps({"content": [], "pageKey": 100, "pageSize": 0, "lastPage": True})
    emulator.add_fault(
        FaultRule(kind="status", route="search", status=200, body=empty, content_type="application/json", times=1)
    )
    result = hook.delete_objects([*ids, "no-such-object"])
    assert set(result.deleted) == set(ids) and result.not_found == ("no-such-object",) and not result.failed


def test_unknown_ids_alone_are_not_found_without_a_read_per_id(hook, emulator):
    result = hook.delete_objects(["missing-1", "missing-2"])
    assert result.deleted == () and set(result.not_found) == {"missing-1", "missing-2"} and not result.failed
    assert emulator.stats()["requests"]["search"] == 1
    assert emulator.stats()["requests"].get("get_object", 0) <= 1  # at most one probe of the selector


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)], ids=["401", "403"]
)
def test_authentication_and_permission_errors_while_confirming_still_raise(hook, emulator, status, error):
    ids = available(emulator)[:2]
    emulator.add_fault(FaultRule(kind="status", route="search", status=status))
    with pytest.raises(error):
        hook.delete_objects(ids)


def test_delete_operator_deletes_ids_of_two_regions_each_in_its_region(make_hook, emulator):
    from airflow_provider_eightbyeight.operators import EightByEightDeleteObjectsOperator

    make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    east = available(emulator, "us-east")[:2]
    uk = available(emulator, "uk")[:2]
    op = EightByEightDeleteObjectsOperator(task_id="d", object_ids=[east[0], uk[0], "nowhere", east[1], uk[1]])
    with pytest.raises(EightByEightError, match=r"1 object.*nowhere: not found") as info:
        op.execute({})
    assert east[0] not in str(info.value) and uk[0] not in str(info.value)
    assert all(emulator.get(i)["objectState"] == "REVOKED" for i in east + uk)
    assert emulator.stats()["requests"]["delete"] == 2  # one per region, never an id in the wrong region
    quiet = EightByEightDeleteObjectsOperator(task_id="q", object_ids=["nowhere"], fail_on_error=False)
    assert quiet.execute({}) == {
        "deleted": [],
        "already_deleted": [],
        "failed": {},
        "not_found": ["nowhere"],
        "deleted_count": 0,
        "already_deleted_count": 0,
        "failed_count": 0,
        "not_found_count": 1,
    }


# ---------------------------------------------------------------------------- content refusals


@pytest.mark.parametrize("status", [409, 410])
def test_a_refused_download_of_an_object_8x8_no_longer_knows_is_not_found(hook, emulator, tmp_path, status):
    """A 409/410 for content whose object is gone reads as "not found", not "8x8 may be having trouble"."""
    gone = StoredObject(id="gone-object", name="gone.mp3", region="us-east", state="AVAILABLE")
    emulator.add_fault(FaultRule(kind="status", route="content", status=status))
    with pytest.raises(NotFoundError, match="gone-object"):
        hook.download_object(gone, tmp_path / "gone.mp3")
    assert not (tmp_path / "gone.mp3").exists()


def test_a_refused_download_of_an_available_object_keeps_the_original_error(hook, emulator, tmp_path):
    obj = next(iter(hook.iter_objects()))
    emulator.add_fault(FaultRule(kind="status", route="content", status=409))
    with pytest.raises(ApiError) as info:
        hook.download_object(obj, tmp_path / "x.bin")
    assert info.value.status == 409 and not isinstance(info.value, NotFoundError)


# ---------------------------------------------------------------------------- restores by id


def test_restore_operator_restores_ids_of_two_regions_each_in_its_region(make_hook, emulator):
    """With object_ids on a two-region account and no region set, each id is restored where it lives."""
    from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator

    make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    east, uk = available(emulator, "us-east")[0], available(emulator, "uk")[0]
    for object_id in (east, uk):
        emulator.set_object_state(object_id, "ARCHIVED")
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=[east, uk], wait_for_completion=False)
    assert op.execute({}) == [east, uk]
    assert emulator.stats()["requests"]["restore"] == 2
    assert emulator.get(east)["objectState"] != "ARCHIVED" and emulator.get(uk)["objectState"] != "ARCHIVED"


def test_restore_operator_names_unknown_ids_before_restoring_anything(make_hook, emulator):
    from airflow_provider_eightbyeight.operators import EightByEightRestoreObjectsOperator

    make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    east = available(emulator, "us-east")[0]
    emulator.set_object_state(east, "ARCHIVED")
    op = EightByEightRestoreObjectsOperator(task_id="r", object_ids=[east, "nowhere"], wait_for_completion=False)
    with pytest.raises(NotFoundError, match="nowhere"):
        op.execute({})
    assert emulator.stats()["requests"].get("restore", 0) == 0 and emulator.get(east)["objectState"] == "ARCHIVED"


# ---------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(("max_wait", "waited"), [(0.2, 900.0), (1200.0, 1200.0)], ids=["default-cap", "raised-cap"])
def test_a_long_retry_after_is_honoured_up_to_the_cap_and_the_cut_is_logged(
    make_hook, emulator, monkeypatch, caplog, max_wait, waited
):
    """Retry-After is honoured up to 900 s, or the connection's retry_max_wait when that is longer."""
    from airflow_provider_eightbyeight.hooks import eightbyeight

    hook = make_hook(key=KEY, secret=SECRET, retry_max_wait=max_wait)
    hook._log = logging.getLogger("tests.retry_after")  # type: ignore[assignment]
    slept: list[float] = []
    monkeypatch.setattr(eightbyeight.time, "sleep", slept.append)
    emulator.add_fault(FaultRule(kind="status", route="regions", status=429, retry_after=86400, times=1))
    with caplog.at_level(logging.WARNING, logger="tests.retry_after"):
        assert hook.get_regions()
    assert slept == [waited]
    assert f"asked to retry after 86400 s; waiting {waited:.0f} s" in caplog.text
