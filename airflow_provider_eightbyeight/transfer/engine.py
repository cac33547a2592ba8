"""
Copy 8x8 objects to a destination: plan, concurrent streaming copy, verification, manifest.

Guarantees:

- every copied object is verified (size, and MD5 when 8x8 gives a plain MD5) before it becomes visible
  under its final name (see :mod:`.storage`);
- a re-run skips objects already present with the same size and MD5 and copies the rest;
- objects are deleted at 8x8 only when this run verified their copy;
- every object ends up in the run's manifest as copied, skipped or failed, with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_eightbyeight.errors import (
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    PermissionDeniedError,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.hooks.local_files import remove_stale_parts
from airflow_provider_eightbyeight.models import BulkJob, StoredObject
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.manifest import (
    SIDECAR_SUFFIX,
    ManifestRecord,
    Status,
    manifest_name,
    verified_copies,
    write_manifest,
)
from airflow_provider_eightbyeight.transfer.paths import (
    DEFAULT_PATH_TEMPLATE,
    disambiguate,
    render_path,
    validate_template,
)

_R = TypeVar("_R")
STRATEGIES = ("objects", "bulk", "auto")
ON_ARCHIVED = ("skip", "fail", "restore")
#: "auto" picks bulk zips for at least this many objects of at most this average size.
AUTO_BULK_MIN_OBJECTS = 50
AUTO_BULK_MAX_AVERAGE_BYTES = 2 * 1024 * 1024
#: Errors after which no other object can succeed either: stop at once.
FATAL_ERRORS = (AuthenticationError, PermissionDeniedError, ConfigurationError)


class TransferError(EightByEightError):
    """Some objects could not be copied (listed in the message); everything else was."""


@dataclass(frozen=True)
class TransferOptions:
    """
    How to copy.

    :param path_template: where each object lands under the destination (see :mod:`.paths`).
    :param max_workers: objects copied at the same time.
    :param overwrite: copy even objects already present and verified.
    :param write_metadata: write ``<file>.json`` beside each object with its 8x8 metadata.
    :param block_size: upload part size for object stores.
    :param chunk_size: bytes per read from 8x8.
    :param progress_interval: seconds between progress lines in the log.
    """

    path_template: str = DEFAULT_PATH_TEMPLATE
    max_workers: int = 8
    overwrite: bool = False
    write_metadata: bool = False
    block_size: int = storage.DEFAULT_BLOCK_SIZE
    chunk_size: int = 1024 * 1024
    progress_interval: float = 10.0

    def __post_init__(self) -> None:
        validate_template(self.path_template)
        if (
            isinstance(self.max_workers, bool)
            or not isinstance(self.max_workers, int)
            or not 1 <= self.max_workers <= 64
        ):
            raise ConfigurationError(f"max_workers must be a whole number from 1 to 64, got {self.max_workers!r}")
        if self.block_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"block_size must be at least 5 MiB (the S3 part minimum), got {self.block_size}")


@dataclass
class PlannedObject:
    """One object and where it goes."""

    obj: StoredObject
    relative_path: str
    target: Any

    @property
    def sidecar(self) -> Any:
        """The metadata sidecar's path."""
        return self.target.parent / (self.target.name + SIDECAR_SUFFIX)


@dataclass
class TransferSummary:
    """What a run did; :meth:`as_dict` is JSON-serialisable for XCom."""

    destination: str
    strategy: str
    copied: int = 0
    skipped: int = 0
    archived: int = 0
    failed: int = 0
    deleted: int = 0
    not_deleted: int = 0
    bytes_copied: int = 0
    retries: int = 0
    requests: int = 0
    seconds: float = 0.0
    manifest: str | None = None
    failures: dict[str, str] = field(default_factory=dict)
    delete_failures: dict[str, str] = field(default_factory=dict)
    records: list[ManifestRecord] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Counts, bytes, manifest path and failures (first 100) as plain JSON values."""
        return {
            "destination": self.destination,
            "strategy": self.strategy,
            "copied": self.copied,
            "skipped": self.skipped,
            "archived": self.archived,
            "failed": self.failed,
            "deleted": self.deleted,
            "not_deleted": self.not_deleted,
            "bytes_copied": self.bytes_copied,
            "retries": self.retries,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "manifest": self.manifest,
            "failures": dict(list(self.failures.items())[:100]),
            "delete_failures": dict(list(self.delete_failures.items())[:100]),
        }


class _Progress:
    """Objects and bytes done of total, logged at most every ``interval`` seconds."""

    def __init__(self, log: logging.Logger, total_objects: int, total_bytes: int, interval: float) -> None:
        self.log = log
        self.total_objects = total_objects
        self.total_bytes = total_bytes
        self.interval = interval
        self.objects = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        with self._lock:
            self.objects += 1
            self.bytes += size
            now = time.monotonic()
            if now - self._last < self.interval or self.objects == self.total_objects:
                return
            self._last = now
            elapsed = max(now - self.started, 1e-6)
            rate = self.bytes / elapsed
            left = max(self.total_bytes - self.bytes, 0)
            eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
            self.log.info(
                "Progress: %d/%d objects, %.1f/%.1f MB (%.0f%%), %.1f MB/s, ETA %s",
                self.objects,
                self.total_objects,
                self.bytes / 1e6,
                self.total_bytes / 1e6,
                100 * self.bytes / self.total_bytes if self.total_bytes else 100,
                rate / 1e6,
                eta,
            )


class TransferEngine:
    """
    Copies 8x8 objects to one destination with one hook (one pooled session) and a pool of threads.

    :param hook: the hook to read from; its connection pool is sized to ``options.max_workers``.
    :param destination: an ``ObjectStoragePath`` (or anything :func:`.storage.as_storage_path` takes).
    :param options: how to copy.
    :param run_label: names the manifest (e.g. dag, task and run ids).
    """

    def __init__(
        self,
        hook: EightByEightHook,
        destination: Any,
        options: TransferOptions | None = None,
        *,
        run_label: str = "transfer",
        destination_conn_id: str | None = None,
        log: Any = None,
    ) -> None:
        self.hook = hook
        self.options = options or TransferOptions()
        self.root = storage.as_storage_path(destination, destination_conn_id)
        self.run_label = run_label
        self.log = log or logging.getLogger(__name__)
        self.hook.pool_size = max(self.hook.pool_size, self.options.max_workers)
        self._index: dict[str, ManifestRecord] | None = None
        self._folders: dict[str, dict[str, int]] = {}
        self._folders_lock = threading.Lock()
        self._folder_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ planning

    def plan(self, objects: Iterable[StoredObject]) -> list[PlannedObject]:
        """Render every object's destination; objects that collide get an id suffix. Duplicates are dropped."""
        planned: list[PlannedObject] = []
        taken: set[str] = set()
        seen: set[str] = set()
        for obj in objects:
            if obj.id in seen:
                continue
            seen.add(obj.id)
            relative = render_path(self.options.path_template, obj)
            unique = disambiguate(relative, obj.id, taken)
            if unique != relative:
                self.log.warning(
                    "Objects render to the same path %s; writing %s to %s instead.", relative, obj.id, unique
                )
            taken.add(unique)
            planned.append(PlannedObject(obj, unique, self.root / unique))
        return planned

    def resolve_ids(
        self, object_ids: Iterable[str], region: str | None = None
    ) -> tuple[list[StoredObject], dict[str, str]]:
        """Metadata of explicit ids, read concurrently; ids that could not be read are returned with why."""
        ids = list(dict.fromkeys(object_ids))
        found: dict[str, StoredObject] = {}
        missing: dict[str, str] = {}

        def read(object_id: str) -> StoredObject:
            return self.hook.get_object(object_id, region=region)

        with ThreadPoolExecutor(self.options.max_workers, thread_name_prefix="8x8-meta") as pool:
            for object_id, future in zip(ids, [pool.submit(read, i) for i in ids], strict=True):
                try:
                    found[object_id] = future.result()
                except FATAL_ERRORS:
                    raise
                except EightByEightError as err:
                    missing[object_id] = str(err)
        return [found[i] for i in ids if i in found], missing

    # ------------------------------------------------------------------ the objects strategy

    def run(
        self,
        objects: Iterable[StoredObject],
        *,
        delete_after_transfer: bool = False,
        preset_failures: dict[str, str] | None = None,
        extra_records: Iterable[ManifestRecord] = (),
        strategy_label: str = "objects",
    ) -> TransferSummary:
        """
        Copy objects one request each, ``max_workers`` at a time; write the manifest; delete if asked.

        :param preset_failures: ids already known to have failed (e.g. unreadable metadata), recorded as such.
        """
        started = time.monotonic()
        requests_before, retries_before = self.hook.stats.requests, self.hook.stats.retries
        planned = self.plan(objects)
        records = self._copy_all(planned)
        for object_id, reason in (preset_failures or {}).items():
            records.append(self._failed_record(object_id, None, reason))
        records.extend(extra_records)
        return self.finish(
            records,
            delete_after_transfer=delete_after_transfer,
            strategy=strategy_label,
            started=started,
            requests_before=requests_before,
            retries_before=retries_before,
        )

    def _copy_all(self, planned: list[PlannedObject]) -> list[ManifestRecord]:
        total_bytes = sum(p.obj.size or 0 for p in planned)
        self.log.info(
            "Copying %d objects (%.1f MB) to %s with %d workers.",
            len(planned),
            total_bytes / 1e6,
            storage.url_of(self.root),
            self.options.max_workers,
        )
        progress = _Progress(self.log, len(planned), total_bytes, self.options.progress_interval)
        return list(self._map(planned, lambda p: self.copy_one(p, progress)))

    def _map(self, items: list[PlannedObject], work: Callable[[PlannedObject], _R]) -> Iterator[_R]:
        """Run ``work`` over items with at most 2 x max_workers in flight; stop early on a fatal error."""
        limit = self.options.max_workers * 2
        with ThreadPoolExecutor(self.options.max_workers, thread_name_prefix="8x8-copy") as pool:
            pending: set[Future[_R]] = set()
            iterator = iter(items)
            fatal: BaseException | None = None
            while True:
                while fatal is None and len(pending) < limit:
                    item = next(iterator, None)
                    if item is None:
                        break
                    pending.add(pool.submit(work, item))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        yield future.result()
                    except FATAL_ERRORS as err:
                        fatal = fatal or err
            if fatal is not None:
                raise fatal

    def copy_one(self, planned: PlannedObject, progress: _Progress | None = None) -> ManifestRecord:
        """Copy one object (or skip it if a verified copy exists); never raises for per-object problems."""
        obj = planned.obj
        try:
            if not obj.is_available:
                return self._failed_record(obj.id, planned, f"object is {obj.state}, not AVAILABLE", obj=obj)
            if not self.options.overwrite:
                existing = self.existing_copy(planned)
                if existing is not None:
                    if progress:
                        progress.add(0)
                    return existing
            result = self.hook.download_object(
                obj,
                storage.sink_factory(planned.target, self.options.block_size),
                verify=True,
                chunk_size=self.options.chunk_size,
            )
            record = self._record(planned, Status.COPIED, result.size, result.md5, result.verified, result.attempts)
            if self.options.write_metadata:
                self._write_sidecar(planned, record)
            if progress:
                progress.add(result.size)
            return record
        except FATAL_ERRORS:
            raise
        except Exception as err:  # one object's failure must not stop the others
            self.log.error("Copying object %s failed: %s", obj.id, err)
            if progress:
                progress.add(0)
            return self._failed_record(obj.id, planned, str(err) or type(err).__name__, obj=obj)

    # ------------------------------------------------------------------ idempotency

    @property
    def index(self) -> dict[str, ManifestRecord]:
        """Verified copies recorded by earlier runs' manifests (read once)."""
        if self._index is None:
            self._index = verified_copies(self.root)
        return self._index

    def _existing_size(self, path: Any) -> int | None:
        """Size of a destination file, from one listing per folder (not one request per file)."""
        folder = path.parent
        key = str(folder)
        sizes = self._folders.get(key)
        if sizes is None:
            with self._folders_lock:
                lock = self._folder_locks.setdefault(key, threading.Lock())
            with lock:  # one listing per folder; other folders are listed in parallel
                sizes = self._folders.get(key)
                if sizes is None:
                    sizes = self._folders[key] = storage.folder_sizes(folder)
        return sizes.get(path.name)

    def existing_copy(self, planned: PlannedObject) -> ManifestRecord | None:
        """A SKIPPED record if the destination already holds this object with the same size and MD5."""
        obj = planned.obj
        size = self._existing_size(planned.target)
        if size is None or (obj.size is not None and size != obj.size):
            return None
        recorded = self.index.get(obj.id)
        md5: str | None = None
        if recorded is not None and recorded.path == planned.relative_path and recorded.size == size:
            md5 = recorded.md5
        if md5 is None:
            md5 = self._sidecar_md5(planned)
        if md5 is None or (obj.md5 and md5 != obj.md5):
            md5 = storage.md5_of(planned.target)  # a copy of unknown origin: read it back
        if obj.md5 and md5 != obj.md5:
            return None
        if not obj.md5 and (recorded is None or recorded.md5 != md5):
            return None  # 8x8 gives no plain MD5 and no earlier verified copy says this is the same file
        if self.options.write_metadata and self._existing_size(planned.sidecar) is None:
            self._write_sidecar(planned, self._record(planned, Status.SKIPPED, size, md5, bool(obj.md5), 0))
        return self._record(
            planned, Status.SKIPPED, size, md5, verified=bool(obj.md5), attempts=0, reason="already present"
        )

    def _sidecar_md5(self, planned: PlannedObject) -> str | None:
        if self._existing_size(planned.sidecar) is None:
            return None
        text = storage.read_text(planned.sidecar)
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        transfer = data.get("transfer") if isinstance(data, dict) else None
        md5 = transfer.get("md5") if isinstance(transfer, dict) else None
        return md5 if isinstance(md5, str) else None

    # ------------------------------------------------------------------ records, sidecars, manifest

    def _record(
        self,
        planned: PlannedObject,
        status: str,
        size: int | None,
        md5: str | None,
        verified: bool,
        attempts: int,
        reason: str | None = None,
    ) -> ManifestRecord:
        obj = planned.obj
        return ManifestRecord(
            id=obj.id,
            region=obj.region,
            source=self.source_uri(obj.id, obj.region),
            destination=storage.url_of(planned.target),
            path=planned.relative_path,
            size=size,
            md5=md5,
            status=status,
            verified=verified,
            type=obj.type,
            name=obj.name,
            created=obj.created.isoformat() if obj.created else None,
            checksum=obj.checksum,
            reason=reason,
            attempts=attempts,
        )

    def _failed_record(
        self, object_id: str, planned: PlannedObject | None, reason: str, obj: StoredObject | None = None
    ) -> ManifestRecord:
        obj = obj or (planned.obj if planned else None)
        region = obj.region if obj else None
        return ManifestRecord(
            id=object_id,
            region=region,
            source=self.source_uri(object_id, region),
            destination=storage.url_of(planned.target) if planned else "",
            path=planned.relative_path if planned else "",
            size=None,
            md5=None,
            status=Status.FAILED,
            type=obj.type if obj else None,
            name=obj.name if obj else None,
            checksum=obj.checksum if obj else None,
            reason=reason,
        )

    def not_copied_record(self, obj: StoredObject, status: str, reason: str) -> ManifestRecord:
        """A record for an object deliberately not copied (archived and skipped, or failed up front)."""
        planned = self.plan([obj])[0]
        record = self._failed_record(obj.id, planned, reason, obj=obj)
        record.status = status
        return record

    def source_uri(self, object_id: str, region: str | None) -> str:
        """Where an object comes from: ``<api root>/storage/<region>/<version>/objects/<id>``."""
        return f"{self.hook.settings.storage_root(region or 'unknown')}/objects/{object_id}"

    def _write_sidecar(self, planned: PlannedObject, record: ManifestRecord) -> None:
        obj = planned.obj
        document = {
            "object": obj.raw or obj.to_summary(),
            "region": obj.region,
            "transfer": {
                "md5": record.md5,
                "size": record.size,
                "verified": record.verified,
                "source": record.source,
                "copied_at": datetime.now(timezone.utc).isoformat(),
            },
        }
        payload = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
        storage.write_bytes_atomically(planned.sidecar, payload)

    def finish(
        self,
        records: list[ManifestRecord],
        *,
        delete_after_transfer: bool,
        strategy: str,
        started: float,
        requests_before: int = 0,
        retries_before: int = 0,
    ) -> TransferSummary:
        """Delete what was verified (if asked), write the manifest and build the summary."""
        summary = TransferSummary(destination=storage.url_of(self.root), strategy=strategy, records=records)
        for record in records:
            if record.status == Status.COPIED:
                summary.copied += 1
                summary.bytes_copied += record.size or 0
            elif record.status == Status.SKIPPED:
                summary.skipped += 1
            elif record.status == Status.ARCHIVED:
                summary.archived += 1
            else:
                summary.failed += 1
                summary.failures[record.id] = record.reason or "failed"
        if delete_after_transfer:
            self._delete_verified(records, summary)
        self._remove_stale_parts(records)
        manifest = write_manifest(self.root, manifest_name(self.run_label), records)
        summary.manifest = storage.url_of(manifest)
        summary.seconds = time.monotonic() - started
        summary.requests = self.hook.stats.requests - requests_before
        summary.retries = self.hook.stats.retries - retries_before
        self.log.info(
            "Transfer finished: %d copied, %d skipped, %d archived (not copied), %d failed, %d deleted at 8x8, "
            "%.1f MB in %.1f s (%.1f MB/s), %d retries. Manifest: %s",
            summary.copied,
            summary.skipped,
            summary.archived,
            summary.failed,
            summary.deleted,
            summary.bytes_copied / 1e6,
            summary.seconds,
            summary.bytes_copied / 1e6 / max(summary.seconds, 1e-6),
            summary.retries,
            summary.manifest,
        )
        return summary

    def _remove_stale_parts(self, records: list[ManifestRecord]) -> None:
        """Remove temporary files that killed runs left in the folders this run wrote to (local disk only)."""
        if not storage.is_local(self.root):
            return
        base = storage.local_path(self.root)
        folders = {(base / r.path).parent for r in records if r.path}
        removed = remove_stale_parts(folders)
        if removed:
            self.log.info("Removed %d temporary file(s) left by interrupted runs.", len(removed))

    def _delete_verified(self, records: list[ManifestRecord], summary: TransferSummary) -> None:
        deletable: dict[str | None, list[ManifestRecord]] = {}
        for record in records:
            if record.status in (Status.COPIED, Status.SKIPPED) and record.verified:
                deletable.setdefault(record.region, []).append(record)
            elif record.status in (Status.COPIED, Status.SKIPPED):
                summary.not_deleted += 1
                summary.delete_failures[record.id] = "copy not verified by MD5 (8x8 gave no plain MD5)"
        for region, group in deletable.items():
            result = self.hook.delete_objects([r.id for r in group], region=region)
            gone = set(result.deleted)
            for record in group:
                if record.id in gone:
                    record.deleted_at_source = True
                    summary.deleted += 1
            for object_id, reason in result.failed.items():
                summary.not_deleted += 1
                summary.delete_failures[object_id] = reason
        if summary.delete_failures:
            self.log.warning(
                "%d object(s) were not deleted at 8x8: %s",
                len(summary.delete_failures),
                "; ".join(f"{k}: {v}" for k, v in list(summary.delete_failures.items())[:20]),
            )

    # ------------------------------------------------------------------ the bulk strategy

    def choose_strategy(self, strategy: str, objects: list[StoredObject]) -> str:
        """Resolve ``auto``: bulk zips for many small objects, one request per object otherwise."""
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if strategy != "auto":
            return strategy
        sizes = [o.size or 0 for o in objects]
        if len(sizes) >= AUTO_BULK_MIN_OBJECTS and sum(sizes) / len(sizes) <= AUTO_BULK_MAX_AVERAGE_BYTES:
            return "bulk"
        return "objects"

    def pending_for_bulk(self, planned: list[PlannedObject]) -> tuple[list[PlannedObject], list[ManifestRecord]]:
        """Split planned objects into those to fetch and records of those already present or unavailable."""
        todo: list[PlannedObject] = []
        done: list[ManifestRecord] = []
        for item in planned:
            if not item.obj.is_available:
                done.append(self._failed_record(item.obj.id, item, f"object is {item.obj.state}, not AVAILABLE"))
                continue
            existing = None if self.options.overwrite else self.existing_copy(item)
            if existing is not None:
                done.append(existing)
            else:
                todo.append(item)
        return todo, done

    @staticmethod
    def bulk_batches(planned: list[PlannedObject], limit_bytes: int) -> list[list[PlannedObject]]:
        """
        Batches under the size limit, never two objects of one name in a batch (zip entries are names).

        Objects larger than the limit are left out: see :meth:`too_big_for_bulk`.
        """
        planned = [p for p in planned if p.obj.size is None or p.obj.size <= limit_bytes]
        batches: list[list[PlannedObject]] = []
        for batch in EightByEightHook.plan_bulk_batches([p.obj for p in planned], limit_bytes):
            by_id = {p.obj.id: p for p in planned}
            current: list[list[PlannedObject]] = [[]]
            names: list[set[str]] = [set()]
            for obj in batch:
                slot = next((i for i, n in enumerate(names) if (obj.name or obj.id) not in n), None)
                if slot is None:
                    current.append([])
                    names.append(set())
                    slot = len(current) - 1
                current[slot].append(by_id[obj.id])
                names[slot].add(obj.name or obj.id)
            batches.extend(c for c in current if c)
        return batches

    @staticmethod
    def too_big_for_bulk(planned: list[PlannedObject], limit_bytes: int) -> list[PlannedObject]:
        """Objects a bulk job cannot hold (over the per-job limit); they are downloaded on their own."""
        return [p for p in planned if p.obj.size is not None and p.obj.size > limit_bytes]

    def copy_from_zip(
        self, job: BulkJob | None, zip_path: Path | None, batch: list[PlannedObject]
    ) -> list[ManifestRecord]:
        """
        Copy a batch out of its downloaded zip, verifying each entry against its object's checksum.

        Entries are looked up by object name only (never used as paths, so a hostile entry name cannot
        escape the destination). Objects missing from the zip, or whose entry fails verification, are
        downloaded on their own instead.
        """
        records: list[ManifestRecord] = []
        fallback: list[PlannedObject] = []
        if zip_path is None:
            fallback = list(batch)
        else:
            with zipfile.ZipFile(zip_path) as archive:
                entries: dict[str, list[zipfile.ZipInfo]] = {}
                for info in archive.infolist():
                    entries.setdefault(info.filename, []).append(info)
                wanted = {p.obj.name or p.obj.id for p in batch}
                extra = sorted(set(entries) - wanted)
                if extra:
                    self.log.warning(
                        "Bulk zip %s has %d entr(y/ies) that were not requested; ignored: %s",
                        job.zip_name if job else "?",
                        len(extra),
                        ", ".join(repr(e) for e in extra[:10]),
                    )
                usable: dict[str, zipfile.ZipInfo] = {}
                for item in batch:
                    infos = entries.get(item.obj.name or item.obj.id, [])
                    if len(infos) == 1:
                        usable[item.obj.id] = infos[0]
                        continue
                    if len(infos) > 1:
                        self.log.warning(
                            "Bulk zip has %d entries named %r; downloading it alone.", len(infos), item.obj.name
                        )
                    fallback.append(item)
            records, unusable = self._extract(zip_path, [p for p in batch if p.obj.id in usable], usable)
            fallback.extend(unusable)
        if fallback:
            self.log.info("Downloading %d object(s) one by one (not in a usable zip).", len(fallback))
            records.extend(self._map(fallback, self.copy_one))
        return records

    def _extract(
        self, zip_path: Path, items: list[PlannedObject], infos: dict[str, zipfile.ZipInfo]
    ) -> tuple[list[ManifestRecord], list[PlannedObject]]:
        """Copy entries with the worker pool, each thread reading through its own handle on the zip."""
        local = threading.local()
        opened: list[zipfile.ZipFile] = []
        unusable: list[PlannedObject] = []
        lock = threading.Lock()

        def extract(item: PlannedObject) -> ManifestRecord | None:
            archive = getattr(local, "archive", None)
            if archive is None:
                archive = local.archive = zipfile.ZipFile(zip_path)
                with lock:
                    opened.append(archive)
            try:
                return self._copy_entry(archive, infos[item.obj.id], item)
            except (IntegrityError, zipfile.BadZipFile, OSError) as err:
                self.log.warning("Zip entry of %s unusable (%s); downloading it alone.", item.obj.id, err)
                with lock:
                    unusable.append(item)
                return None

        try:
            records = [r for r in self._map(items, extract) if r is not None]
        finally:
            for archive in opened:
                archive.close()
        return records, unusable

    def _copy_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, item: PlannedObject) -> ManifestRecord:
        import hashlib

        obj = item.obj
        if obj.size is not None and info.file_size != obj.size:
            raise IntegrityError(f"zip entry has {info.file_size} bytes, 8x8 lists {obj.size}")
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with storage.sink_factory(item.target, self.options.block_size)() as out, archive.open(info) as entry:
            while chunk := entry.read(self.options.chunk_size):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            md5 = digest.hexdigest()
            if obj.md5 and md5 != obj.md5:
                raise IntegrityError(f"zip entry MD5 {md5} does not match 8x8's checksum {obj.md5}")
            if obj.size is not None and size != obj.size:
                raise IntegrityError(f"zip entry gave {size} bytes, 8x8 lists {obj.size}")
        record = self._record(item, Status.COPIED, size, md5, verified=bool(obj.md5), attempts=1)
        if self.options.write_metadata:
            self._write_sidecar(item, record)
        return record

    def download_zip(self, job: BulkJob, region: str | None, folder: str | None = None) -> Path:
        """Download a finished job's zip to a local temporary file (the caller removes it)."""
        descriptor, name = tempfile.mkstemp(prefix="8x8-bulk-", suffix=".zip", dir=folder)
        os.close(descriptor)
        path = Path(name)
        try:
            self.hook.download_bulk_zip(job.zip_name, path, region=region, chunk_size=self.options.chunk_size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def run_bulk(
        self,
        objects: Iterable[StoredObject],
        *,
        delete_after_transfer: bool = False,
        preset_failures: dict[str, str] | None = None,
        extra_records: Iterable[ManifestRecord] = (),
        poll_interval: float = 15.0,
        timeout: float = 6 * 3600,
        limit_bytes: int | None = None,
    ) -> TransferSummary:
        """Copy through bulk zip jobs, waiting synchronously (operators defer instead)."""
        from airflow_provider_eightbyeight.hooks.eightbyeight import BULK_LIMIT_BYTES

        started = time.monotonic()
        requests_before, retries_before = self.hook.stats.requests, self.hook.stats.retries
        planned = self.plan(objects)
        todo, records = self.pending_for_bulk(planned)
        for object_id, reason in (preset_failures or {}).items():
            records.append(self._failed_record(object_id, None, reason))
        records.extend(extra_records)
        by_region: dict[str | None, list[PlannedObject]] = {}
        for item in todo:
            by_region.setdefault(item.obj.region, []).append(item)
        limit = limit_bytes or BULK_LIMIT_BYTES
        single = self.too_big_for_bulk(todo, limit)
        if single:
            self.log.info("%d object(s) exceed the bulk limit; downloading them one by one.", len(single))
            records.extend(self._map(single, self.copy_one))
        # Start every job first, so 8x8 prepares them all at once, then collect them one by one.
        started_jobs = [
            (batch, region, self._start_job(batch, region))
            for region, items in by_region.items()
            for batch in self.bulk_batches(items, limit)
        ]
        for batch, region, job in started_jobs:
            records.extend(self._finish_job(job, batch, region, poll_interval, timeout))
        return self.finish(
            records,
            delete_after_transfer=delete_after_transfer,
            strategy="bulk",
            started=started,
            requests_before=requests_before,
            retries_before=retries_before,
        )

    def _start_job(self, batch: list[PlannedObject], region: str | None) -> BulkJob | None:
        """Start one bulk job; ``None`` if 8x8 refused it (its objects then come one by one)."""
        try:
            return self.hook.start_bulk_download([p.obj for p in batch], region=region)[0]
        except FATAL_ERRORS:
            raise
        except EightByEightError as err:
            self.log.warning(
                "Bulk job for %d object(s) not started (%s); downloading them one by one.", len(batch), err
            )
            return None

    def _finish_job(
        self, job: BulkJob | None, batch: list[PlannedObject], region: str | None, poll_interval: float, timeout: float
    ) -> list[ManifestRecord]:
        """Wait for a started job and copy what it delivered; everything else one by one."""
        if job is None:
            return self.copy_from_zip(None, None, batch)
        try:
            job = self.hook.wait_for_bulk_job(job.zip_name, region=region, poll_interval=poll_interval, timeout=timeout)
        except FATAL_ERRORS:
            raise
        except EightByEightError as err:
            self.log.warning("Bulk job %s failed (%s); downloading its objects one by one.", job.zip_name, err)
            return self.copy_from_zip(job, None, batch)
        return self.copy_finished_job(job, region, batch)

    def copy_finished_job(self, job: BulkJob, region: str | None, batch: list[PlannedObject]) -> list[ManifestRecord]:
        """Download a finished job's zip and copy its entries (falling back per object where needed)."""
        if not job.has_zip:
            self.log.warning("Bulk job %s ended %s; downloading its objects one by one.", job.zip_name, job.status)
            return self.copy_from_zip(job, None, batch)
        try:
            zip_path = self.download_zip(job, region)
        except FATAL_ERRORS:
            raise
        except EightByEightError as err:
            self.log.warning("Bulk zip %s could not be downloaded (%s); downloading one by one.", job.zip_name, err)
            return self.copy_from_zip(job, None, batch)
        try:
            try:
                return self.copy_from_zip(job, zip_path, batch)
            except zipfile.BadZipFile as err:
                self.log.warning("Bulk zip %s is not a valid zip (%s); downloading one by one.", job.zip_name, err)
                return self.copy_from_zip(job, None, batch)
        finally:
            zip_path.unlink(missing_ok=True)


def raise_for_failures(summary: TransferSummary) -> None:
    """Raise :class:`TransferError` naming the failed objects, if any."""
    if not summary.failures:
        return
    listed = "; ".join(f"{object_id}: {reason}" for object_id, reason in list(summary.failures.items())[:20])
    more = f" (and {len(summary.failures) - 20} more)" if len(summary.failures) > 20 else ""
    raise TransferError(
        f"{summary.failed} object(s) could not be copied, after {summary.copied} were copied and "
        f"{summary.skipped} skipped: {listed}{more}",
        hint=f"Nothing partial was left behind; see the manifest {summary.manifest} and re-run the task",
    )
