"""
Full transfers (520+ objects over six pages, deletes on) in which 8x8 sends malformed metadata: fields of the
wrong type or with stray whitespace, ids that cannot be used exactly, items with no id or no object at all,
fields that turn malformed while the run is under way; with 5xx answers and connection resets on top, with
both strategies.

After each: every good object once with the right bytes, deleted only on proof; every malformed object
recorded failed with its problem, never copied, never deleted, never named in a request; every item the
search served has exactly one manifest record (stand-ins for items without a usable id).
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from airflow_provider_eightbyeight.models import UNNAMED_PREFIX
from airflow_provider_eightbyeight.testing import FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from tests.helpers import FAST_RETRY_EXTRAS
from tests.reliability.checks import FIGURES, local_destination, verify

REGION = "us-east"
FIGURES.setdefault("malformed items", 0)
#: Routes that name one object (path or body).
PER_OBJECT = ("get_object", "metadata", "content", "restore", "bulk_start", "delete")
#: One malformed field each (a callable gets the object's true checksum).
BAD_FIELDS: list[dict[str, Any]] = [
    {"objectName": 5},
    {"checksum": 12345},
    {"checksum": lambda md5: md5 + "\n"},
    {"checksum": lambda md5: " " + md5},
    {"checksum": lambda md5: md5[:-1] + "g"},
    {"storedBytes": "big"},
    {"storedBytes": -1},
    {"storedBytes": 1.5},
    {"storedBytes": True},
    {"createdTime": "yesterday"},
    {"createdTime": [1]},
    {"updatedTime": {"a": 1}},
    {"tags": 5},
    {"tags": [{"value": "no key"}]},
    {"type": 3},
    {"objectState": ["AVAILABLE"]},
    {"shared": "yes"},
    {"mimeType": []},
    {"bucketId": 7},
]
#: Ids that cannot be used exactly as 8x8 sends them.
BAD_IDS = (" pad", "pad ", "new\nline", "a/b", "back\\slash", "..", "ctl\x1b")
#: Items no id can be read from: (wire patch, fields dropped, item served instead).
UNNAMED: list[tuple[dict[str, Any] | None, tuple[str, ...], Any]] = [
    (None, ("id",), None),
    ({"id": 42}, (), None),
    ({"id": ""}, (), None),
    (None, (), "oops"),
    (None, (), [1, 2]),
    (None, (), 7),
]


def _malform(emulator: Any, object_id: str, spec: dict[str, Any]) -> None:
    md5 = emulator.get(object_id)["checksum"]
    emulator.set_object_wire(object_id, wire={k: v(md5) if callable(v) else v for k, v in spec.items()})


def _setup(emulator: Any, rng: random.Random) -> tuple[set[str], set[str], list[str]]:
    """(every usable-id object served, those malformed from the start, real ids of the unnamed items)."""
    available = sorted(o["id"] for o in emulator.objects(REGION, states="AVAILABLE"))
    chosen = rng.sample(available, len(BAD_FIELDS) * 2)
    bad = set(chosen)
    for n, object_id in enumerate(chosen):
        _malform(emulator, object_id, BAD_FIELDS[n % len(BAD_FIELDS)])
    for object_id in BAD_IDS:
        emulator.add_object(REGION, object_id=object_id, size=2048)
        bad.add(object_id)
    hidden = []
    for wire, drop, item in UNNAMED:
        added = emulator.add_object(
            REGION, size=2048, wire=wire, wire_drop=drop, **({} if item is None else {"wire_item": item})
        )
        hidden.append(added["id"])
    served = set(available) | set(BAD_IDS)
    return served, bad, hidden


@pytest.mark.parametrize("strategy", ["objects", "bulk"])
def test_malformed_metadata_is_each_objects_failure_never_the_runs(make_hook, emulator, tmp_path, strategy):
    hook = make_hook(max_retries=10, timeout=2.0, **FAST_RETRY_EXTRAS)
    emulator.store.config.record_object_requests = True
    rng = random.Random(f"malformed-{strategy}")
    served, bad, hidden = _setup(emulator, rng)
    good = sorted(served - bad)
    # fields that turn malformed while the run is under way: each such object is copied or failed, never both
    late = rng.sample(good, 10)
    emulator.add_fault(FaultRule(kind="status", route="content", status=503, probability=0.05, times=20))
    emulator.add_fault(FaultRule(kind="reset", route="content", probability=0.03, times=10))
    emulator.add_fault(FaultRule(kind="status", route="search", status=500, times=2))
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(max_workers=8))
    objects = hook.iter_objects(region=REGION)
    timer = threading.Timer(0.3, lambda: [_malform(emulator, i, rng.choice(BAD_FIELDS)) for i in late])
    timer.start()
    try:
        if strategy == "bulk":
            summary = engine.run_bulk(
                objects, delete_after_transfer=True, poll_interval=0.05, timeout=60, limit_bytes=8 * 1024 * 1024
            )
        else:
            summary = engine.run(objects, delete_after_transfer=True)
    finally:
        timer.cancel()
        timer.join()

    records = {r.id: r for r in summary.records}
    stand_ins = {i for i in records if i.startswith(UNNAMED_PREFIX)}
    assert len(summary.records) == len(records), "an object has more than one record"
    assert set(records) == served | stand_ins, "an item the search served has no record, or one it never served"
    assert len(stand_ins) == len(hidden), f"{len(stand_ins)} stand-ins for {len(hidden)} items without a usable id"
    for object_id in sorted(bad) + sorted(stand_ins):
        record = records[object_id]
        assert record.status == "failed" and "not copied" in (record.reason or ""), record
    late_failed = {i for i in late if records[i].status == "failed"}
    for object_id in late_failed:
        assert "not copied" in (records[object_id].reason or "") or records[object_id].md5 is None, records[object_id]
    failed = bad | stand_ins | late_failed
    deleted = {i for i, r in records.items() if r.deleted_at_source}
    assert set(good) - set(late) <= deleted, "a proven copy of a good object was not deleted"
    verify(emulator, local_destination(tmp_path), summary, served, failed_ids=failed, deleted_ids=deleted)
    for object_id in [*bad, *hidden]:
        assert emulator.get(object_id)["objectState"] == "AVAILABLE", f"{object_id!r} was deleted at 8x8"
    touched = {i for i, routes in emulator.object_requests().items() if any(routes.get(r) for r in PER_OBJECT)}
    assert not touched & (bad | set(hidden)), (
        f"requests about malformed objects: {sorted(touched & (bad | set(hidden)))}"
    )
    FIGURES["malformed items"] += len(bad) + len(hidden) + len(late_failed)
    FIGURES["faults injected"] += sum(emulator.stats()["faults_injected"].values())
    FIGURES["retries"] += summary.retries
