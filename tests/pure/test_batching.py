"""The one batching rule of bulk jobs: bytes, objects and unique entry names."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_eightbyeight import batching
from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.models import StoredObject


def obj(i: int, name: str | None = None, size: int | None = 10) -> StoredObject:
    return StoredObject(id=f"id{i}", name=name, size=size)


@pytest.mark.parametrize(
    ("batch_has", "candidate", "takes"),
    [
        ([], obj(1, "a"), True),
        ([obj(1, "a")], obj(2, "a"), False),  # one name twice in a zip
        ([obj(1, "a")], obj(2, "b"), True),
        ([obj(1, None)], obj(1, None), False),  # no name: the id names the entry
        ([obj(1, "a", 60)], obj(2, "b", 40), True),  # exactly the limit
        ([obj(1, "a", 60)], obj(2, "b", 41), False),
        ([obj(1, "a", 1)], obj(2, "b", None), False),  # unknown size counts as the whole limit
        ([], obj(2, "b", None), True),
        ([obj(i, f"n{i}", 0) for i in range(3)], obj(9, "z", 0), False),  # max_objects=3
    ],
)
def test_what_may_join_a_job(batch_has, candidate, takes):
    batch: batching.Batch[StoredObject] = batching.Batch(limit=100, max_objects=3)
    for o in batch_has:
        batch.add(o, o)
    assert batch.takes(candidate) is takes


def test_a_job_is_full_at_its_object_count_or_byte_limit():
    by_count: batching.Batch[StoredObject] = batching.Batch(limit=100, max_objects=2)
    by_count.add(obj(1, "a", 1), obj(1, "a", 1))
    assert not by_count.full
    by_count.add(obj(2, "b", 1), obj(2, "b", 1))
    assert by_count.full
    by_bytes: batching.Batch[StoredObject] = batching.Batch(limit=100, max_objects=10)
    by_bytes.add(obj(1, "a", None), obj(1, "a", None))
    assert by_bytes.full and by_bytes.bytes == 100


def test_an_object_larger_than_a_job_is_refused_by_name():
    with pytest.raises(ConfigurationError, match=r"Object big .* exceeds the 100 byte bulk download limit"):
        batching.plan([StoredObject(id="big", size=101)], 100)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.one_of(st.none(), st.integers(0, 100))),
        max_size=40,
    )
)
def test_a_plan_keeps_every_object_in_order_and_every_job_within_the_rule(specs):
    objects = [obj(i, name, size) for i, (name, size) in enumerate(specs)]
    jobs = batching.plan(objects, 100)
    assert [o.id for job in jobs for o in job] == [o.id for o in objects]
    for job in jobs:
        assert job and len(job) <= batching.BULK_MAX_OBJECTS
        assert len({batching.entry_name(o) for o in job}) == len(job)
        assert sum(batching.job_bytes(o, 100) for o in job) <= 100
    for before, after in itertools.pairwise(jobs):  # a job is closed only when the next object may not join it
        batch: batching.Batch[StoredObject] = batching.Batch(100)
        for o in before:
            batch.add(o, o)
        assert not batch.takes(after[0])


def test_filling_is_first_fit_per_group_and_keeps_few_jobs_open():
    filling: batching.Filling[str] = batching.Filling(limit=100, max_objects=3, max_filling=2)
    assert filling.add("us", "a1", obj(1, "a", 10)) is None
    assert filling.add("us", "a2", obj(2, "a", 10)) is None  # the name is taken: a second job
    assert filling.add("uk", "a3", obj(3, "a", 10)) is None  # another region: its own jobs
    assert filling.add("us", "b4", obj(4, "b", 10)) is None  # first fit: the first job
    assert filling.add("us", "c5", obj(5, "c", 10)) == ["a1", "b4", "c5"]  # full at 3 objects: start it
    assert filling.add("us", "a6", obj(6, "a", 10)) is None  # "a" is in the open job: another one
    assert filling.add("us", "a7", obj(7, "a", 10)) == ["a2"]  # a third open job: the oldest starts
    assert sorted(filling.drain()) == [("uk", ["a3"]), ("us", ["a6"]), ("us", ["a7"])]
    assert list(filling.drain()) == []
