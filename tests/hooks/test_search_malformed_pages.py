"""
Malformed search results, over real HTTP from the emulator (which can serve any JSON for an object): one bad
field is that object's failure, named in the manifest, never the run's; ids are used exactly as 8x8 gave them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE
from airflow_provider_eightbyeight.models import UNNAMED_PREFIX
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import Status
from tests.helpers import FAST_RETRY_EXTRAS, needs

REGION = "us-east"
#: Routes that name one object (path or body): none may be about an object the run did not see exactly.
PER_OBJECT = ("get_object", "metadata", "content", "restore", "bulk_start", "delete")


def add(emulator: Any, kind: str, count: int, **kwargs: Any) -> list[str]:
    return [emulator.add_object(REGION, type=kind, **kwargs)["id"] for _ in range(count)]


def transfer(hook: Any, dest: Path, kind: str, *, delete: bool = True, page_size: int = 100) -> Any:
    engine = TransferEngine(hook, str(dest), TransferOptions(max_workers=4))
    objects = hook.iter_objects(f"type=={kind}", region=REGION, page_size=page_size)
    return engine.run(objects, delete_after_transfer=delete)


def by_id(summary: Any) -> dict[str, Any]:
    records = summary.records
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "an object has more than one fate"
    return {r.id: r for r in records}


def assert_copied(emulator: Any, dest: Path, record: Any) -> None:
    assert record.status == Status.COPIED and record.verified, record
    assert (dest / record.path).read_bytes() == emulator.content(record.id)


# ---------------------------------------------------------------------------- issue 18.3: ids are exact


def test_an_id_with_surrounding_whitespace_fails_and_neither_it_nor_its_trimmed_twin_sees_a_request(
    make_hook, emulator, tmp_path
):
    hook = make_hook()
    good = add(emulator, "rec", 3)
    emulator.add_object(REGION, type="rec", object_id=" X")
    emulator.add_object(REGION, type="other", object_id="X")  # not in the search: the run never sees it
    summary = transfer(hook, tmp_path, "rec")
    records = by_id(summary)
    assert set(records) == {*good, " X"}
    assert records[" X"].status == Status.FAILED and "whitespace" in (records[" X"].reason or "")
    for object_id in good:
        assert_copied(emulator, tmp_path, records[object_id])
    assert summary.copied == 3 and summary.deleted == 3 and summary.failed == 1
    requests = emulator.object_requests()
    assert " X" not in requests and "X" not in requests  # neither downloaded, read nor deleted
    assert emulator.get("X")["objectState"] == "AVAILABLE" and emulator.get(" X")["objectState"] == "AVAILABLE"
    assert all(requests[i].get("delete") == 1 for i in good)


@pytest.mark.parametrize("bad", [" X", "X ", "X\n", "X\x00", "a/X", "a\\X", ".."])
def test_an_id_a_user_passes_that_cannot_be_used_exactly_is_a_configuration_error(hook, emulator, tmp_path, bad):
    emulator.add_object(REGION, type="rec", object_id="X")
    calls = [
        lambda: hook.delete_objects([bad], region=REGION),
        lambda: hook.get_object(bad, region=REGION),
        lambda: hook.get_objects([bad], region=REGION),
        lambda: hook.restore_object(bad, region=REGION),
        lambda: hook.download_object(bad, tmp_path / "x", region=REGION),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError) as info:
            call()
        assert repr(bad) in str(info.value) and "exactly" in str(info.value)
    assert emulator.object_requests() == {} and emulator.get("X")["objectState"] == "AVAILABLE"


def test_operators_do_not_trim_ids_a_user_passes(make_hook, emulator, tmp_path):
    from airflow_provider_eightbyeight.operators import (
        EightByEightDeleteObjectsOperator,
        EightByEightRestoreObjectsOperator,
        EightByEightTransferOperator,
    )

    make_hook()
    emulator.add_object(REGION, type="rec", object_id="X")
    operators = [
        EightByEightDeleteObjectsOperator(task_id="d", object_ids=[" X"], region=REGION),
        EightByEightDeleteObjectsOperator(task_id="d", object_ids='["X\\t"]', region=REGION),
        EightByEightRestoreObjectsOperator(task_id="r", object_ids=[" X"], region=REGION, wait_for_completion=False),
        EightByEightTransferOperator(task_id="t", destination=str(tmp_path), object_ids=["X "], region=REGION),
    ]
    for op in operators:
        with pytest.raises(ConfigurationError, match="exactly"):
            op.execute({})
    assert "X" not in emulator.object_requests() and emulator.get("X")["objectState"] == "AVAILABLE"


# ---------------------------------------------------------------------------- issue 18.4: one bad field


def test_a_checksum_with_a_trailing_newline_fails_that_object_without_downloading_it(make_hook, emulator, tmp_path):
    hook = make_hook()
    good = add(emulator, "rec", 4)
    bad = emulator.add_object(REGION, type="rec")
    emulator.store.objects[REGION][bad["id"]].wire_patch = {"checksum": bad["checksum"] + "\n"}
    summary = transfer(hook, tmp_path, "rec")
    records = by_id(summary)
    assert records[bad["id"]].status == Status.FAILED
    assert "checksum" in (records[bad["id"]].reason or "") and "32" in (records[bad["id"]].reason or "")
    assert bad["id"] not in emulator.object_requests()  # not downloaded (every run), not deleted
    for object_id in good:
        assert_copied(emulator, tmp_path, records[object_id])


def test_a_numeric_checksum_fails_that_object_and_the_run_goes_on(make_hook, emulator, tmp_path):
    hook = make_hook()
    good = add(emulator, "rec", 4)
    bad = add(emulator, "rec", 1, created="2026-11-02T00:00:00")[0]
    emulator.store.objects[REGION][bad].wire_patch = {"checksum": 12345}
    summary = transfer(hook, tmp_path, "rec")
    records = by_id(summary)
    assert set(records) == {*good, bad}
    assert records[bad].status == Status.FAILED and "checksum" in (records[bad].reason or "")
    for object_id in good:
        assert_copied(emulator, tmp_path, records[object_id])
    assert bad not in emulator.object_requests()


def test_a_numeric_object_name_fails_that_object_and_every_good_one_is_copied(make_hook, emulator, tmp_path):
    """The run stopped after 10 of 19 good objects with a bare AttributeError from the path planner."""
    hook = make_hook()
    good = [emulator.add_object(REGION, type="rec", created=1_793_000_000_000 + i * 1000)["id"] for i in range(19)]
    bad = emulator.add_object(REGION, type="rec", created=1_793_000_005_500)["id"]
    emulator.store.objects[REGION][bad].wire_patch = {"objectName": 12345}
    summary = transfer(hook, tmp_path, "rec", page_size=7)
    records = by_id(summary)
    assert records[bad].status == Status.FAILED and "objectName" in (records[bad].reason or "")
    assert summary.copied == 19
    for object_id in good:
        assert_copied(emulator, tmp_path, records[object_id])


def test_items_without_a_usable_id_are_counted_and_recorded_failed_under_a_synthetic_key(make_hook, emulator, tmp_path):
    hook = make_hook()
    good = add(emulator, "rec", 3)
    add(emulator, "rec", 1, wire_drop=["id"])
    add(emulator, "rec", 1, wire={"id": 42})
    add(emulator, "rec", 1, wire_item="oops")
    add(emulator, "rec", 1, wire_item=None)
    summary = transfer(hook, tmp_path, "rec")
    records = by_id(summary)
    unnamed = [r for r in records.values() if r.id.startswith(UNNAMED_PREFIX)]
    assert len(unnamed) == 4 and all(r.status == Status.FAILED and r.reason for r in unnamed)
    assert any("42" in (r.reason or "") for r in unnamed) and any("oops" in (r.reason or "") for r in unnamed)
    assert summary.copied == 3 and summary.failed == 4 and summary.failure_count == 4
    assert hook.stats.unnamed_items == 4 and hook.stats.as_dict()["unnamed_items"] == 4
    assert set(emulator.object_requests()) == set(good)  # only the good ones were read and deleted
    assert list(hook.iter_objects("type==rec", region=REGION, states=["REVOKED"]))  # the good ones, deleted


def test_delete_and_restore_by_search_refuse_objects_with_a_problem(make_hook, emulator):
    from airflow_provider_eightbyeight.operators import (
        EightByEightDeleteObjectsOperator,
        EightByEightRestoreObjectsOperator,
    )

    make_hook()
    good = add(emulator, "rec", 2)
    emulator.add_object(REGION, type="rec", object_id=" X")
    emulator.add_object(REGION, type="other", object_id="X")
    odd = add(emulator, "rec", 1, wire={"checksum": 5})[0]
    add(emulator, "rec", 1, wire_item="oops")
    result = EightByEightDeleteObjectsOperator(
        task_id="d", object_types=["rec"], region=REGION, confirm_delete_by_filter=True, fail_on_error=False
    ).execute({})
    assert sorted(result["deleted"]) == sorted(good)
    assert {" X", odd} <= set(result["failed"]) and "checksum" in result["failed"][odd]
    requests = emulator.object_requests()
    assert not {" X", "X", odd} & set(requests)
    archived = add(emulator, "arch", 1, state="ARCHIVED")
    emulator.add_object(REGION, type="arch", object_id="Y ", state="ARCHIVED")
    emulator.add_object(REGION, type="other", object_id="Y", state="ARCHIVED")
    restored = EightByEightRestoreObjectsOperator(
        task_id="r", object_types=["arch"], region=REGION, wait_for_completion=False
    ).execute({})
    assert restored == archived
    assert not {"Y ", "Y"} & set(emulator.object_requests())


def test_list_operator_and_sensor_do_not_hand_on_unusable_ids(make_hook, emulator):
    from airflow_provider_eightbyeight.operators import EightByEightListObjectsOperator
    from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor

    make_hook()
    good = add(emulator, "rec", 2)
    emulator.add_object(REGION, type="rec", object_id=" X")
    odd = add(emulator, "rec", 1, wire={"objectName": 5})[0]
    ids = EightByEightListObjectsOperator(task_id="l", object_types=["rec"], region=REGION, return_ids=True).execute({})
    assert sorted(ids) == sorted([*good, odd])  # its id is fine: a transfer names its failure
    summaries = EightByEightListObjectsOperator(task_id="l", object_types=["rec"], region=REGION).execute({})
    assert {s["id"] for s in summaries} == {*good, odd, " X"}
    assert all(("problem" in s) == (s["id"] in (odd, " X")) for s in summaries)
    sensor = EightByEightObjectsSensor(task_id="s", object_types=["rec"], region=REGION, min_count=1)
    assert sorted(sensor.matching_ids()) == sorted([*good, odd])


@needs("event-driven scheduling")
@pytest.mark.asyncio
async def test_a_watcher_never_emits_an_unusable_id(make_hook, emulator, monkeypatch):
    """Objects whose id cannot be used are left out of events (an event naming one could only fail the copy)."""
    import requests

    from airflow_provider_eightbyeight.triggers import new_objects
    from airflow_provider_eightbyeight.triggers.new_objects import MemoryCursorStore
    from tests.watching import Collector, make, until

    monkeypatch.setattr(new_objects, "PERSIST_GRACE", 0.2)
    make_hook()
    store = MemoryCursorStore()
    run = Collector(make(store, object_types=["rec"], region=REGION))
    await until(lambda: store.value, what="the first poll")
    specs = [{"type": "rec"}, {"type": "rec", "id": " X"}, {"type": "rec", "wire": {"checksum": 5}}, {"type": "rec"}]
    resp = requests.post(
        f"{emulator.base_url}/_emulator/objects", json={"region": REGION, "objects": specs}, timeout=30
    )
    resp.raise_for_status()
    added = [o["id"] for o in resp.json()["objects"]]
    await until(lambda: len(run.ids()) >= 3, what="the event")
    saves = store.saves
    await until(lambda: store.saves > saves, what="one more poll")
    await run.stop()
    assert sorted(run.ids()) == sorted(i for i in added if i != " X")  # the bad checksum's id is fine: a copy names it
    assert " X" not in emulator.object_requests()


def test_an_event_id_is_used_exactly_or_refused():
    from airflow_provider_eightbyeight.watch import EVENT_SOURCE, ids_from_event

    def event(*ids: str) -> dict[str, Any]:
        return {"payload": {"source": EVENT_SOURCE, "by_region": {REGION: list(ids)}}}

    assert ids_from_event(event("a", "b c")) == {REGION: ["a", "b c"]}
    for bad in (" X", "X\n", "a/b"):
        with pytest.raises(ValueError, match="not object ids"):
            ids_from_event(event("a", bad))


# ---------------------------------------------------------------------------- property: any mix of bad items

MD5_EDITS = st.sampled_from(
    [
        lambda m: m + "\n",
        lambda m: " " + m,
        lambda m: m + " ",
        lambda m: m[:31],
        lambda m: m + "0",
        lambda m: m + "-",
        lambda m: m[:30] + "zz",
        lambda m: m + "\x00",
        lambda m: m + "-1\n",
    ]
)
HUGE = st.sampled_from([10**30, -(10**30), 2**63, 1e300, -1e300])
NESTED = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=2), inner, max_size=2)),
    max_leaves=4,
)
CONTAINERS = st.one_of(
    st.lists(NESTED, min_size=0, max_size=2), st.dictionaries(st.text(max_size=3), NESTED, max_size=2)
)
NOT_A_STRING = st.one_of(
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([1.5, float("nan"), float("inf"), -0.0]),
    HUGE,
    CONTAINERS,
)
BAD_SIZE = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=2**63),
    st.sampled_from(
        [0.5, 1.5, float("nan"), float("inf"), -1.0, True, False, "n/a", "-5", "1.5", " 12", "12\n", "0x10"]
    ),
    CONTAINERS,
)
BAD_TIME = st.one_of(
    st.sampled_from(["garbage", "2026-13-45T00:00:00", "yesterday", "2026-11-01T25:61:00", True, False]),
    HUGE,
    st.sampled_from([float("nan"), float("inf")]),
    CONTAINERS,
)
BAD_TAGS = st.one_of(
    st.integers(),
    st.text(min_size=1, max_size=5),
    st.booleans(),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), min_size=1, max_size=2),
    st.just([{"value": "no key"}]),
    st.builds(lambda k: [{"key": k, "value": "v"}], st.one_of(st.integers(), st.none(), CONTAINERS)),
    st.builds(
        lambda v: [{"key": "k", "value": v}],
        st.one_of(st.lists(NESTED, min_size=1), st.dictionaries(st.text(max_size=2), NESTED, min_size=1)),
    ),
)
BAD_FIELD = st.one_of(
    st.tuples(
        st.sampled_from(
            ["type", "mimeType", "objectName", "checksumType", "customerId", "userId", "bucketId", "objectState"]
        ),
        NOT_A_STRING,
    ),
    st.tuples(st.just("checksum"), st.one_of(NOT_A_STRING, MD5_EDITS)),
    st.tuples(st.just("storedBytes"), BAD_SIZE),
    st.tuples(st.sampled_from(["createdTime", "updatedTime"]), BAD_TIME),
    st.tuples(st.just("tags"), BAD_TAGS),
    st.tuples(st.just("shared"), st.one_of(st.integers(), st.text(max_size=3), CONTAINERS)),
)
#: Ids 8x8 might send that cannot be used exactly: (prefix, inner, suffix) around a unique core.
BAD_ID = st.one_of(
    st.tuples(
        st.sampled_from([" ", "\t", "\n", "\u00a0", "\r\n", ""]), st.just(""), st.sampled_from([" ", "\n", "\t"])
    ),
    st.tuples(st.sampled_from([" ", "\n"]), st.just(""), st.just("")),
    st.tuples(st.just(""), st.sampled_from(["\x00", "\x1b", "\x7f", "\u202e", "/", "\\", "\n"]), st.just("")),
)
#: Items no id can be read from: the id dropped, of another type, or an item that is no object at all.
UNNAMED = st.one_of(
    st.tuples(st.just("drop"), st.none()),
    st.tuples(st.just("id"), st.one_of(st.none(), st.just(""), NOT_A_STRING)),
    st.tuples(
        st.just("item"),
        st.one_of(NESTED, st.integers(), st.text(max_size=5)).filter(
            lambda v: not (isinstance(v, dict) and ("id" in v or "objectId" in v))
        ),
    ),
)
GOOD_VARIANT = st.sampled_from(
    ["plain", "size-string", "epoch-updated", "upper-md5", "no-shared", "tag-ids", "float-size"]
)
ITEM = st.one_of(
    st.tuples(st.just("good"), GOOD_VARIANT),
    st.tuples(st.just("fields"), st.lists(BAD_FIELD, min_size=1, max_size=3)),
    st.tuples(st.just("id"), BAD_ID),
    st.tuples(st.just("unnamed"), UNNAMED),
)
_EXAMPLE = itertools.count()


def _good_wire(variant: str, wire: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A reading the contract leaves open (it must be copied and verified), as a patch and fields to drop."""
    if variant == "size-string":
        return {"storedBytes": str(wire["storedBytes"])}, []
    if variant == "float-size":
        return {"storedBytes": float(wire["storedBytes"])}, []
    if variant == "epoch-updated":
        return {"updatedTime": 1_793_000_000_000}, []
    if variant == "upper-md5":
        return {"checksum": wire["checksum"].upper()}, []
    if variant == "no-shared":
        return {}, ["shared"]
    if variant == "tag-ids":
        return {"tags": [dict(t, id=f"t{n}") for n, t in enumerate(wire["tags"])]}, []
    return {}, []


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=18, objects_per_region=0, archived_fraction=0, revoked_fraction=0, record_object_requests=True
    )


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return _emulator_config()


@contextmanager
def fresh_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """A new emulator and a hook on it: each example starts from the same state, so a replay is the same run."""
    TOKEN_CACHE.clear()
    with EightByEightEmulator(_emulator_config()) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_EIGHTBYEIGHT_MALFORMED", emu.connection_json(**FAST_RETRY_EXTRAS))
        hook = EightByEightHook("eightbyeight_malformed")
        try:
            yield emu, hook
        finally:
            hook.close()
            TOKEN_CACHE.clear()


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(ITEM, min_size=1, max_size=9), page_size=st.sampled_from([2, 3, 100]))
def test_any_mix_of_malformed_items_each_object_gets_one_fate_and_nothing_unseen_is_touched(
    monkeypatch, tmp_path, items, page_size
):
    with fresh_hook(monkeypatch) as (emulator, hook):
        _check_one_mix(emulator, hook, tmp_path / f"ex{next(_EXAMPLE)}", items, page_size)


def _check_one_mix(emulator: Any, hook: Any, dest: Path, items: list[Any], page_size: int) -> None:
    kind = "mix"
    good: list[str] = []
    named_bad: list[str] = []
    twins: list[str] = []
    unnamed: set[str] = set()
    for index, (what, spec) in enumerate(items):
        event(f"item: {what}")
        created = 1_793_000_000_000 + (index // 2) * 1000  # pairs share a second: ties across pages
        if what == "id":
            prefix, inner, suffix = spec
            core = f"bad-{index}"
            object_id = prefix + core[:2] + inner + core[2:] + suffix
            emulator.add_object(REGION, type=kind, object_id=object_id, created=created)
            twin = object_id.strip() if object_id.strip() != object_id else core  # what trimming would name
            emulator.add_object(REGION, type="twin", object_id=twin, created=created)
            named_bad.append(object_id)
            twins.append(twin)
            continue
        wire = emulator.add_object(REGION, type=kind, created=created)
        record = emulator.store.objects[REGION][wire["id"]]
        if what == "good":
            record.wire_patch, drop = _good_wire(spec, wire)
            record.wire_drop = tuple(drop)
            good.append(wire["id"])
        elif what == "fields":
            record.wire_patch = {f: (v(wire["checksum"]) if callable(v) else v) for f, v in spec}
            named_bad.append(wire["id"])
        else:
            how, value = spec
            if how == "drop":
                record.wire_drop = ("id",)
            elif how == "id":
                record.wire_patch = {"id": value}
            else:
                record.wire_item = (value,)
            served = record.wire()
            if isinstance(served, dict) and any(
                isinstance(served.get(k), str) and served[k] for k in ("id", "objectId")
            ):
                pytest.fail(f"not an unnamed item: {served!r}")
            unnamed.add(_canonical(served))

    summary = transfer(hook, dest, kind, page_size=page_size)

    records = by_id(summary)
    for object_id in good:
        assert_copied(emulator, dest, records[object_id])
        assert emulator.get(object_id)["objectState"] == "REVOKED"  # proved, then deleted
    for object_id in named_bad:
        assert records[object_id].status == Status.FAILED and records[object_id].reason, records[object_id]
    synthetic = [r for r in records.values() if r.id.startswith(UNNAMED_PREFIX)]
    assert len(synthetic) == len(unnamed) and all(r.status == Status.FAILED for r in synthetic)
    assert set(records) == {*good, *named_bad, *(r.id for r in synthetic)}
    assert summary.copied == len(good) and summary.failed == len(named_bad) + len(unnamed)
    requests = emulator.object_requests()
    touched = {i for i, routes in requests.items() if any(routes.get(r) for r in PER_OBJECT)}
    assert touched <= set(good), f"requests about objects the run did not see exactly: {touched - set(good)}"
    for twin in twins:
        assert emulator.get(twin)["objectState"] == "AVAILABLE"
    assert hook.stats.unnamed_items == len(unnamed)
