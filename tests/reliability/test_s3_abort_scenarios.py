"""
Full transfers to S3 (520+ objects) whose failed uploads S3 will not abort: refused, or not answered.

Large objects' downloads are cut after their first 8 MiB part went up (a multipart upload begun), small ones'
bodies truncated; of the uploads to abort, one in three meets an abort that always fails, one in three fails
once, the rest are aborted at once. After the run: every object present exactly once with the right bytes
(no failed upload was ever published, not even by the garbage collector), the uploads left in progress are
exactly those whose aborts all failed, and no ``Exception ignored`` was printed. The next run aborts those
and copies nothing. Failed aborts are counted in the reliability figures line.
"""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter
from datetime import timedelta

import pytest

from airflow_provider_eightbyeight.testing import FaultRule
from airflow_provider_eightbyeight.transfer import storage
from tests.helpers import FAST_RETRY_EXTRAS
from tests.reliability.checks import FIGURES, account_faults, verify
from tests.reliability.test_fault_scenarios import RETRY_KINDS, expected_ids, s3_destination, transfer
from tests.s3_faults import capture_unraisable, s3_calls, uploads

FIGURES.setdefault("failed S3 aborts", 0)

MIB = 2**20
LARGE = 4


@pytest.mark.parametrize("failure", ["refuse", "hang"])
def test_failed_s3_aborts_publish_nothing_and_the_next_run_cleans_up(make_hook, emulator, s3, monkeypatch, failure):
    monkeypatch.setattr(storage, "ABORT_TIMEOUT", 0.3)  # per attempt: a hung abort costs a second, not the task
    unraisable = capture_unraisable(monkeypatch)
    hook = make_hook(max_retries=10, timeout=2.0, **FAST_RETRY_EXTRAS)
    prefix = f"aborts-{failure}/"
    large = {emulator.add_object("us-east", size=12 * MIB, type="screenrecording")["id"] for _ in range(LARGE)}
    expected = expected_ids(emulator)
    emulator.add_fault(
        FaultRule(kind="corrupt", route="content", object_ids=sorted(large), after_bytes=10 * MIB, times=2 * LARGE)
    )
    small = sorted(expected - large)
    emulator.add_fault(
        FaultRule(kind="truncate", route="content", object_ids=small, probability=0.1, times=20, after_bytes=500)
    )
    dest = s3_destination(s3, prefix)
    with s3_calls(s3) as calls:
        order: list[str] = []  # uploads by their first abort

        def plan(upload_id: str, attempt: int) -> str | None:
            if upload_id not in order:
                order.append(upload_id)
            kind = order.index(upload_id) % 3
            return failure if kind == 0 or (kind == 1 and attempt == 1) else None

        calls.plan = plan
        summary = transfer(hook, dest, "objects")
        gc.collect()  # fsspec's __del__ would have completed a failed upload with its partial bytes
        abandoned = {u for u in order if calls.attempts(u) == storage.ABORT_ATTEMPTS and order.index(u) % 3 == 0}
        left = {u["UploadId"] for u in uploads(s3, prefix)}
        assert order and left == abandoned
        verify(emulator, dataclasses.replace(dest, leftovers=list), summary, expected)  # uploads checked above
        account_faults(emulator, summary, retry_kinds=RETRY_KINDS)
        FIGURES["failed S3 aborts"] += calls.failed_aborts
        assert calls.failed_aborts >= len(abandoned) * storage.ABORT_ATTEMPTS > 0
        published = Counter(calls.published)
        assert all(published[path] == 1 for path in (f"{prefix}{p}" for p, _ in _large_files(dest, large)))
        assert unraisable == []
        # the next run: S3 answers; it aborts what the failed aborts left, and has nothing to copy
        calls.plan = None
        emulator.clear_faults()
        monkeypatch.setattr(storage, "STALE_UPLOAD_IDLE", timedelta(0))  # moto's parts are seconds old
        again = transfer(hook, dest, "objects")
        verify(emulator, dest, again, expected)  # this time with no upload left in progress
        assert again.copied == 0 and again.skipped == len(expected)
        assert abandoned <= set(calls.aborts[-len(abandoned) :])
        assert unraisable == []


def _large_files(dest, large: set[str]) -> list[tuple[str, bytes]]:
    return [entry for object_id, entries in dest.files().items() if object_id in large for entry in entries]
