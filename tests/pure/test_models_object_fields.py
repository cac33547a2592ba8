"""
Every field of an ObjectResponse is validated once, at parse time (``StoredObject.from_api``): a value of the
wrong type or shape is that object's ``problem`` (the field is then ``None``), never an exception later.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_eightbyeight.models import StoredObject, id_problem, is_plain_md5, usable

MD5 = "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e"
GOOD: dict[str, Any] = {
    "id": "3b1f9c2e-1111-4a2b-9c3d-000000000001",
    "type": "callcenterrecording",
    "mimeType": "audio/mpeg",
    "objectName": "int-19a0b1c2d3e-DemoCallId0001.mp3",
    "checksumType": "MD5",
    "checksum": MD5,
    "customerId": "0012J00000DEMO0AAA",
    "userId": "dEmOuSeRiD0000000000aa",
    "storedBytes": 482304,
    "createdTime": "2026-03-04T10:15:30",
    "updatedTime": "2026-03-04T10:15:41",
    "objectState": "AVAILABLE",
    "bucketId": "9a8b7c6d-2222-4e5f-8a9b-000000000002",
    "tags": [{"key": "callId", "value": "c1"}, {"key": "direction", "value": "INBOUND"}],
    "shared": False,
}


def parse(**changes: Any) -> StoredObject:
    data = dict(GOOD)
    for name, value in changes.items():
        if value is DROP:
            data.pop(name, None)
        else:
            data[name] = value
    return StoredObject.from_api(data, "us-east")


DROP = object()


def test_the_contract_example_has_no_problem():
    obj = parse()
    assert obj.problem is None
    assert (obj.size, obj.md5, obj.name, obj.tags["direction"]) == (482304, MD5, GOOD["objectName"], "INBOUND")


# Readings the contract leaves open (section 4.1 and 13): each is accepted as it is.
TOLERATED = [
    ("storedBytes", "482304", "size", 482304),  # schema: string; examples: number
    ("storedBytes", 482304.0, "size", 482304),  # a JSON number written with a fraction
    ("storedBytes", 0, "size", 0),
    ("storedBytes", DROP, "size", None),
    ("storedBytes", None, "size", None),
    ("updatedTime", 1772619341000, "updated", datetime(2026, 3, 4, 10, 15, 41, tzinfo=timezone.utc)),  # int64
    ("updatedTime", "1772619341000", "updated", datetime(2026, 3, 4, 10, 15, 41, tzinfo=timezone.utc)),
    ("createdTime", "2026-03-04T10:15:30Z", "created", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
    ("createdTime", DROP, "created", None),
    ("checksum", MD5.upper(), "md5", MD5),
    ("checksum", MD5 + "-1", "md5", None),  # multipart tag: kept, not verifiable
    ("checksum", MD5 + "-12", "checksum", MD5 + "-12"),
    ("checksum", "", "checksum", None),
    ("checksum", None, "checksum", None),
    ("shared", DROP, "shared", None),  # in every example, absent from the schema
    ("tags", DROP, "tags", {}),
    ("tags", [{"id": "t1", "key": "n", "value": "5"}], "tags", {"n": "5"}),  # tag id: in the schema
    ("tags", [{"key": "n", "value": 5}], "tags", {"n": "5"}),
    ("tags", [{"key": "n", "value": None}], "tags", {"n": ""}),
    ("tags", {"n": "5"}, "tags", {"n": "5"}),
    ("type", "sentimentScore", "type", "sentimentScore"),  # open set
    ("objectState", "SOMETHING_NEW", "state", "SOMETHING_NEW"),  # an unknown state: not ready, not malformed
    ("objectName", "a:b+c.mp3", "name", "a:b+c.mp3"),
    ("objectName", DROP, "name", None),
]


@pytest.mark.parametrize(("field", "value", "attribute", "expected"), TOLERATED)
def test_readings_the_contract_leaves_open_are_tolerated(field, value, attribute, expected):
    obj = parse(**{field: value})
    assert obj.problem is None, obj.problem
    assert getattr(obj, attribute) == expected


# Values of the wrong type or shape: the object's problem names the field; the field itself is None.
MALFORMED = [
    ("checksum", MD5 + "\n", "checksum"),  # `$` matched before a newline: read as a plain MD5 before
    ("checksum", " " + MD5, "checksum"),
    ("checksum", MD5[:31], "checksum"),
    ("checksum", MD5 + "0", "checksum"),
    ("checksum", "not-a-checksum", "checksum"),
    ("checksum", MD5 + "-", "checksum"),
    ("checksum", 12345, "checksum"),  # raised TypeError in the run's triage before
    ("checksum", ["x"], "checksum"),
    ("objectName", 12345, "objectName"),  # raised AttributeError while planning paths before
    ("objectName", {"a": 1}, "objectName"),
    ("type", 7, "type"),
    ("mimeType", ["audio/mpeg"], "mimeType"),
    ("checksumType", 5, "checksumType"),
    ("customerId", 5, "customerId"),
    ("userId", {"id": 1}, "userId"),
    ("bucketId", 1.5, "bucketId"),
    ("objectState", 1, "objectState"),
    ("objectState", ["AVAILABLE"], "objectState"),
    ("storedBytes", -1, "storedBytes"),
    ("storedBytes", "-1", "storedBytes"),
    ("storedBytes", 1.5, "storedBytes"),
    ("storedBytes", "n/a", "storedBytes"),
    ("storedBytes", "12\n", "storedBytes"),
    ("storedBytes", 10**30, "storedBytes"),
    ("storedBytes", True, "storedBytes"),
    ("storedBytes", float("inf"), "storedBytes"),
    ("storedBytes", float("nan"), "storedBytes"),
    ("storedBytes", [1], "storedBytes"),
    ("createdTime", "garbage", "createdTime"),
    ("createdTime", "2026-13-45T99:00:00", "createdTime"),
    ("createdTime", True, "createdTime"),
    ("createdTime", 10**30, "createdTime"),
    ("createdTime", {"t": 1}, "createdTime"),
    ("updatedTime", [2026], "updatedTime"),
    ("tags", "callId=c1", "tags"),
    ("tags", 5, "tags"),
    ("tags", ["callId"], "tags"),
    ("tags", [{"value": "no key"}], "tags"),
    ("tags", [{"key": 5, "value": "x"}], "tags"),
    ("tags", [{"key": "k", "value": ["nested"]}], "tags"),
    ("tags", [{"key": "k", "value": {"nested": 1}}], "tags"),
    ("shared", "yes", "shared"),
    ("shared", 0, "shared"),
]


@pytest.mark.parametrize(("field", "value", "named"), MALFORMED)
def test_a_malformed_field_is_the_objects_problem(field, value, named):
    obj = parse(**{field: value})
    assert obj.problem is not None and named in obj.problem, obj.problem
    assert obj.id == GOOD["id"]  # still named by its id
    attribute = {
        "objectName": "name",
        "mimeType": "mime_type",
        "checksumType": "checksum_type",
        "customerId": "customer_id",
        "userId": "user_id",
        "bucketId": "bucket_id",
        "objectState": "state",
        "storedBytes": "size",
        "createdTime": "created",
        "updatedTime": "updated",
    }.get(field, field)
    if field == "tags":
        assert isinstance(obj.tags, dict) and all(isinstance(v, str) for v in obj.tags.values())
    else:
        assert getattr(obj, attribute) is None  # consumers never see the wrong type
    assert obj.md5 is None or field != "checksum"
    summary = obj.to_summary()
    assert summary["problem"] == obj.problem


def test_every_problem_is_named_at_once():
    obj = parse(checksum=5, objectName=7, storedBytes=-3)
    assert obj.problem is not None
    assert all(name in obj.problem for name in ("checksum", "objectName", "storedBytes"))


@pytest.mark.parametrize(
    ("object_id", "why"),
    [
        (" X", "whitespace"),
        ("X ", "whitespace"),
        ("X\n", "whitespace"),
        ("\u00a0X", "whitespace"),
        ("a\x00b", "control"),
        ("a\x1bb", "control"),
        ("a\u202eb", "control"),
        ("a/b", "separator"),
        ("a\\b", "separator"),
        ("..", "path"),
        (".", "path"),
    ],
)
def test_an_id_that_cannot_be_used_exactly_is_kept_exactly_and_is_a_problem(object_id, why):
    obj = parse(id=object_id)
    assert obj.id == object_id  # never altered (stripped) to name another object
    assert obj.problem is not None and why in obj.problem, obj.problem
    assert why in (id_problem(object_id) or "")


@pytest.mark.parametrize("object_id", ["3b1f9c2e-1111-4a2b-9c3d-000000000001", "x", "a b", "a:b+c", "é"])
def test_ordinary_ids_have_no_problem(object_id):
    assert id_problem(object_id) is None
    assert parse(id=object_id).problem is None


@pytest.mark.parametrize("bad", [{}, {"type": "x"}, [], "id", None, 5, {"id": None}, {"id": ""}, {"id": 5}])
def test_no_usable_id_is_a_value_error(bad):
    with pytest.raises(ValueError):
        StoredObject.from_api(bad)


def test_an_item_without_a_usable_id_gets_a_clearly_synthetic_stable_key():
    first = StoredObject.unnamed({"type": "callrecording", "objectName": "a.mp3"}, "us-east", "no id")
    again = StoredObject.unnamed({"objectName": "a.mp3", "type": "callrecording"}, "us-east", "no id")
    other = StoredObject.unnamed({"type": "callrecording", "objectName": "b.mp3"}, "us-east", "no id")
    odd = StoredObject.unnamed("oops", "uk", "not an object")
    assert first.id == again.id != other.id  # the same item read twice (a page read again) is one item
    assert first.id.startswith("<no id>/us-east/") and odd.id.startswith("<no id>/uk/")
    assert id_problem(first.id) is not None  # it can never be sent to 8x8 as an id
    assert first.problem is not None and "no id" in first.problem
    assert (first.name, first.type, first.region) == ("a.mp3", "callrecording", "us-east")
    assert odd.problem is not None and odd.name is None


def test_md5_shape_is_a_full_match():
    assert is_plain_md5(MD5) and is_plain_md5(MD5.upper())
    assert not is_plain_md5(MD5 + "\n")
    assert not is_plain_md5(MD5 + "-2")
    assert not is_plain_md5(None)
    assert not is_plain_md5(5)  # type: ignore[arg-type]


def test_the_dataclass_api_still_works():
    obj = StoredObject(id="x", name="y.mp3", size=3)
    assert obj.problem is None and obj.md5 is None and obj.to_summary()["id"] == "x"
    assert "problem" not in obj.to_summary()


@pytest.mark.parametrize(
    ("ids", "limit", "kept", "skipped"),
    [
        (["a", "b", "c"], 2, ["a", "b"], []),
        ([" a", "b", "c"], 2, ["b", "c"], [" a"]),  # an unusable id takes no place within the limit
        (["a/b", "", "c"], 5, ["c"], ["a/b", ""]),
        (["a", "b"], 0, [], []),
    ],
)
def test_usable_keeps_the_first_objects_whose_id_can_be_used(ids, limit, kept, skipped):
    seen: list[str] = []
    objects = [StoredObject(id=i, region="us-east") for i in ids]
    assert [o.id for o in usable(objects, limit, lambda o: seen.append(o.id))] == kept
    assert seen == skipped


def test_usable_reads_no_further_than_it_needs():
    read: list[int] = []

    def objects():
        for n in range(1000):
            read.append(n)
            yield StoredObject(id=f"o{n}", region="us-east")

    assert len(list(usable(objects(), 3))) == 3 and len(read) == 3
