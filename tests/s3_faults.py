"""
Faults moto's S3 server cannot produce, injected on the s3fs client Airflow's ``ObjectStoragePath`` uses.

Botocore event handlers on that client: S3 refusing or not answering ``AbortMultipartUpload``, refusing
``CompleteMultipartUpload`` or ``ListMultipartUploads``; and a record of every key published and every abort
asked. The requests themselves stay real (they reach moto unless refused).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from tests.helpers import BUCKET

#: How long a "hang" lasts: far longer than a bounded abort may take, far shorter than a test timeout.
HANG_SECONDS = 20.0

#: ``plan(upload_id, attempt)`` says what the ``attempt``-th abort of an upload meets (1 for the first):
#: ``None`` (S3 answers), ``"refuse"`` (Access Denied) or ``"hang"`` (no answer for :data:`HANG_SECONDS`).
AbortPlan = Callable[[str, int], str | None]

_EVENTS = (
    ("provide-client-params.s3.PutObject", "_published"),
    ("provide-client-params.s3.CompleteMultipartUpload", "_published"),
    ("provide-client-params.s3.AbortMultipartUpload", "_abort_asked"),
    ("before-call.s3.AbortMultipartUpload", "_abort"),
    ("before-call.s3.CompleteMultipartUpload", "_complete"),
    ("before-call.s3.ListMultipartUploads", "_list"),
)


def refused(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation)


class S3Calls:
    """
    Faults and observations on one aiobotocore S3 client (see the module docs).

    :param client: the s3fs file system's client (``fs.s3``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.plan: AbortPlan | None = None
        self.complete_refused = False
        self.listing_refused = False
        #: Every key a PutObject or CompleteMultipartUpload was sent for, in order.
        self.published: list[str] = []
        #: Every abort asked, by upload id, in order.
        self.aborts: list[str] = []
        #: Aborts refused or left unanswered.
        self.failed_aborts = 0
        self._lock = threading.Lock()
        for event, method in _EVENTS:
            client.meta.events.register(event, getattr(self, method), unique_id=f"s3-faults-{event}")

    def close(self) -> None:
        for event, _ in _EVENTS:
            self.client.meta.events.unregister(event, unique_id=f"s3-faults-{event}")

    def attempts(self, upload_id: str) -> int:
        return self.aborts.count(upload_id)

    def _published(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.published.append(str(params["Key"]))

    def _abort_asked(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.aborts.append(str(params["UploadId"]))
            context["s3-faults"] = (str(params["UploadId"]), self.aborts.count(str(params["UploadId"])))

    async def _abort(self, context: dict[str, Any], **_: Any) -> None:
        upload_id, attempt = context["s3-faults"]
        outcome = self.plan(upload_id, attempt) if self.plan else None
        if outcome is None:
            return
        with self._lock:
            self.failed_aborts += 1
        if outcome == "hang":
            await asyncio.sleep(HANG_SECONDS)
        else:
            raise refused("AbortMultipartUpload")

    def _complete(self, **_: Any) -> None:
        if self.complete_refused:
            raise refused("CompleteMultipartUpload")

    def _list(self, **_: Any) -> None:
        if self.listing_refused:
            raise refused("ListMultipartUploads")


def uploads(client: Any, prefix: str = "") -> list[dict[str, Any]]:
    """The multipart uploads in progress under ``prefix`` (boto3 client on moto)."""
    return client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])


def abort_all(client: Any) -> None:
    for upload in uploads(client):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])


@contextmanager
def s3_calls(client: Any) -> Iterator[S3Calls]:
    """:class:`S3Calls` on the ``aws_moto`` file system; every upload in the bucket aborted before and after."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    calls = S3Calls(ObjectStoragePath(f"s3://aws_moto@{BUCKET}/").fs.s3)
    abort_all(client)
    try:
        yield calls
    finally:
        calls.close()
        abort_all(client)  # other tests count the bucket's uploads


def capture_unraisable(monkeypatch: Any) -> list[str]:
    """Collect what ``__del__`` methods raise (Python prints them as ``Exception ignored in ...``)."""
    import sys

    seen: list[str] = []

    def hook(info: Any) -> None:
        seen.append(f"{info.exc_type.__name__}: {info.exc_value} in {info.object!r}")

    monkeypatch.setattr(sys, "unraisablehook", hook)
    return seen
