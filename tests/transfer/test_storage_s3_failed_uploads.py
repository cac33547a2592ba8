"""
A failed upload to S3 is never published, and a multipart upload a failed or killed run left is aborted by the
next run (issue 18, point 1). Against moto's S3 server on 127.0.0.1; S3 refusing or not answering an abort is
injected with a botocore event handler on the s3fs client Airflow uses (moto cannot produce it), the rest is real.
"""

from __future__ import annotations

import gc
import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import FaultRule
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.engine import TransferError
from tests.helpers import BUCKET
from tests.s3_faults import HANG_SECONDS, AbortPlan, S3Calls, capture_unraisable, s3_calls, uploads

MIB = 2**20
PREFIX = "failed-uploads"


# ---------------------------------------------------------------------------- helpers


def stored(client: Any, prefix: str) -> dict[str, int]:
    """Objects under ``prefix`` (manifests left out), by key."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            if "/_manifests/" not in item["Key"]:
                found[item["Key"]] = item["Size"]
    return found


PLANS: dict[str, AbortPlan] = {
    "fails once": lambda upload_id, attempt: "refuse" if attempt == 1 else None,
    "refused always": lambda upload_id, attempt: "refuse",
    "hangs": lambda upload_id, attempt: "hang",
}


@pytest.fixture
def calls(s3: Any) -> Iterator[S3Calls]:
    with s3_calls(s3) as observed:
        yield observed


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return capture_unraisable(monkeypatch)


def logged(caplog: Any, capsys: Any) -> str:
    """What was logged: stdlib loggers reach ``caplog``, the task's (structlog) logger prints to stdout."""
    return "\n".join(r.getMessage() for r in caplog.records) + "\n" + capsys.readouterr().out


def big_object(emulator: Any) -> dict[str, Any]:
    """A 12 MiB object (one 8 MiB part, then 4 MiB) whose downloads are corrupted after 10 MiB."""
    big = emulator.add_object("us-east", size=12 * MIB, type="screenrecording")
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[big["id"]], after_bytes=10 * MIB))
    return big


# ---------------------------------------------------------------------------- a failed upload is never published


@pytest.mark.parametrize("fault", ["fails once", "refused always", "hangs"])
def test_a_cut_download_whose_abort_fails_is_never_published(
    make_hook, emulator, s3, calls, unraisable, caplog, monkeypatch, fault
):
    monkeypatch.setattr(storage, "ABORT_TIMEOUT", 0.5)  # per attempt: a hanging abort costs seconds, not hours
    make_hook(max_retries=1)  # two download attempts, two multipart uploads
    big = big_object(emulator)
    calls.plan = PLANS[fault]
    op = EightByEightTransferOperator(
        task_id="big", destination=f"s3://aws_moto@{BUCKET}/{PREFIX}/", object_ids=[big["id"]]
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(TransferError, match="failed verification"):
        op.execute({})
    elapsed = time.monotonic() - started
    gc.collect()  # fsspec's __del__ would complete the upload with the partial bytes
    assert stored(s3, f"{PREFIX}/") == {}
    assert [k for k in calls.published if "/_manifests/" not in k] == []  # not even for a moment
    assert unraisable == []
    assert elapsed < HANG_SECONDS, f"the failed run took {elapsed:.1f}s"
    [first, second] = list(dict.fromkeys(calls.aborts))  # one upload per attempt, each aborted
    left = {u["UploadId"] for u in uploads(s3, f"{PREFIX}/")}
    if fault == "fails once":
        assert calls.aborts == [first, first, second, second]  # refused, then asked again
        assert left == set()
    else:
        assert calls.attempts(first) == calls.attempts(second) == storage.ABORT_ATTEMPTS
        assert left == {first, second}
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "abort" in r.getMessage()]
    assert warned and all(f"s3://{BUCKET}/{PREFIX}/" in text for text in warned), warned
    assert not any("testing" in text for text in warned)  # moto's access key and secret
    # the next run: S3 answers again; it aborts what the failed run left and copies the object to its name
    calls.plan = None
    emulator.clear_faults()
    monkeypatch.setattr(storage, "STALE_UPLOAD_IDLE", timedelta(0))  # moto's parts are seconds old
    summary = op.execute({})
    assert summary["copied"] == 1 and summary["failed"] == 0
    [key] = stored(s3, f"{PREFIX}/")
    assert "~" not in key and key.startswith(f"{PREFIX}/") and key.endswith(big["objectName"].replace(":", "_"))
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == emulator.md5(big["id"])
    assert uploads(s3, f"{PREFIX}/") == []
    assert unraisable == []


def test_a_discarded_upload_prints_no_ignored_exception(make_hook, emulator, s3, calls, unraisable):
    make_hook(max_retries=0)
    big = big_object(emulator)
    op = EightByEightTransferOperator(
        task_id="big", destination=f"s3://aws_moto@{BUCKET}/{PREFIX}/", object_ids=[big["id"]]
    )
    with pytest.raises(TransferError, match="failed verification"):
        op.execute({})
    gc.collect()
    assert unraisable == []
    assert stored(s3, f"{PREFIX}/") == {} and uploads(s3, f"{PREFIX}/") == []


def test_an_upload_s3_refuses_to_complete_is_aborted(make_hook, emulator, s3, calls, unraisable):
    make_hook(max_retries=0)
    big = emulator.add_object("us-east", size=12 * MIB, type="screenrecording")
    calls.complete_refused = True
    summary = EightByEightTransferOperator(
        task_id="big", destination=f"s3://aws_moto@{BUCKET}/{PREFIX}/", object_ids=[big["id"]], fail_on_error=False
    ).execute({})
    gc.collect()
    assert summary["copied"] == 0 and summary["failed"] == 1
    assert stored(s3, f"{PREFIX}/") == {}
    assert uploads(s3, f"{PREFIX}/") == []  # aborted there and then, not left for the next run
    assert len(set(calls.aborts)) == 1
    assert unraisable == []


# ---------------------------------------------------------------------------- any fsspec file


class _Path:
    """The little of an ``ObjectStoragePath`` :func:`storage.remote_file` uses, around an fsspec-like file."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.protocol = "memory"

    def open(self, mode: str, block_size: int) -> Any:
        return self.handle

    def __str__(self) -> str:
        return "memory://bucket/key"


class _File:
    """An fsspec buffered file whose close() commits and whose discard() does what it is told."""

    def __init__(self, discard: Callable[[], None]) -> None:
        self.buffer: io.BytesIO | None = io.BytesIO()
        self.closed = False
        self.committed = False
        self.discards = 0
        self._discard = discard

    def write(self, data: bytes) -> int:
        assert self.buffer is not None
        return self.buffer.write(data)

    def discard(self) -> None:
        self.discards += 1
        self._discard()

    def close(self) -> None:
        if not self.closed:
            self.committed = True
            self.closed = True

    def __del__(self) -> None:
        self.close()


def _raise() -> None:
    raise OSError("the store refused")


@pytest.mark.parametrize(
    ("discard", "asked"),
    [(_raise, "all attempts"), (lambda: time.sleep(HANG_SECONDS), "once")],  # a hung discard cannot be cancelled
    ids=["raises", "hangs"],
)
def test_any_fsspec_file_is_closed_without_commit_when_its_discard_fails(monkeypatch, caplog, discard, asked):
    monkeypatch.setattr(storage, "ABORT_TIMEOUT", 0.3)
    handle = _File(discard)
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(ValueError, match="cut"),
        storage.remote_file(_Path(handle)) as out,
    ):
        out.write(b"partial")
        raise ValueError("cut")
    assert time.monotonic() - started < HANG_SECONDS / 2
    handle.close()
    gc.collect()
    assert not handle.committed
    assert handle.discards == (storage.ABORT_ATTEMPTS if asked == "all attempts" else 1)
    assert any("memory://bucket/key" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


# ---------------------------------------------------------------------------- stale multipart uploads

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("initiated", "last_part", "run_started", "stale"),
    [
        (NOW - 60 * MINUTE, None, NOW, True),  # a killed run's: begun an hour ago, never a part
        (NOW - 60 * MINUTE, NOW - 20 * MINUTE, NOW, True),  # a failed run's: no part for 20 minutes
        (NOW - 60 * MINUTE, NOW - MINUTE, NOW, False),  # a concurrent writer's, a part a minute ago
        (NOW - 2 * MINUTE, None, NOW, False),  # a concurrent writer's first part still on its way
        (NOW - 16 * MINUTE, None, NOW, True),  # idle for more than the 15 minutes
        (NOW - 14 * MINUTE, None, NOW, False),
        (NOW - 60 * MINUTE, NOW + 5 * MINUTE, NOW, False),  # a part "in the future" (clocks disagree): keep
        (NOW + MINUTE, None, NOW, False),  # dated after now (clocks disagree): keep
        (NOW - 30 * MINUTE, None, NOW - 40 * MINUTE, False),  # begun after this run started: not its to abort
        ((NOW - 60 * MINUTE).replace(tzinfo=None), None, NOW, True),  # a naive time is UTC
    ],
)
def test_the_stale_upload_rule(initiated, last_part, run_started, stale):
    assert storage.is_stale_upload(initiated, last_part, run_started=run_started, now=NOW, idle=15 * MINUTE) is stale


def test_a_concurrent_writers_upload_is_not_aborted(make_hook, emulator, s3, calls, caplog, capsys):
    make_hook()
    small = emulator.objects("us-east", states="AVAILABLE")[0]
    part = b"x" * (5 * MIB)
    # a concurrent run under the same prefix, half-way: one part uploaded just now
    busy_key = f"{PREFIX}/other/busy.bin"
    busy = s3.create_multipart_upload(Bucket=BUCKET, Key=busy_key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=busy_key, UploadId=busy, PartNumber=1, Body=part)["ETag"]
    # a killed run's, begun long ago (moto dates every upload 2010) and never given a part
    dead = s3.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/other/dead.bin")["UploadId"]
    # a stale one under another prefix: not this destination's to clean
    elsewhere = s3.create_multipart_upload(Bucket=BUCKET, Key="elsewhere/dead.bin")["UploadId"]
    op = EightByEightTransferOperator(
        task_id="small", destination=f"s3://aws_moto@{BUCKET}/{PREFIX}/", object_ids=[small["id"]]
    )
    with caplog.at_level(logging.INFO):
        summary = op.execute({})
    assert summary["copied"] == 1
    assert {u["UploadId"] for u in uploads(s3)} == {busy, elsewhere}
    assert dead in calls.aborts and busy not in calls.aborts
    assert "Aborted 1 multipart upload(s) left by failed or interrupted runs" in logged(caplog, capsys)
    # the concurrent writer finishes its upload as if nothing happened
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=busy_key,
        UploadId=busy,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=BUCKET, Key=busy_key)["Body"].read() == part


def test_a_failing_clean_up_does_not_fail_the_run(make_hook, emulator, s3, calls, caplog, capsys):
    make_hook()
    small = emulator.objects("us-east", states="AVAILABLE")[0]
    dead = s3.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/dead.bin")["UploadId"]
    calls.listing_refused = True
    with caplog.at_level(logging.WARNING):
        summary = EightByEightTransferOperator(
            task_id="small", destination=f"s3://aws_moto@{BUCKET}/{PREFIX}/", object_ids=[small["id"]]
        ).execute({})
    assert summary["copied"] == 1
    assert [u["UploadId"] for u in uploads(s3)] == [dead]
    assert "Could not look for multipart uploads left by failed runs" in logged(caplog, capsys)


def test_abort_stale_uploads_does_nothing_on_local_disk(tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    log = logging.getLogger("test")
    assert storage.abort_stale_uploads(ObjectStoragePath(tmp_path.as_uri()), log) == 0
