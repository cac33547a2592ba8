"""
The bulk strategy: 8x8 zips many objects into one download; this module starts and cancels those jobs and
copies a finished job's zip into the destination, entry by entry, verified like any other copy.

Entries are found by object name only (never used as paths, so a hostile entry name cannot escape the
destination); an object missing from the zip, or whose entry cannot be read or fails verification, is
downloaded on its own. Which objects share a job is the rule of :mod:`~airflow_provider_eightbyeight.batching`
(bytes, objects and unique names), the hook's too.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_eightbyeight import arguments, batching
from airflow_provider_eightbyeight.errors import (
    EightByEightError,
    IntegrityError,
    PathTakenError,
)
from airflow_provider_eightbyeight.models import BulkJob, StoredObject
from airflow_provider_eightbyeight.transfer.copier import MAX_PLACEMENTS, Copier, PlannedObject
from airflow_provider_eightbyeight.transfer.manifest import Evidence, ManifestRecord, Status
from airflow_provider_eightbyeight.transfer.options import (
    AUTO_BULK_MAX_AVERAGE_BYTES,
    AUTO_BULK_MIN_OBJECTS,
    STRATEGIES,
)

#: The most objects in one bulk job of a run (see :mod:`~airflow_provider_eightbyeight.batching`).
BULK_MAX_OBJECTS = batching.BULK_MAX_OBJECTS
#: Batches filling at once per region (more are needed only when objects share names).
MAX_FILLING_BATCHES = 8
#: Failures that mean a bulk zip (or one entry of it) is unusable, so its objects are downloaded alone.
ZIP_ERRORS = (
    IntegrityError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,  # an unsupported compression method
    RuntimeError,  # an encrypted entry
    ValueError,
    OSError,
)


def choose_strategy(strategy: str, objects: list[StoredObject]) -> str:
    """Resolve ``auto``: bulk zips for many small objects, one request per object otherwise."""
    arguments.choice("strategy", strategy, STRATEGIES)
    if strategy != "auto":
        return strategy
    sizes = [o.size or 0 for o in objects]
    if len(sizes) >= AUTO_BULK_MIN_OBJECTS and sum(sizes) / len(sizes) <= AUTO_BULK_MAX_AVERAGE_BYTES:
        return "bulk"
    return "objects"


def new_filling(limit: int) -> batching.Filling[PlannedObject]:
    """A run's jobs while they fill, by the one batching rule (:mod:`~airflow_provider_eightbyeight.batching`)."""
    return batching.Filling(limit, BULK_MAX_OBJECTS, MAX_FILLING_BATCHES)


@dataclass
class RunJob:
    """
    A bulk job a run started (what its saved state holds of it).

    :param zip_name: the job's key at 8x8.
    :param region: where it runs.
    :param count: the run's waiting records that name it (0 in a state just read: counted again from them).
    """

    zip_name: str
    region: str | None
    count: int = 0

    def as_state(self) -> dict[str, Any]:
        """The job in a run's saved state."""
        return {"zip_name": self.zip_name, "region": self.region, "count": self.count}

    @classmethod
    def from_state(cls, saved: Any) -> RunJob:
        """
        A job from a saved state (untrusted: it names at most a job; its count is recounted from the records).

        :raises ValueError: when it is not a mapping with a zip name and a region.
        """
        if not isinstance(saved, dict) or not isinstance(saved.get("zip_name"), str) or not saved["zip_name"]:
            raise ValueError(f"bulk job {saved!r:.100}")
        region = saved.get("region")
        if region is not None and not isinstance(region, str):
            raise ValueError(f"bulk job region {region!r:.50}")
        return cls(saved["zip_name"], region)


@dataclass
class Fetched:
    """A finished bulk job and its zip on local disk, or ``None`` where there is nothing to extract."""

    job: BulkJob | None = None
    zip_path: Path | None = None


class ZipCopier:
    """
    Bulk jobs of one run and the copies out of their zips, through the run's :class:`.copier.Copier` (its
    hook, worker pool, placement and records).

    :param copier: the copier of the run.
    """

    def __init__(self, copier: Copier) -> None:
        self.copier = copier

    def start_job(self, batch: list[PlannedObject], region: str | None) -> BulkJob | None:
        """Start one bulk job; ``None`` if 8x8 refused it (its objects then come one by one)."""
        try:
            return self.copier.hook.start_bulk_download([p.obj for p in batch], region=region)[0]
        except EightByEightError as err:
            self.copier.log.warning(
                "Bulk job for %d object(s) not started (%s); downloading them one by one.", len(batch), err
            )
            return None

    def cancel_job(self, zip_name: str, region: str | None) -> None:
        """Cancel a bulk job, logging (not raising) if 8x8 refuses."""
        try:
            self.copier.hook.cancel_bulk_job(zip_name, region=region)
            self.copier.log.info("Cancelled bulk job %s.", zip_name)
        except EightByEightError as err:
            self.copier.log.warning("Could not cancel bulk job %s: %s", zip_name, err)

    def copy_from_zip(
        self, job: BulkJob | None, zip_path: Path | None, batch: list[PlannedObject]
    ) -> list[ManifestRecord]:
        """
        Copy a batch out of its downloaded zip, verifying each entry against its object's checksum.

        Entries are looked up by object name only (never used as paths, so a hostile entry name cannot
        escape the destination). Objects missing from the zip, or whose entry cannot be read or fails
        verification (bad data, an unsupported compression), are downloaded on their own instead.
        """
        records: list[ManifestRecord] = []
        fallback: list[PlannedObject] = []
        usable: dict[str, zipfile.ZipInfo] = {}
        if zip_path is None:
            fallback = list(batch)
        else:
            try:
                with zipfile.ZipFile(zip_path) as archive:
                    infos = archive.infolist()
            except ZIP_ERRORS as err:
                self.copier.log.warning(
                    "Bulk zip %s is not a readable zip (%s); downloading one by one.", _zip(job), err
                )
                infos = None
            if infos is None:
                fallback = list(batch)
            else:
                entries: dict[str, list[zipfile.ZipInfo]] = {}
                for info in infos:
                    entries.setdefault(info.filename, []).append(info)
                wanted = {p.obj.name or p.obj.id for p in batch}
                extra = sorted(set(entries) - wanted)
                if extra:
                    self.copier.log.warning(
                        "Bulk zip %s has %d entr(y/ies) that were not requested; ignored: %s",
                        _zip(job),
                        len(extra),
                        ", ".join(repr(e) for e in extra[:10]),
                    )
                for item in batch:
                    found = entries.get(item.obj.name or item.obj.id, [])
                    if len(found) == 1:
                        usable[item.obj.id] = found[0]
                        continue
                    if len(found) > 1:
                        self.copier.log.warning(
                            "Bulk zip has %d entries named %r; downloading it alone.", len(found), item.obj.name
                        )
                    fallback.append(item)
                extracted, unusable = self._extract(zip_path, [p for p in batch if p.obj.id in usable], usable)
                records.extend(extracted)
                fallback.extend(unusable)
        if fallback:
            self.copier.log.info("Downloading %d object(s) one by one (not in a usable zip).", len(fallback))
            records.extend(self.copier.map(fallback, self.copier.copy_one))
        return records

    def _extract(
        self, zip_path: Path, items: list[PlannedObject], infos: dict[str, zipfile.ZipInfo]
    ) -> tuple[list[ManifestRecord], list[PlannedObject]]:
        """Copy entries with the worker pool, each thread reading through its own handle on the zip."""
        local = threading.local()
        opened: list[zipfile.ZipFile] = []
        unusable: list[PlannedObject] = []
        lock = threading.Lock()
        marker = "zip entry unusable"

        def extract(item: PlannedObject) -> ManifestRecord:
            try:
                archive = getattr(local, "archive", None)
                if archive is None:
                    archive = local.archive = zipfile.ZipFile(zip_path)
                    with lock:
                        opened.append(archive)
                return self._copy_entry(archive, infos[item.obj.id], item)
            except ZIP_ERRORS as err:
                self.copier.log.warning("Zip entry of %s unusable (%s); downloading it alone.", item.obj.id, err)
                with lock:
                    unusable.append(item)
                record = self.copier.failed_record(item.obj.id, item, marker)
                record.extra["zip_fallback"] = True
                return record

        try:
            records = [r for r in self.copier.map(items, extract) if not r.extra.get("zip_fallback")]
        finally:
            for archive in opened:
                archive.close()
        return records, unusable

    def _copy_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, planned: PlannedObject) -> ManifestRecord:
        obj = planned.obj
        if obj.size is not None and info.file_size != obj.size:
            raise IntegrityError(f"zip entry has {info.file_size} bytes, 8x8 lists {obj.size}")
        for _ in range(MAX_PLACEMENTS):
            item, existing = self.copier.place(planned)
            if existing is not None:
                return existing
            try:
                return self._write_entry(archive, info, item)
            except FileExistsError:  # another writer published this path meanwhile: place again
                self.copier.forget_folder(item.relative_path)
        raise PathTakenError(f"every path tried for object {obj.id} is taken by other files")

    def _write_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, item: PlannedObject) -> ManifestRecord:
        obj = item.obj
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        sink = item.sink_factory(self.copier.options.block_size)
        with sink() as out, archive.open(info) as entry:
            while chunk := entry.read(self.copier.options.chunk_size):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            md5 = digest.hexdigest()
            if obj.md5 and md5 != obj.md5:
                raise IntegrityError(f"zip entry MD5 {md5} does not match 8x8's checksum {obj.md5}")
            if obj.size is not None and size != obj.size:
                raise IntegrityError(f"zip entry gave {size} bytes, 8x8 lists {obj.size}")
        record = self.copier.record(item, Status.COPIED, size, md5, verified=bool(obj.md5), attempts=1)
        record.evidence = Evidence.WRITTEN
        self.copier.after_write(item, record)
        return record

    def download_zip(self, job: BulkJob, region: str | None, folder: str | None = None) -> Path:
        """
        Download a finished job's zip to a local temporary file (the caller removes it), in the run's own
        folder by default (:attr:`.store.RunStore.folder`), so a killed run leaves no zip anywhere else.
        """
        descriptor, name = tempfile.mkstemp(prefix="8x8-bulk-", suffix=".zip", dir=folder or self.copier.store.folder)
        os.close(descriptor)
        path = Path(name)
        try:
            self.copier.hook.download_bulk_zip(
                job.zip_name, path, region=region, chunk_size=self.copier.options.chunk_size
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def copy_finished_job(self, job: BulkJob, region: str | None, batch: list[PlannedObject]) -> list[ManifestRecord]:
        """Download a finished job's zip and copy its entries (falling back per object where needed)."""
        if not job.has_zip:
            self.copier.log.warning(
                "Bulk job %s ended %s; downloading its objects one by one.", job.zip_name, job.status
            )
            return self.copy_from_zip(job, None, batch)
        try:
            zip_path = self.download_zip(job, region)
        except EightByEightError as err:
            self.copier.log.warning(
                "Bulk zip %s could not be downloaded (%s); downloading one by one.", job.zip_name, err
            )
            return self.copy_from_zip(job, None, batch)
        try:
            return self.copy_from_zip(job, zip_path, batch)
        finally:
            zip_path.unlink(missing_ok=True)


def _zip(job: BulkJob | None) -> str:
    return job.zip_name if job else "?"
