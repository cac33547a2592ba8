"""What a run did (:class:`TransferSummary`, the task's XCom) and the errors that report it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_eightbyeight.errors import ManifestWriteError, TransferError
from airflow_provider_eightbyeight.transfer.manifest import ManifestRecord, Status, read_manifest

#: How many failures (and delete failures) a summary names; the manifest names them all.
DETAIL_LIMIT = 100


@dataclass
class TransferSummary:
    """What a run did; :meth:`as_dict` is JSON-serialisable for XCom."""

    destination: str
    strategy: str
    copied: int = 0
    restored: int = 0
    skipped: int = 0
    archived: int = 0
    not_ready: int = 0
    failed: int = 0
    deleted: int = 0
    #: Proved copies whose objects 8x8 already showed REVOKED/DELETED when this run was to delete them
    #: (another run deleted them first): not deleted again, not counted as this run's deletes.
    already_deleted: int = 0
    not_deleted: int = 0
    bytes_copied: int = 0
    retries: int = 0
    requests: int = 0
    seconds: float = 0.0
    manifest: str | None = None
    #: Why objects were not copied: the first :data:`DETAIL_LIMIT` (``failure_count`` counts them all).
    failures: dict[str, str] = field(default_factory=dict)
    #: Why copies were not deleted at 8x8: the first :data:`DETAIL_LIMIT` (``not_deleted`` counts them all).
    delete_failures: dict[str, str] = field(default_factory=dict)
    #: Objects not copied that fail the task (failed, and not ready unless only reported).
    failure_count: int = 0
    #: Where the manifest is (an ``ObjectStoragePath``), for :attr:`records`.
    manifest_path: Any = field(default=None, repr=False, compare=False)

    @property
    def records(self) -> list[ManifestRecord]:
        """Every object's record, read from the published manifest (a run keeps none in memory)."""
        return list(read_manifest(self.manifest_path)) if self.manifest_path is not None else []

    def add_failure(self, object_id: str, reason: str) -> None:
        """Count an object not copied; its reason is kept for the first :data:`DETAIL_LIMIT`."""
        self.failure_count += 1
        if len(self.failures) < DETAIL_LIMIT:
            self.failures[object_id] = reason

    def add_not_deleted(self, object_id: str, reason: str) -> None:
        """Count a copy not deleted at 8x8; its reason is kept for the first :data:`DETAIL_LIMIT`."""
        self.not_deleted += 1
        if len(self.delete_failures) < DETAIL_LIMIT:
            self.delete_failures[object_id] = reason

    def count(self, record: ManifestRecord, *, not_ready_fails: bool = True) -> None:
        """Add one object's fate to the counts (``not_ready_fails``: a NOT_READY object fails the task)."""
        if record.status in (Status.COPIED, Status.RESTORED):
            if record.status == Status.COPIED:
                self.copied += 1
            else:
                self.restored += 1
            self.bytes_copied += record.size or 0
        elif record.status == Status.SKIPPED:
            self.skipped += 1
        elif record.status == Status.ARCHIVED:
            self.archived += 1
        elif record.status == Status.NOT_READY:
            self.not_ready += 1
            if not_ready_fails:
                self.add_failure(record.id, record.reason or "not ready")
        else:
            self.failed += 1
            self.add_failure(record.id, record.reason or "failed")

    def as_dict(self) -> dict[str, Any]:
        """Counts, bytes, manifest path and failures (first 100) as plain JSON values."""
        return {
            "destination": self.destination,
            "strategy": self.strategy,
            "copied": self.copied,
            "restored": self.restored,
            "skipped": self.skipped,
            "archived": self.archived,
            "not_ready": self.not_ready,
            "failed": self.failed,
            "deleted": self.deleted,
            "already_deleted": self.already_deleted,
            "not_deleted": self.not_deleted,
            "bytes_copied": self.bytes_copied,
            "retries": self.retries,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "manifest": self.manifest,
            "failures": dict(list(self.failures.items())[:DETAIL_LIMIT]),
            "delete_failures": dict(list(self.delete_failures.items())[:DETAIL_LIMIT]),
        }


def failure_listing(summary: TransferSummary, limit: int = 20) -> str:
    """The first ``limit`` objects not copied, with why (``"id: reason; ..."``), and how many more."""
    listed = "; ".join(f"{object_id}: {reason}" for object_id, reason in list(summary.failures.items())[:limit])
    more = f" (and {summary.failure_count - limit} more)" if summary.failure_count > limit else ""
    return listed + more


def manifest_write_error(summary: TransferSummary, manifest: str, err: BaseException) -> ManifestWriteError:
    """The error of a run whose manifest could not be written (see :class:`ManifestWriteError`)."""
    deleted = (
        f"{summary.deleted} object(s) were deleted at 8x8 (their copies were proved first)"
        if summary.deleted
        else "nothing was deleted at 8x8"
    )
    failures = f" Not copied: {failure_listing(summary)}." if summary.failure_count else ""
    return ManifestWriteError(
        f"The manifest {manifest} could not be written ({type(err).__name__}: {err}). At {summary.destination}: "
        f"{summary.copied} copied, {summary.restored} restored, {summary.skipped} skipped, {summary.archived} "
        f"archived, {summary.not_ready} not ready, {summary.failed} failed; {deleted}.{failures}",
        hint="Free space at (or restore access to) the destination and re-run the task: verified copies are "
        "skipped, nothing partial was left under a final name",
    )


def raise_for_failures(summary: TransferSummary) -> None:
    """Raise :class:`TransferError` naming the objects not copied (failed or not ready), if any."""
    if not summary.failure_count:
        return
    parts = []
    if summary.failed:
        parts.append(f"{summary.failed} object(s) could not be copied")
    if summary.not_ready:
        parts.append(f"{summary.not_ready} object(s) were not ready (not AVAILABLE) in time")
    raise TransferError(
        f"{' and '.join(parts)}, after {summary.copied + summary.restored} were copied and "
        f"{summary.skipped} skipped: {failure_listing(summary)}",
        hint=f"Nothing partial was left behind; see the manifest {summary.manifest} and re-run the task",
    )
