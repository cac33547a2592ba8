"""Buckets over real HTTP from the emulator: every page, one bucket, its objects as (id, type)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_eightbyeight.errors import ApiError, ConfigurationError, NotFoundError
from airflow_provider_eightbyeight.models import UNNAMED_PREFIX, Bucket, BucketMember
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=7, regions=("us-east",), objects_per_region=10)


def test_every_bucket_across_pages_holds_the_objects_that_name_it(hook):
    buckets = list(hook.iter_buckets(page_size=3))
    assert len(buckets) > 3 and len({b.id for b in buckets}) == len(buckets)
    members = {m.id: b.id for b in buckets for m in b.objects}
    for obj in hook.list_objects():
        assert members[obj.id] == obj.bucket_id
    assert all(b.problem is None and b.region == "us-east" for b in buckets)


def test_get_bucket_matches_the_listing(hook):
    first = next(iter(hook.iter_buckets()))
    again = hook.get_bucket(first.id)
    assert again.objects == first.objects and again.user_id == first.user_id


def test_an_unknown_bucket_is_not_found_and_bad_arguments_are_refused(hook):
    with pytest.raises(NotFoundError):
        hook.get_bucket("no-such-bucket")
    with pytest.raises(ConfigurationError):
        hook.get_bucket(" padded ")
    with pytest.raises(ConfigurationError):
        list(hook.iter_buckets(page_size=0))


# ----------------------------------------------------------------------------- malformed answers

GOOD_BUCKET: dict[str, Any] = {
    "bucketId": "9a8b7c6d-2222-4e5f-8a9b-000000000002",
    "customerId": "0012J00000DEMO0AAA",
    "userId": "dEmOuSeRiD0000000000aa",
    "createdTime": "2026-03-04T10:15:30",
    "updatedTime": "2026-03-04T10:15:41",
    "tags": [{"key": "callId", "value": "c1"}],
    "objectList": [{"id": "obj-1", "type": "callrecording"}, {"id": "obj-2", "type": "transcription"}],
}


def test_the_contract_bucket_reads_whole():
    bucket = Bucket.from_api(GOOD_BUCKET, "us-east")
    assert bucket.problem is None
    assert bucket.objects == (BucketMember("obj-1", "callrecording"), BucketMember("obj-2", "transcription"))
    assert bucket.created == datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)
    assert bucket.tags == {"callId": "c1"}


@pytest.mark.parametrize(
    ("name", "value", "attribute"),
    [
        ("userId", 42, "user_id"),
        ("customerId", ["x"], "customer_id"),
        ("createdTime", "yesterday", "created"),
        ("updatedTime", {"t": 1}, "updated"),
        ("tags", "callId=c1", "tags"),
        ("objectList", "obj-1", "objects"),
    ],
)
def test_a_malformed_field_is_the_buckets_problem_and_that_field_is_empty(name, value, attribute):
    bucket = Bucket.from_api({**GOOD_BUCKET, name: value}, "us-east")
    assert bucket.problem and name in bucket.problem, bucket.problem
    assert getattr(bucket, attribute) in (None, {}, ())
    assert bucket.id == GOOD_BUCKET["bucketId"]  # the rest still reads


def test_a_malformed_member_is_left_out_and_named():
    members = [{"id": "obj-1", "type": "callrecording"}, {"id": 7}, "obj-3", {"id": " padded "}, {"type": "x"}]
    bucket = Bucket.from_api({**GOOD_BUCKET, "objectList": members}, "us-east")
    assert bucket.object_ids == ("obj-1",)
    assert bucket.problem and "objectList" in bucket.problem


@given(
    st.dictionaries(
        st.sampled_from(sorted(GOOD_BUCKET)),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
            max_leaves=6,
        ),
        max_size=4,
    )
)
def test_any_shape_of_any_field_never_raises_past_the_id(changes):
    """Property: whatever 8x8 sends in a bucket's fields, reading it is that bucket's problem, never a crash."""
    data = {**GOOD_BUCKET, **changes}
    try:
        bucket = Bucket.from_api(data, "us-east")
    except ValueError:  # no usable id: the listing turns it into a stand-in (below)
        bucket = Bucket.unnamed(data, "us-east", "no usable id")
        assert bucket.id.startswith(UNNAMED_PREFIX) and bucket.problem
        return
    assert isinstance(bucket.id, str) and all(isinstance(m.id, str) for m in bucket.objects)
    assert bucket.to_summary()["id"] == bucket.id  # summaries stay JSON-able
    json.dumps(bucket.to_summary())


def test_a_listing_with_malformed_buckets_reports_them_and_keeps_the_rest(hook, emulator, caplog):
    page = {
        "content": [GOOD_BUCKET, {**GOOD_BUCKET, "bucketId": 12}, "not a bucket", {**GOOD_BUCKET, "bucketId": "b-2"}],
        "lastPage": True,
    }
    emulator.add_fault(FaultRule(kind="status", route="buckets", status=200, body=json.dumps(page), times=1))
    buckets = list(hook.iter_buckets())
    assert [b.id for b in buckets if b.problem is None] == [GOOD_BUCKET["bucketId"], "b-2"]
    stand_ins = [b for b in buckets if b.id.startswith(UNNAMED_PREFIX)]
    assert len(stand_ins) == 2 and all(b.problem for b in stand_ins)  # reported, not lost


def test_get_bucket_refuses_an_answer_for_another_bucket(hook, emulator):
    other = {**GOOD_BUCKET, "bucketId": "someone-else"}
    emulator.add_fault(FaultRule(kind="status", route="get_bucket", status=200, body=json.dumps(other), times=1))
    with pytest.raises(ApiError, match="with bucket 'someone-else'"):
        hook.get_bucket(GOOD_BUCKET["bucketId"])
