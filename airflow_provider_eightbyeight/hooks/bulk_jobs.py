"""
Bulk (zip) downloads: batches, jobs, their status and zips.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlsplit

from airflow_provider_eightbyeight import batching
from airflow_provider_eightbyeight.errors import (
    BulkJobError,
    ConfigurationError,
    InvalidRequestError,
    TransportError,
)
from airflow_provider_eightbyeight.hooks import responses
from airflow_provider_eightbyeight.hooks.client import (
    BULK_LIMIT_BYTES,
    DEFAULT_CHUNK_SIZE,
)
from airflow_provider_eightbyeight.hooks.content import Destination, sink_for
from airflow_provider_eightbyeight.hooks.manage import ManageVerbs
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.models import BulkJob, DownloadResult, StoredObject


class BulkVerbs(ManageVerbs):
    """
    Bulk (zip) downloads: batches, jobs, their status and zips.

    A part of :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`, which is
    how to use it.
    """

    # ------------------------------------------------------------------ bulk (zip) downloads

    @staticmethod
    def plan_bulk_batches(
        objects: Iterable[StoredObject], limit_bytes: int = BULK_LIMIT_BYTES
    ) -> list[list[StoredObject]]:
        """
        Split objects into bulk jobs by the rule of :mod:`~airflow_provider_eightbyeight.batching`: total
        ``storedBytes`` within ``limit_bytes``, at most ``BULK_MAX_OBJECTS`` objects, and never one
        ``objectName`` twice (a zip names its entries by it).

        Keeps the given order: a job is closed when the next object may not join it. Objects of unknown size
        count as ``limit_bytes`` (one job each).

        :raises ConfigurationError: for an object larger than the limit (download it on its own instead).
        """
        return batching.plan(objects, limit_bytes)

    def start_bulk_download(
        self,
        objects: Sequence[str | StoredObject],
        *,
        region: str | None = None,
        limit_bytes: int = BULK_LIMIT_BYTES,
    ) -> list[BulkJob]:
        """
        Start bulk zip downloads for objects, split into jobs under the 2 GB limit by ``storedBytes``.

        :param objects: StoredObjects (their sizes are used as they are) or ids (metadata is read first).
        :return: one job per batch, in order.
        """
        if isinstance(objects, str) or not objects:
            raise ConfigurationError("start_bulk_download needs a non-empty list of object ids")
        name = self.resolve_region(region)
        resolved = [o if isinstance(o, StoredObject) else self.get_object(o, region=name) for o in objects]
        jobs = []
        for batch in self.plan_bulk_batches(resolved, limit_bytes):
            body = self._request_json("POST", name, "bulk/download/start", json=[o.id for o in batch])
            jobs.extend(responses.read_jobs(body, name, "POST", self._url(name, "bulk/download/start"))[:1])
        return jobs

    def get_bulk_job(self, zip_name: str, *, region: str | None = None, presign: bool = False) -> BulkJob:
        """The status of one bulk job (``presign=True`` asks for a pre-signed zip ``url``)."""
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/status/{quote(zip_name, safe='')}"
        body = self._request_json("GET", name, path, params={"presignUrl": "true"} if presign else None)
        jobs = responses.read_jobs(body, name, "GET", self._url(name, path))
        for job in jobs:
            if job.zip_name == zip_name:
                return job
        return jobs[0]

    def list_bulk_jobs(self, *, region: str | None = None) -> list[BulkJob]:
        """Every bulk job of this key in the region."""
        name = self.resolve_region(region)
        body = self._request_json("GET", name, "bulk/download/status")
        return responses.read_jobs(body, name, "GET", self._url(name, "bulk/download/status"), allow_empty=True)

    def wait_for_bulk_job(
        self,
        zip_name: str,
        *,
        region: str | None = None,
        poll_interval: float = 15.0,
        timeout: float = 6 * 3600,
    ) -> BulkJob:
        """
        Poll a bulk job until it finishes.

        :return: the job, DONE or PARTIAL_DONE.
        :raises BulkJobError: when it ends FAILED or CANCELLED, or ``timeout`` seconds pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_bulk_job(zip_name, region=region)
            if job.is_terminal:
                if job.has_zip:
                    return job
                raise BulkJobError(
                    f"Bulk download {zip_name} ended {getattr(job.status, 'value', job.status)}",
                    hint="Start it again, or use the 'objects' strategy",
                )
            if time.monotonic() + poll_interval > deadline:
                raise BulkJobError(
                    f"Bulk download {zip_name} did not finish within {timeout:.0f} s "
                    f"(last status {getattr(job.status, 'value', job.status)})",
                    hint="Raise the timeout, or cancel the job and use the 'objects' strategy",
                )
            time.sleep(poll_interval)

    def download_bulk_zip(
        self,
        zip_name: str,
        dst: Destination,
        *,
        region: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> DownloadResult:
        """
        Stream a finished bulk job's zip to a path or binary file object (atomically for paths).

        :return: the zip's size (``md5`` is ``None``: 8x8 gives no checksum for the zip, so hashing it would
            check nothing; verify the entries against each object's checksum instead).
        """
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/{quote(zip_name, safe='')}"
        url_path = urlsplit(self._url(name, path)).path
        budget = self.retry_policy.budget()
        sink = sink_for(dst)
        attempts = 0
        while True:
            attempts += 1
            size = 0
            try:
                with sink() as out:
                    resp = self._send("GET", name, path, stream=True, budget=budget, accept="application/zip, */*")
                    with resp:
                        if "json" in resp.headers.get("Content-Type", "").lower():
                            body = self._decode_json(resp, "GET", url_path)
                            raise BulkJobError(
                                f"Bulk download {zip_name} has no zip yet",
                                method="GET",
                                path=url_path,
                                server_message=str(body)[:300],
                                hint="Wait until its status is DONE (wait_for_bulk_job)",
                            )
                        for chunk in resp.iter_content(chunk_size):
                            out.write(chunk)
                            size += len(chunk)
                self.stats.add(bytes_downloaded=size)
                return DownloadResult(zip_name, size, None, verified=False, attempts=attempts)
            except responses.TRANSIENT_BODY_ERRORS as err:
                if self._wait_for_retry(budget, "GET", url_path, f"{type(err).__name__} mid-body"):
                    continue
                raise TransportError(
                    f"Downloading bulk zip {zip_name} failed {attempts} times"
                    f"{self._through(self.settings.api_base_url)}: {type(err).__name__}",
                    method="GET",
                    path=url_path,
                ) from None

    def cancel_bulk_job(self, zip_name: str, *, region: str | None = None) -> list[BulkJob]:
        """Cancel a bulk job (PUT, falling back to POST for older API revisions)."""
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/cancel/{quote(zip_name, safe='')}"
        try:
            body = self._request_json("PUT", name, path)
        except InvalidRequestError as err:
            if err.status != 405:
                raise
            body = self._request_json("POST", name, path)
        return responses.read_jobs(body, name, "PUT", self._url(name, path), allow_empty=True)

    def clear_bulk_jobs(self, *, region: str | None = None) -> list[BulkJob]:
        """Clear this key's bulk download task list."""
        name = self.resolve_region(region)
        body = self._request_json("PUT", name, "bulk/download/clear")
        return responses.read_jobs(body, name, "PUT", self._url(name, "bulk/download/clear"), allow_empty=True)
