"""
Writing to any destination Airflow's ``ObjectStoragePath`` reaches, without ever exposing a partial file.

- Local disk: write ``.<name>.<random>.part`` in the same folder, then ``os.replace`` onto the final name.
- Object stores (S3, GCS, ...): write the final key directly; a multipart upload only becomes visible
  when it completes, and on any error the upload is aborted (``discard``) instead of completed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.hooks.local_files import atomic_local_file

#: Upload part size for object stores: the S3 minimum is 5 MiB; s3fs' 50 MiB default costs ~150 MB RSS.
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
LOCAL_PROTOCOLS = frozenset({"file", "local", ""})


def as_storage_path(destination: Any, conn_id: str | None = None) -> Any:
    """
    An ``ObjectStoragePath`` for a URL string or path, keeping a given one as it is.

    :param destination: ``file:///data/8x8/``, ``s3://my-conn@bucket/prefix/``, a local path, or an
        ``ObjectStoragePath``.
    :param conn_id: Optional. Connection for the store, when the URL does not carry one.
    :raises ConfigurationError: for an empty or unusable destination.
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        if conn_id and not destination.conn_id:
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
        raise ConfigurationError(
            f"destination {text!r} cannot be opened: {err}",
            hint="Install the provider for that storage (e.g. apache-airflow-providers-amazon[s3fs] for s3://)",
        ) from None


def is_local(path: Any) -> bool:
    """Whether ``path`` is on this machine's file system."""
    return str(getattr(path, "protocol", "file") or "file") in LOCAL_PROTOCOLS


def local_path(path: Any) -> Path:
    """The OS path of a local ``ObjectStoragePath``."""
    return Path(path.path)


def url_of(path: Any) -> str:
    """A printable URL of a destination path, without credentials."""
    if is_local(path):
        return local_path(path).as_uri()
    text = str(path)
    conn_id = getattr(path, "conn_id", None)
    if conn_id and f"{conn_id}@" in text:
        text = text.replace(f"{conn_id}@", "", 1)
    return text


@contextmanager
def remote_file(path: Any, block_size: int = DEFAULT_BLOCK_SIZE, *, replace: bool = True) -> Iterator[IO[bytes]]:
    """
    Write an object-store key; published only by a clean exit, aborted on an exception.

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
        discard = getattr(handle, "discard", None)
        if callable(discard):
            with suppress(Exception):
                discard()
        with suppress(Exception):
            handle.closed = True  # a plain close() would complete the upload
        raise
    handle.close()


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
