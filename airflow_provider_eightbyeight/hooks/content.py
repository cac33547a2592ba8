"""
Reading an object's content: presigned URLs and streamed, verified downloads that resume.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import quote, urlsplit

import requests

from airflow_provider_eightbyeight.connection import (
    host_and_port,
)
from airflow_provider_eightbyeight.errors import (
    ApiError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    ObjectNotAvailableError,
    PermissionDeniedError,
    TransportError,
)
from airflow_provider_eightbyeight.hooks import responses
from airflow_provider_eightbyeight.hooks.client import (
    DEFAULT_CHUNK_SIZE,
)
from airflow_provider_eightbyeight.hooks.retry import (
    RetryBudget,
    is_retryable_status,
)
from airflow_provider_eightbyeight.hooks.search import SearchVerbs
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.local_files import atomic_local_file
from airflow_provider_eightbyeight.models import DownloadResult, ObjectState, StoredObject

#: Statuses 8x8 may answer a content request with when the object is not AVAILABLE (contract 13.22).
_REFUSAL_STATUSES = frozenset({400, 403, 404, 405, 409, 410})

#: Where downloaded bytes go: a file path, a binary file object, or a factory of one write target per attempt
#: (a context manager that publishes on a clean exit and discards on an exception).
SinkFactory = Callable[[], AbstractContextManager[IO[bytes]]]
Destination = str | os.PathLike[str] | IO[bytes] | SinkFactory


class ContentVerbs(SearchVerbs):
    """
    Reading an object's content: presigned URLs and streamed, verified downloads that resume.

    A part of :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`, which is
    how to use it.
    """

    # ------------------------------------------------------------------ content

    def get_presigned_url(self, object_id: str, *, region: str | None = None) -> str:
        """
        A pre-signed URL of the object's content (valid about 30 minutes); fetch it without credentials.

        Accepts every answer shape 8x8 may use: ``{"url": ...}``, ``{"presignedUrl": ...}``, a JSON
        string, bare text, or a redirect.
        """
        object_id = _check_id(object_id)
        name = self.resolve_region(region)
        resp = self._send(
            "GET",
            name,
            f"objects/{quote(object_id, safe='')}/content",
            params={"presignUrl": "true"},
            accept="application/json, text/plain",
            allow_redirects=False,
        )
        with resp:
            if resp.is_redirect and resp.headers.get("Location"):
                return str(resp.headers["Location"])
            text = resp.text.strip()
            url: Any = None
            try:
                body = resp.json()
            except ValueError:
                body = None
            if isinstance(body, str):
                url = body
            elif isinstance(body, dict):
                url = body.get("url") or body.get("presignedUrl") or body.get("presignUrl")
            elif text.startswith(("http://", "https://")):
                url = text
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(
                f"8x8 did not return a pre-signed URL for {object_id}",
                method="GET",
                path=urlsplit(resp.url).path,
                server_message=text[:200],
            )
        return url

    def download_object(
        self,
        object_id: str | StoredObject,
        dst: Destination,
        *,
        region: str | None = None,
        verify: bool = True,
        use_presigned_url: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> DownloadResult:
        """
        Stream an object's content to a path or a binary file object, computing its MD5 on the way.

        A path is written under a temporary name in the same folder and renamed only once complete and
        verified: no partial file ever appears under the final name. The size and (for a plain MD5
        checksum) the MD5 are checked against the object's metadata; multipart-style ``<hex>-<n>``
        checksums cannot be checked and are skipped (logged at debug level). A failed or corrupted body
        is downloaded again within the retry budget.

        :param object_id: an id, or a :class:`StoredObject` from a search (saves a metadata request).
        :param dst: a file path, a writable binary file object (seekable to allow retries), or a factory
            of one write target per attempt (a context manager that publishes on a clean exit and
            discards on an exception).
        :param region: Optional. The object's region (a StoredObject's own region wins).
        :param verify: check size and MD5 against the metadata (recommended).
        :param use_presigned_url: fetch the bytes through a pre-signed URL instead of the API.
        :param chunk_size: bytes per read.
        :return: the size and MD5 of what was written.
        :raises ObjectNotAvailableError: when the object is archived or otherwise not AVAILABLE.
        :raises IntegrityError: when every attempt delivered wrong bytes.
        :raises ApiError: when 8x8 described the object with malformed metadata (its ``problem``): such an
            object is never downloaded.
        """
        if isinstance(object_id, StoredObject):
            obj: StoredObject | None = object_id
            oid = object_id.id
            name = self.resolve_region(object_id.region or region)
        else:
            obj = None
            oid = _check_id(object_id)
            name = self.resolve_region(region)
        if verify and obj is None:
            obj = self.get_object(oid, region=name)
        if obj is not None and obj.problem:
            raise ApiError(
                f"Object {oid!r} is not downloaded: {obj.problem}",
                hint="Ask 8x8 support to correct the object's metadata",
            )
        if obj is not None and obj.state and not obj.is_available:
            raise _not_available(obj)
        sink = sink_for(dst)
        return self._download(oid, name, obj if verify else None, sink, use_presigned_url, chunk_size)

    def _download(
        self,
        object_id: str,
        region: str,
        expected: StoredObject | None,
        sink: SinkFactory,
        use_presigned_url: bool,
        chunk_size: int,
    ) -> DownloadResult:
        budget = self.retry_policy.budget()
        path = f"objects/{quote(object_id, safe='')}/content"
        url_path = urlsplit(self._url(region, path)).path
        expected_md5 = expected.md5 if expected else None
        if expected is not None and expected_md5 is None:
            self.log.debug("Object %s has checksum %r, not a plain MD5: size check only.", object_id, expected.checksum)
        attempts = 0
        refused_before = False
        while True:
            attempts += 1
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            try:
                with sink() as out:
                    resp = self._open_content(object_id, region, path, budget, use_presigned_url)
                    with resp:
                        for chunk in resp.iter_content(chunk_size):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                    self.stats.add(bytes_downloaded=size)
                    md5 = digest.hexdigest()
                    if expected is not None:
                        _check_integrity(expected, size, md5, expected_md5, url_path)
                return DownloadResult(
                    object_id=object_id,
                    size=size,
                    md5=md5,
                    verified=expected_md5 is not None,
                    attempts=attempts,
                )
            except (*responses.TRANSIENT_BODY_ERRORS, IntegrityError) as err:
                reason = str(err) if isinstance(err, IntegrityError) else f"{type(err).__name__} mid-body"
                if self._wait_for_retry(budget, "GET", url_path, reason):
                    continue
                if isinstance(err, IntegrityError):
                    raise IntegrityError(
                        f"Object {object_id} failed verification on all {attempts} attempt(s): {err.message}",
                        method="GET",
                        path=url_path,
                        hint="The copy was discarded; re-run later, and contact 8x8 support if it persists",
                    ) from None
                raise TransportError(
                    f"Downloading object {object_id} failed on all {max(attempts, budget.used + 1)} attempts"
                    f"{self._through(self.settings.api_base_url)}: {type(err).__name__}",
                    method="GET",
                    path=url_path,
                    hint="The partial copy was discarded; raise max_retries or timeout for a flaky network",
                ) from None
            except (InvalidRequestError, PermissionDeniedError, NotFoundError, ApiError) as err:
                # 8x8 answers content requests for non-AVAILABLE objects with an undocumented 4xx
                # (400, 403, 404, 405, 409 and 410 are all plausible): ask the object's state.
                if isinstance(err, ApiError) and err.status not in _REFUSAL_STATUSES:
                    raise
                try:
                    current = self._state_after_refusal(object_id, region)
                except NotFoundError as missing:
                    if isinstance(err, NotFoundError):
                        raise err from None
                    raise NotFoundError(
                        f"Object {object_id} is not known in region {region!r} (its content was refused with "
                        f"HTTP {err.status}, and its metadata is not found)",
                        status=missing.status,
                        method="GET",
                        path=url_path,
                        hint="It may have been deleted, or it lives in another region (objects are region-scoped)",
                    ) from err
                if current is not None and not current.is_available:
                    raise _not_available(current) from err
                if (
                    current is not None
                    and not refused_before
                    and self._wait_for_retry(
                        budget, "GET", url_path, f"HTTP {err.status}, refused while the object is {current.state}"
                    )
                ):
                    refused_before = True  # once: its state may have changed back (PENDING, then AVAILABLE)
                    continue
                raise

    def _open_content(
        self, object_id: str, region: str, path: str, budget: RetryBudget, use_presigned_url: bool
    ) -> requests.Response:
        if not use_presigned_url:
            return self._send("GET", region, path, stream=True, budget=budget, accept="*/*")
        url = self.get_presigned_url(object_id, region=region)
        while True:
            self.stats.add(requests=1)
            try:
                resp = self.get_conn().get(url, stream=True, timeout=self._timeout, **self._route_kwargs(url))
            except responses.TRANSIENT_BODY_ERRORS as err:
                self._network_failure(err, url)
                if self._wait_for_retry(budget, "GET", "(pre-signed URL)", type(err).__name__):
                    continue
                raise TransportError(
                    f"The pre-signed URL of object {object_id} could not be fetched from {host_and_port(url)} after "
                    f"{budget.used + 1} attempt(s){self._through(url)}: {type(err).__name__}",
                    method="GET",
                    path="(pre-signed URL)",
                    hint="Check the network path to 8x8's storage host"
                    + (" and the proxy (or NO_PROXY)" if self.network.route(url).via else ""),
                ) from None
            if is_retryable_status(resp.status_code) and self._wait_for_retry(
                budget, "GET", "(pre-signed URL)", f"HTTP {resp.status_code}", resp.headers.get("Retry-After")
            ):
                resp.close()
                continue
            if resp.status_code >= 400:
                resp.close()
                raise ApiError(
                    f"The pre-signed URL of object {object_id} failed",
                    status=resp.status_code,
                    method="GET",
                    path="(pre-signed URL)",
                    hint="Pre-signed URLs expire after about 30 minutes; download again",
                )
            return resp

    def _state_after_refusal(self, object_id: str, region: str) -> StoredObject | None:
        """The object's metadata after 8x8 refused its content, ``None`` if unreadable; NotFoundError if unknown."""
        try:
            return self.get_object(object_id, region=region)
        except NotFoundError:
            raise
        except EightByEightError:
            return None


def _not_available(obj: StoredObject) -> ObjectNotAvailableError:
    hint = (
        "Restore it first (restore_object or EightByEightRestoreObjectsOperator); it takes hours"
        if obj.state == ObjectState.ARCHIVED.value
        else "Only AVAILABLE objects can be downloaded"
    )
    return ObjectNotAvailableError(f"Object {obj.id} is {obj.state}, not AVAILABLE", hint=hint, state=obj.state)


def _check_integrity(expected: StoredObject, size: int, md5: str, expected_md5: str | None, path: str) -> None:
    if expected.size is not None and size != expected.size:
        raise IntegrityError(f"got {size} bytes, 8x8 lists {expected.size}", method="GET", path=path)
    if expected_md5 is not None and md5 != expected_md5:
        raise IntegrityError(f"MD5 {md5} does not match 8x8's checksum {expected_md5}", method="GET", path=path)


def sink_for(dst: Destination) -> SinkFactory:
    """A factory of write targets, one per attempt: atomic temp file for paths, rewind for file objects."""
    if callable(dst) and not hasattr(dst, "write"):
        return dst
    if isinstance(dst, str | os.PathLike):
        target = Path(dst)
        if target.is_dir():
            raise ConfigurationError(f"Destination {str(target)!r} is a directory; give a file path")
        return lambda: atomic_local_file(target)
    if not hasattr(dst, "write"):
        raise ConfigurationError(
            f"Destination must be a path or a writable binary file object, got {type(dst).__name__}"
        )
    handle = cast("IO[bytes]", dst)
    return lambda: _rewinding(handle)


@contextmanager
def _rewinding(handle: IO[bytes]) -> Iterator[IO[bytes]]:
    try:
        start = handle.tell() if handle.seekable() else None
    except (OSError, ValueError):
        start = None
    try:
        yield handle
    except (*responses.TRANSIENT_BODY_ERRORS, IntegrityError):
        if start is None:
            raise ConfigurationError(
                "The download failed mid-body and the destination file object cannot be rewound to retry",
                hint="Pass a file path or a seekable file object",
            ) from None
        handle.seek(start)
        handle.truncate()
        raise
