"""Time windows for distributed backfills."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.partition import windows
from airflow_provider_eightbyeight.timeutil import to_epoch_ms


def test_windows_cover_the_period_without_gaps_or_overlaps():
    got = windows("2026-01-01T00:00:00Z", "2026-01-04T12:00:00Z", every="1d")
    assert [w["created_after"] for w in got] == [
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-01-03T00:00:00Z",
        "2026-01-04T00:00:00Z",
    ]
    assert got[-1]["created_before"] == "2026-01-04T12:00:00Z"
    for earlier, later in itertools.pairwise(got):
        assert earlier["created_before"] == later["created_after"]


def test_windows_accept_datetimes_epoch_ms_and_timedeltas():
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    got = windows(start, to_epoch_ms("2026-03-01T03:00:00Z"), every=timedelta(hours=1))
    assert len(got) == 3 and got[1] == {
        "created_after": "2026-03-01T01:00:00Z",
        "created_before": "2026-03-01T02:00:00Z",
    }
    assert len(windows("2026-01-01", "2027-01-01", every="1w")) == 53


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2026-01-02", "2026-01-01", "1d"), "empty"),
        (("2026-01-01", "2026-01-02", "1 fortnight"), "not a window length"),
        (("2026-01-01", "2026-01-02", "0h"), "longer than zero"),
        (("2026-01-01", "2027-01-01", "1m"), "more than 10000"),
        (("yesterday", "2027-01-01", "1d"), "Cannot read"),
    ],
)
def test_bad_windows_name_the_problem(args, message):
    with pytest.raises(ConfigurationError, match=message):
        windows(*args)
