"""Buckets over real HTTP from the emulator: every page, one bucket, its objects as (id, type)."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError, NotFoundError
from airflow_provider_eightbyeight.testing import EmulatorConfig


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
