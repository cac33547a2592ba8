"""
Deletes at 8x8: only objects whose copies this run proved hold their exact bytes.

:meth:`Deleter.mark_proved` renews the proof of each verified copy (a copy written and verified in this
phase, or read back and hashed now; skip evidence alone never counts) and marks it ``delete="requested"``;
the run publishes its manifest, which then names what is about to be deleted; :meth:`Deleter.delete_marked`
deletes the marked objects per region, with 8x8's read-back of each MD5, and records every outcome.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airflow_provider_eightbyeight.errors import EightByEightError
from airflow_provider_eightbyeight.models import GONE_STATES
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.copier import Copier
from airflow_provider_eightbyeight.transfer.manifest import COPY_STATUSES, PROOF, Evidence, ManifestRecord
from airflow_provider_eightbyeight.transfer.paths import is_safe_relative
from airflow_provider_eightbyeight.transfer.store import CHUNK
from airflow_provider_eightbyeight.transfer.summary import TransferSummary


class Deleter:
    """
    The deletes of one run, over its :class:`.copier.Copier` (its hook, store and destination).

    :param copier: the copier of the run.
    """

    def __init__(self, copier: Copier) -> None:
        self.copier = copier

    def mark_proved(self, summary: TransferSummary) -> int:
        """
        Mark ``delete="requested"`` on every copy this run proved (written and verified, or read back and
        hashed, in this run) — never on skip evidence alone — and count the others as not deleted, with why.
        The run's records are walked from its store :data:`.store.CHUNK` at a time, so memory does not grow
        with the number of objects; local copies are flushed to disk (file and folder ``fsync``).

        The caller publishes the manifest (which then names what is about to be deleted) before
        :meth:`delete_marked`, and again afterwards with the outcome.

        :return: how many objects are marked.
        """
        requested = 0
        for chunk in _chunks(self.copier.store.records(COPY_STATUSES)):
            candidates: list[ManifestRecord] = []
            unmarked: list[ManifestRecord] = []
            for record in chunk:
                if record.delete == "requested":  # a marker this call did not set: never a proof
                    record.delete = None
                    unmarked.append(record)
                if record.state in GONE_STATES:
                    continue  # a copy found of an object 8x8 no longer has: nothing to delete
                if record.verified:
                    candidates.append(record)
                else:
                    summary.add_not_deleted(record.id, "copy not verified by MD5 (8x8 gave no plain MD5)")
            for record, why_not in zip(candidates, self._prove(candidates), strict=True):
                if why_not:
                    summary.add_not_deleted(record.id, why_not)
                    continue
                record.delete = "requested"
                requested += 1
            cleared = {id(r) for r in unmarked}
            self.copier.store.put_many([*unmarked, *(r for r in candidates if id(r) not in cleared)])
        return requested

    def delete_marked(self, summary: TransferSummary) -> None:
        """Delete at 8x8, one region's :data:`.store.CHUNK` at a time, every copy :meth:`mark_proved` marked."""
        by_region: dict[str | None, list[ManifestRecord]] = {}
        started = False
        for record in self.copier.store.records(COPY_STATUSES):
            if record.delete != "requested":
                continue
            if not started:
                self.copier.log.info("Deleting the objects at 8x8 whose copies this run proved.")
                started = True
            group = by_region.setdefault(record.region, [])
            group.append(record)
            if len(group) >= CHUNK:
                self._delete_group(by_region.pop(record.region), summary)
        for group in by_region.values():
            self._delete_group(group, summary)
        if summary.delete_failures:
            self.copier.log.warning(
                "%d object(s) were not deleted at 8x8: %s",
                summary.not_deleted,
                "; ".join(f"{k}: {v}" for k, v in list(summary.delete_failures.items())[:20]),
            )

    def refuse(self, summary: TransferSummary, reason: str) -> None:
        """Count every copy of the run as not deleted, for ``reason`` (a run that may delete nothing)."""
        for record in self.copier.store.records(COPY_STATUSES):
            if record.state not in GONE_STATES:
                summary.add_not_deleted(record.id, reason)

    def _delete_group(self, group: list[ManifestRecord], summary: TransferSummary) -> None:
        """Delete one region's chunk of proved copies at 8x8 and record the outcome in the store."""
        try:
            result = self.copier.hook.delete_objects(
                [r.id for r in group], region=group[0].region, expect_md5={r.id: r.md5 for r in group if r.md5}
            )
        except EightByEightError as err:
            for record in group:
                record.delete = "failed"
                summary.add_not_deleted(record.id, str(err))
            self.copier.store.put_many(group)
            return
        gone = set(result.deleted)
        not_found = set(result.not_found)
        already = set(result.already_deleted)
        for record in group:
            if record.id in gone:
                record.deleted_at_source = True
                record.delete = "deleted"
                summary.deleted += 1
            elif record.id in already:
                record.deleted_at_source = True
                record.delete = "already_deleted"
                summary.already_deleted += 1
            else:
                record.delete = "not_found" if record.id in not_found else "failed"
                summary.add_not_deleted(
                    record.id,
                    result.failed.get(
                        record.id, "8x8 did not find the object" if record.id in not_found else "not confirmed deleted"
                    ),
                )
        self.copier.store.put_many(group)

    def _prove(self, records: list[ManifestRecord]) -> list[str | None]:
        """
        For each record, ``None`` if this run holds proof now that the destination has the object's exact
        bytes, else why not. Proof from before a pause, or skip evidence, is renewed by reading the copy back
        (in parallel); local copies are flushed to disk (file and folder ``fsync``).
        """

        def prove(record: ManifestRecord) -> str | None:
            if not is_safe_relative(record.path):
                return f"its recorded path {record.path!r} is not a path under the destination"
            target = self.copier.root / record.path
            try:
                if record.evidence not in PROOF:
                    md5 = storage.md5_of(target)
                    if md5 != record.md5:
                        return f"the copy changed since it was verified (MD5 {md5}, expected {record.md5})"
                    record.evidence = Evidence.READ_BACK
                if storage.is_local(self.copier.root):
                    _fsync(storage.local_path(target))
            except FileNotFoundError:
                return "the copy is no longer at the destination"
            except OSError as err:
                return f"the copy could not be read back: {err}"
            return None

        with ThreadPoolExecutor(self.copier.options.max_workers, thread_name_prefix="8x8-prove") as pool:
            outcome = list(pool.map(prove, records))
        if storage.is_local(self.copier.root):
            proved = [r for r, why in zip(records, outcome, strict=True) if not why]
            for folder in {storage.local_path(self.copier.root / r.path).parent for r in proved}:
                _fsync(folder)
        return outcome


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(records: Iterable[ManifestRecord]) -> Iterator[list[ManifestRecord]]:
    """Records in lists of at most :data:`.store.CHUNK`."""
    chunk: list[ManifestRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
