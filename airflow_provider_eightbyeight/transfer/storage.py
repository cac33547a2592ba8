"""
Writing to any destination Airflow's ``ObjectStoragePath`` reaches, without ever exposing a partial file.

- Local disk: write ``.<name>.<random>.part`` in the same folder, then give it the final name with ``os.link``
  (refused when another writer took the name meanwhile; ``os.replace`` only where the run may replace the copy,
  see :mod:`..local_files`).
- Object stores (S3, GCS, ...): write the final key directly; a multipart upload only becomes visible
  when it completes, and on any error the upload is aborted (``discard``) instead of completed. The fsspec
  file is then marked closed whatever the abort did (raised, was refused, did not answer in time), so
  nothing, not even its ``__del__``, can complete it later with the partial bytes.
- A multipart upload a failed abort or a killed process left behind is aborted by the next run to the same
  S3 prefix (:func:`abort_stale_uploads`, by the rule of :func:`is_stale_upload`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.local_files import atomic_local_file

#: Upload part size for object stores: the S3 minimum is 5 MiB; s3fs' 50 MiB default costs ~150 MB RSS.
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
LOCAL_PROTOCOLS = frozenset({"file", "local", ""})
#: A failed upload's abort is asked up to this many times, each attempt given this many seconds: a store that
#: refuses or does not answer costs at most about ``ABORT_ATTEMPTS * ABORT_TIMEOUT`` seconds, never the task.
ABORT_ATTEMPTS = 3
ABORT_TIMEOUT = 10.0
#: A multipart upload begun before this run started and given no part for this long was left by a failed
#: or killed run (see :func:`is_stale_upload`); a writer sends an 8 MiB part far more often than this.
STALE_UPLOAD_IDLE = timedelta(minutes=15)
#: Seconds each request of the stale-upload clean-up may take, and the whole clean-up.
CLEANUP_TIMEOUT = 20.0
CLEANUP_DEADLINE = 120.0
_MAX_PAGES = 100  # of 1,000 uploads (or parts) each
_log = logging.getLogger(__name__)


def as_storage_path(destination: Any, conn_id: str | None = None) -> Any:
    """
    An ``ObjectStoragePath`` for a URL string or path, keeping a given one as it is.

    :param destination: ``file:///data/8x8/``, ``s3://my-conn@bucket/prefix/``, a local path, or an
        ``ObjectStoragePath``.
    :param conn_id: Optional. Connection for the store, when the URL does not carry one.
    :raises ConfigurationError: for an empty or unusable destination.
    """
    from airflow_provider_eightbyeight.compat import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        if conn_id and not conn_id_of(destination):
            return ObjectStoragePath(str(destination), conn_id=conn_id)
        return destination
    if isinstance(destination, os.PathLike):
        destination = os.fspath(destination)
    if not isinstance(destination, str) or not destination.strip():
        raise ConfigurationError(
            f"destination must be a URL such as 'file:///data/8x8/' or 's3://conn@bucket/prefix/', got {destination!r}"
        )
    text = destination.strip()
    if "://" not in text:
        if not os.path.isabs(text):
            raise ConfigurationError(
                f"destination {text!r} is a relative path; use an absolute path or a URL such as file:///data/8x8/"
            )
        text = Path(text).as_uri()
    try:
        return ObjectStoragePath(text, conn_id=conn_id) if conn_id else ObjectStoragePath(text)
    except Exception as err:  # an unknown protocol, a missing provider (e.g. s3 without the amazon extra)
        hint = "Install the provider for that storage (e.g. apache-airflow-providers-amazon[s3fs] for s3://)"
        if "incompatible with ObjectStoragePath" in str(err):  # Airflow 3.0 with universal-pathlib 0.3+
            hint = (
                "This Airflow's ObjectStoragePath does not work with the installed universal-pathlib: install "
                "universal-pathlib<0.3 (Airflow 3.0's constraints pin 0.2.6)"
            )
        raise ConfigurationError(f"destination {text!r} cannot be opened: {err}", hint=hint) from None


def is_local(path: Any) -> bool:
    """Whether ``path`` is on this machine's file system."""
    return str(getattr(path, "protocol", "file") or "file") in LOCAL_PROTOCOLS


def local_path(path: Any) -> Path:
    """The OS path of a local ``ObjectStoragePath``."""
    return Path(path.path)


def conn_id_of(path: Any) -> str | None:
    """
    The connection of an ``ObjectStoragePath`` (an attribute up to Airflow 3.0 and from 3.2; Airflow 3.1 with
    universal-pathlib 0.3 keeps it only in ``storage_options``).
    """
    conn_id = getattr(path, "conn_id", None) or (getattr(path, "storage_options", None) or {}).get("conn_id")
    return conn_id if isinstance(conn_id, str) and conn_id else None


def url_of(path: Any) -> str:
    """A printable URL of a destination path, without credentials (nor the connection id some Airflows show)."""
    if is_local(path):
        return local_path(path).as_uri()
    text = str(path)
    conn_id = conn_id_of(path)
    if conn_id and f"{conn_id}@" in text:
        text = text.replace(f"{conn_id}@", "", 1)
    return text


@contextmanager
def remote_file(path: Any, block_size: int = DEFAULT_BLOCK_SIZE, *, replace: bool = True) -> Iterator[IO[bytes]]:
    """
    Write an object-store key; published only by a clean exit, aborted on an exception (see
    :func:`discard_upload`), also when completing the upload fails.

    :param path: the key's ``ObjectStoragePath``.
    :param block_size: the upload's part size.
    :param replace: when ``False``, the key is looked up afresh just before the upload completes and the
        upload is aborted with :class:`FileExistsError` if another writer published it meanwhile (object
        stores offer no atomic create-if-absent here, so a window of one request remains).
    """
    handle = path.open("wb", block_size=block_size)
    try:
        yield handle
        if not replace and _exists_now(path):
            raise FileExistsError(f"{url_of(path)} was published by another writer meanwhile")
    except BaseException:
        discard_upload(handle, url_of(path))
        raise
    try:
        handle.close()  # completes the upload
    except BaseException:  # e.g. CompleteMultipartUpload refused: abort what it left instead
        discard_upload(handle, url_of(path))
        raise


def discard_upload(handle: Any, url: str) -> bool:
    """
    Throw away a write handle's upload so that it can never complete, whatever the store answers.

    The upload is aborted (S3: ``AbortMultipartUpload``; other fsspec files: ``discard()``), retried up to
    :data:`ABORT_ATTEMPTS` times with :data:`ABORT_TIMEOUT` seconds each, and failures are logged as warnings
    naming the key. Then the fsspec file is marked closed without its buffer: ``close()``, ``flush()`` and the
    garbage collector's ``__del__`` find nothing to commit. An upload S3 did not abort stays invisible (a
    multipart upload is no object until completed) until :func:`abort_stale_uploads` or a lifecycle rule
    removes it.

    :param handle: what ``ObjectStoragePath.open`` returned (Airflow's tracking wrapper) or an fsspec file.
    :param url: the key's printable URL (:func:`url_of`), for the log.
    :return: whether the upload was aborted (or there was nothing to abort).
    """
    inner = getattr(handle, "_obj", handle)  # ObjectStoragePath.open wraps the fsspec file for lineage
    try:
        return _abort(inner, url)
    finally:
        _close_uncommitted(inner)


def _abort(inner: Any, url: str) -> bool:
    upload = getattr(inner, "mpu", None)
    fs: Any = getattr(inner, "fs", None)
    if hasattr(inner, "mpu") and callable(getattr(fs, "abort_mpu", None)):  # s3fs' S3File
        if not isinstance(upload, dict) or not upload.get("UploadId"):
            return True  # still in memory: no multipart upload begun (a small file is one PUT at close)
        upload_id = str(upload["UploadId"])

        def abort() -> None:  # s3fs cancels the request when the timeout passes
            fs.abort_mpu(inner.bucket, inner.key, upload_id, timeout=ABORT_TIMEOUT)

        done = _retried(abort, f"multipart upload {upload_id} of {url}", retry_timeouts=True)
        if done:
            inner.mpu = None
        return done
    discard = getattr(inner, "discard", None)
    if not callable(discard):
        return True
    # a hung discard() runs on in its thread; asking again beside it could only make things worse
    return _retried(lambda: _within(ABORT_TIMEOUT, discard), f"upload of {url}", retry_timeouts=False)


def _retried(call: Callable[[], None], what: str, *, retry_timeouts: bool) -> bool:
    """Call ``call`` up to :data:`ABORT_ATTEMPTS` times; whether it succeeded."""
    for attempt in range(1, ABORT_ATTEMPTS + 1):
        try:
            call()
        except Exception as err:
            timed_out = isinstance(err, TimeoutError)  # fsspec's FSTimeoutError is one
            reason = f"no answer within {ABORT_TIMEOUT:g} s" if timed_out and not str(err) else describe_error(err)
            last = attempt == ABORT_ATTEMPTS or (timed_out and not retry_timeouts)
            _log.warning(
                "Could not abort the %s (attempt %d of %d): %s%s",
                what,
                attempt,
                ABORT_ATTEMPTS,
                reason,
                "" if last else "; asking again.",
            )
            if last:
                break
            time.sleep(0.2 * attempt)
        else:
            if attempt > 1:
                _log.info("Aborted the %s on attempt %d.", what, attempt)
            return True
    _log.warning(
        "The %s was not aborted. It was closed without completing, so nothing was published under that name; "
        "the next run to this destination aborts it (an S3 lifecycle rule AbortIncompleteMultipartUpload is "
        "the backstop).",
        what,
    )
    return False


def _within(seconds: float, call: Callable[[], Any]) -> None:
    """Run ``call`` in a daemon thread; :class:`TimeoutError` if it has not returned after ``seconds``."""
    finished = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as err:  # handed to the caller
            failure.append(err)
        finally:
            finished.set()

    threading.Thread(target=run, name="8x8-abort", daemon=True).start()
    if not finished.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if failure:
        raise failure[0]


def _close_uncommitted(inner: Any) -> None:
    """Mark an fsspec file closed with nothing to flush: no later ``close()`` or ``__del__`` commits it."""
    for name, value in (("buffer", None), ("forced", True), ("closed", True)):
        if name == "buffer" and not hasattr(inner, "buffer"):
            continue
        with suppress(Exception):  # ``closed`` is read-only on plain io objects
            setattr(inner, name, value)


def describe_error(err: BaseException) -> str:
    """A short, single-line description of an error for a log line (type and message, at most 300 chars)."""
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text[:300]}"


def _exists_now(path: Any) -> bool:
    """Whether a key exists, asking the store (not a cached listing)."""
    with suppress(Exception):
        path.fs.invalidate_cache(path.path)
    return bool(path.fs.exists(path.path))


def sink_factory(path: Any, block_size: int = DEFAULT_BLOCK_SIZE, *, replace: bool = True) -> Any:
    """
    A factory of write targets for the hook's download (one per attempt).

    :param replace: replace a file already at ``path``. When ``False``, a local file is published only if
        the name is still free (:class:`FileExistsError` otherwise); object stores have no such atomic
        check, so there the caller's listing is the only guard.
    """
    if is_local(path):
        target = local_path(path)
        return lambda: atomic_local_file(target, replace=replace)
    return lambda: remote_file(path, block_size, replace=replace)


class DestinationRoot:
    """
    A destination root and the per-object paths under it, cheap on local disk.

    ``ObjectStoragePath`` arithmetic costs tens of microseconds per join; on local disk the OS path and the
    URL of an object are derived from the root's OS path instead, and the ``ObjectStoragePath`` of an
    object is only made when asked for.

    :param path: the root ``ObjectStoragePath``.
    """

    def __init__(self, path: Any) -> None:
        self.path = path
        self.local: Path | None = local_path(path) if is_local(path) else None

    def target(self, relative: str) -> Any:
        """The ``ObjectStoragePath`` of ``relative`` under the root."""
        return self.path / relative

    def url(self, relative: str) -> str:
        """A printable URL of ``relative`` under the root (see :func:`url_of`)."""
        if self.local is not None:
            return (self.local / relative).as_uri()
        return url_of(self.path / relative)

    def sink_factory(self, relative: str, block_size: int = DEFAULT_BLOCK_SIZE, *, replace: bool = True) -> Any:
        """:func:`sink_factory` of ``relative`` under the root."""
        if self.local is not None:
            target = self.local / relative
            return lambda: atomic_local_file(target, replace=replace)
        return sink_factory(self.path / relative, block_size, replace=replace)


def write_bytes_atomically(path: Any, data: bytes, *, replace: bool = True) -> None:
    """Write a small file (sidecar, manifest) so it appears whole or not at all (see :func:`sink_factory`)."""
    with sink_factory(path, replace=replace)() as handle:
        handle.write(data)


def folder_sizes(folder: Any) -> dict[str, int]:
    """
    Sizes of the files directly in ``folder`` by name: one ``scandir`` on local disk, one listing on an
    object store (instead of a request per file). An absent folder gives an empty dict.
    """
    try:
        if is_local(folder):
            return _local_sizes(local_path(folder))
        listed = folder.fs.ls(folder.path, detail=True, refresh=True)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    sizes = {}
    for entry in listed:
        if entry.get("type") == "file":
            sizes[str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]] = int(entry.get("size") or 0)
    return sizes


def _local_sizes(folder: Path) -> dict[str, int]:
    sizes = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            try:  # another writer's temporary file may be renamed or removed while we list
                if entry.is_file(follow_symlinks=False):
                    sizes[entry.name] = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return sizes


def md5_of(path: Any, chunk_size: int = 1024 * 1024) -> str:
    """The MD5 of a stored file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    opener = local_path(path).open if is_local(path) else path.open
    with opener("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_text(path: Any) -> str | None:
    """The text of a small file, or ``None`` if it does not exist."""
    try:
        if is_local(path):
            return local_path(path).read_text(encoding="utf-8")
        if not path.exists():
            return None
        with path.open("r", encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def file_size(path: Any) -> int | None:
    """The size of one stored file, or ``None`` if there is none (one request on an object store)."""
    try:
        if is_local(path):
            found = local_path(path).lstat()
            return found.st_size if stat.S_ISREG(found.st_mode) else None
        with suppress(Exception):
            path.fs.invalidate_cache(path.path)
        info = path.fs.info(path.path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(info.get("size") or 0) if info.get("type") == "file" else None


# ---------------------------------------------------------------------------- multipart uploads left behind


def is_stale_upload(
    initiated: datetime,
    last_part: datetime | None,
    *,
    run_started: datetime,
    now: datetime,
    idle: timedelta = STALE_UPLOAD_IDLE,
) -> bool:
    """
    Whether a multipart upload in progress was left by a failed or killed writer (and may be aborted).

    Stale when it was begun before this run started and has had no activity (its start, or its latest part)
    for ``idle`` or longer. A concurrent writer's upload is kept: it sends a part every few seconds, and its
    first part is on its way within moments of the start. Times in the future (clocks disagreeing) count as
    activity now. Naive times are UTC.

    :param initiated: when the upload was begun (``ListMultipartUploads``' ``Initiated``).
    :param last_part: the latest ``LastModified`` of its parts (``ListParts``), ``None`` when it has none.
    :param run_started: when the run that cleans up started (by the store's clock when known).
    :param now: the time now (by the store's clock when known).
    :param idle: how long without activity makes an upload stale.
    """
    initiated, run_started, now = _utc(initiated), _utc(run_started), _utc(now)
    if initiated >= run_started:
        return False
    latest = initiated if last_part is None else max(initiated, _utc(last_part))
    return now - latest >= idle


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def abort_stale_uploads(root: Any, log: Any, *, idle: timedelta | None = None) -> int:
    """
    Abort the multipart uploads under an S3 destination that failed or killed runs left behind.

    Lists the uploads in progress under the destination's prefix, reads each one's parts, and aborts those
    :func:`is_stale_upload` calls stale (this call's start is the run's start; times are S3's own clock, from
    its ``Date`` header). Bounded: :data:`CLEANUP_TIMEOUT` seconds a request, :data:`CLEANUP_DEADLINE` in all.
    Other stores: nothing to do. Failures are logged as warnings and never raised: the clean-up must not fail
    a run.

    :param root: the destination root (an ``ObjectStoragePath``).
    :param log: where to log what was aborted and what failed.
    :param idle: Optional. Inactivity that makes an upload stale; :data:`STALE_UPLOAD_IDLE` by default.
    :return: how many uploads were aborted.
    """
    fs = getattr(root, "fs", None) if not is_local(root) else None
    if not callable(getattr(fs, "call_s3", None)) or not callable(getattr(fs, "split_path", None)):
        return 0
    try:
        return _abort_stale(fs, root, log, STALE_UPLOAD_IDLE if idle is None else idle)
    except Exception as err:
        log.warning(
            "Could not look for multipart uploads left by failed runs under %s (%s); they cost storage until "
            "aborted: a later run tries again, and an S3 lifecycle rule AbortIncompleteMultipartUpload is the "
            "backstop.",
            url_of(root),
            describe_error(err),
        )
        return 0


def _abort_stale(fs: Any, root: Any, log: Any, idle: timedelta) -> int:
    bucket, key, _ = fs.split_path(str(root.path))
    prefix = f"{key.strip('/')}/" if key.strip("/") else ""
    deadline = time.monotonic() + CLEANUP_DEADLINE
    run_started: datetime | None = None
    aborted, failures, stopped = 0, [], False
    markers: dict[str, str] = {}
    for _ in range(_MAX_PAGES):
        page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, timeout=CLEANUP_TIMEOUT, **markers)
        now = _store_time(page)
        run_started = run_started or now
        for upload in page.get("Uploads") or []:
            if time.monotonic() > deadline:
                failures.append(f"the rest not looked at: the clean-up stops after {CLEANUP_DEADLINE:g} s")
                stopped = True
                break
            upload_key, upload_id = str(upload["Key"]), str(upload["UploadId"])
            try:
                last_part = _last_part(fs, bucket, upload_key, upload_id)
                if not is_stale_upload(upload["Initiated"], last_part, run_started=run_started, now=now, idle=idle):
                    continue
                fs.call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=upload_key, UploadId=upload_id, timeout=CLEANUP_TIMEOUT
                )
                aborted += 1
            except FileNotFoundError:  # completed or aborted by its writer meanwhile
                continue
            except Exception as err:
                failures.append(f"{upload_key}: {describe_error(err)}")
        if stopped or not page.get("IsTruncated"):
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    where = url_of(root)
    if aborted:
        log.info("Aborted %d multipart upload(s) left by failed or interrupted runs under %s.", aborted, where)
    if failures:
        log.warning(
            "Could not clean up %d multipart upload(s) left under %s (a later run tries again): %s",
            len(failures),
            where,
            "; ".join(failures[:5]),
        )
    return aborted


def _last_part(fs: Any, bucket: str, key: str, upload_id: str) -> datetime | None:
    """The latest ``LastModified`` of an upload's parts, ``None`` when it has none."""
    latest: datetime | None = None
    marker: dict[str, Any] = {}
    for _ in range(_MAX_PAGES):
        page = fs.call_s3("list_parts", Bucket=bucket, Key=key, UploadId=upload_id, timeout=CLEANUP_TIMEOUT, **marker)
        for part in page.get("Parts") or []:
            moment = _utc(part["LastModified"])
            latest = moment if latest is None else max(latest, moment)
        if not page.get("IsTruncated"):
            break
        marker = {"PartNumberMarker": page["NextPartNumberMarker"]}
    return latest


def _store_time(response: dict[str, Any]) -> datetime:
    """The store's clock from a response's ``Date`` header (S3's times are compared with it), else ours."""
    with suppress(Exception):
        return _utc(parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"]))
    return datetime.now(timezone.utc)
