"""
Copy 8x8 objects to a destination: :class:`TransferEngine`, the façade over a transfer's parts.

A transfer reads top-down: :mod:`.options` (the one validation) → :meth:`plan` (where each object goes) →
:meth:`place` (whose file a path holds; skip with evidence, replace, or write beside) → :meth:`copy_one`
(stream, verify, publish under the final name, record) → :mod:`.bulk` (the same from zips) → :mod:`.manifest`
→ :mod:`.deletes` (only what this run proved). :class:`.run.TransferRun` drives a whole run through those
phases, with its waits; :meth:`TransferEngine.run` is that run in one call.

Every name this module offered before the parts had their own modules is still importable from here.

Guarantees:

- every copied object is verified (size, and MD5 when 8x8 gives a plain MD5) before it becomes visible
  under its final name (see :mod:`.storage`);
- a destination path belongs to one object: a file that holds another object's copy (by an earlier
  manifest or its sidecar) or bytes of unknown origin is never overwritten; the object is written beside
  it with ``~<id>`` in its name, and the record says why;
- a re-run skips objects already present with the same size and MD5 and copies the rest;
- objects are deleted at 8x8 only when this run proved the destination holds their exact bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED  # noqa: F401 (re-exported)
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_provider_eightbyeight.errors import (  # noqa: F401 (re-exported)
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    ManifestWriteError,
    ObjectNotAvailableError,
    PathTakenError,
    PermissionDeniedError,
    TransferError,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import BULK_LIMIT_BYTES, EightByEightHook  # noqa: F401
from airflow_provider_eightbyeight.local_files import remove_stale_parts  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.models import GONE_STATES, BulkJob, StoredObject  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.transfer import bulk, deletes
from airflow_provider_eightbyeight.transfer.bulk import ZIP_ERRORS  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.transfer.copier import (  # noqa: F401 (re-exported)
    FATAL_ERRORS,
    MAX_PLACEMENTS,
    STOP_AFTER_SAME_FAILURES,
    Copier,
    PlannedObject,
    Taken,
)
from airflow_provider_eightbyeight.transfer.listing import FolderCache  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.transfer.malloc import limit_arenas  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.transfer.manifest import (  # noqa: F401 (re-exported)
    COPY_STATUSES,
    LEGACY_SIDECAR_SUFFIX,
    MANIFEST_DIR,
    PROOF,
    SIDECAR_SUFFIX,
    Evidence,
    ManifestRecord,
    Status,
)
from airflow_provider_eightbyeight.transfer.options import (  # noqa: F401 (re-exported)
    AUTO_BULK_MAX_AVERAGE_BYTES,
    AUTO_BULK_MIN_OBJECTS,
    DEFAULT_MAX_WORKERS,
    MAX_WORKERS,
    ON_ARCHIVED,
    ON_NOT_READY,
    STRATEGIES,
    TransferOptions,
)
from airflow_provider_eightbyeight.transfer.paths import (  # noqa: F401 (re-exported)
    DEFAULT_PATH_TEMPLATE,
    disambiguate,
    is_safe_relative,
    render_path,
    validate_template,
)
from airflow_provider_eightbyeight.transfer.run import RunPolicy, TransferRun
from airflow_provider_eightbyeight.transfer.store import CHUNK, RunStore, TakenPaths  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.transfer.summary import (  # noqa: F401 (re-exported)
    DETAIL_LIMIT,
    TransferSummary,
    failure_listing,
    manifest_write_error,
    raise_for_failures,
)


class TransferEngine(Copier):
    """
    Copies 8x8 objects to one destination with one hook (one pooled session) and a pool of threads: the
    :class:`.copier.Copier`, with the bulk zips (:mod:`.bulk`), the deletes (:mod:`.deletes`) and whole runs.

    :param hook: the hook to read from; its connection pool is sized to ``options.max_workers``.
    :param destination: an ``ObjectStoragePath`` (or anything :func:`.storage.as_storage_path` takes).
    :param options: how to copy.
    :param run_label: names the manifest (e.g. dag, task and run ids).
    """

    @cached_property
    def zips(self) -> bulk.ZipCopier:
        """The bulk jobs and zip copies of this engine's runs."""
        return bulk.ZipCopier(self)

    # ------------------------------------------------------------------ the bulk strategy (see .bulk)

    def choose_strategy(self, strategy: str, objects: list[StoredObject]) -> str:
        """Resolve ``auto``: bulk zips for many small objects, one request per object otherwise."""
        return bulk.choose_strategy(strategy, objects)

    def start_job(self, batch: list[PlannedObject], region: str | None) -> BulkJob | None:
        """Start one bulk job; ``None`` if 8x8 refused it (its objects then come one by one)."""
        return self.zips.start_job(batch, region)

    def cancel_job(self, zip_name: str, region: str | None) -> None:
        """Cancel a bulk job, logging (not raising) if 8x8 refuses."""
        self.zips.cancel_job(zip_name, region)

    def copy_from_zip(
        self, job: BulkJob | None, zip_path: Path | None, batch: list[PlannedObject]
    ) -> list[ManifestRecord]:
        """Copy a batch out of its downloaded zip (see :meth:`.bulk.ZipCopier.copy_from_zip`)."""
        return self.zips.copy_from_zip(job, zip_path, batch)

    def download_zip(self, job: BulkJob, region: str | None, folder: str | None = None) -> Path:
        """Download a finished job's zip to a local temporary file (the caller removes it)."""
        return self.zips.download_zip(job, region, folder)

    def copy_finished_job(self, job: BulkJob, region: str | None, batch: list[PlannedObject]) -> list[ManifestRecord]:
        """Download a finished job's zip and copy its entries (falling back per object where needed)."""
        return self.zips.copy_finished_job(job, region, batch)

    # ------------------------------------------------------------------ deletes (see .deletes)

    def prove_and_delete(self, summary: TransferSummary, publish: Callable[[], None]) -> None:
        """
        Delete at 8x8 the objects whose copies this run proved (see :class:`.deletes.Deleter`); ``publish``
        writes the manifest once the records name what is about to be deleted, before any delete call.
        """
        deleter = deletes.Deleter(self)
        if deleter.mark_proved(summary):
            publish()
            deleter.delete_marked(summary)

    def refuse_deletes(self, summary: TransferSummary, reason: str) -> None:
        """Count every copy of the run as not deleted, for ``reason`` (a run that may delete nothing)."""
        deletes.Deleter(self).refuse(summary, reason)

    # ------------------------------------------------------------------ whole runs (see .run)

    def run(
        self,
        objects: Iterable[StoredObject],
        *,
        delete_after_transfer: bool = False,
        preset_failures: dict[str, str] | None = None,
        on_archived: str = "skip",
        on_not_ready: str = "report",
        strategy: str = "objects",
        **policy: Any,
    ) -> TransferSummary:
        """
        Copy ``objects`` in one call, waiting here for whatever the run waits for (see :class:`.run.TransferRun`).

        The arguments are :class:`.options.RunPolicy`'s and are checked by it, with one difference in default:
        ``on_not_ready="report"`` (a library call reports PENDING objects instead of blocking for up to
        ``not_ready_timeout``); the operator's default is ``"wait"``, as ``RunPolicy``'s.

        :param preset_failures: ids already known to have failed (e.g. unreadable metadata), recorded as such.
        """
        run = TransferRun(
            self,
            RunPolicy(
                strategy=strategy,
                on_archived=on_archived,
                on_not_ready=on_not_ready,
                delete_after_transfer=delete_after_transfer,
                **policy,
            ),
        )
        return run.run_here(objects, missing=preset_failures)

    def run_bulk(
        self,
        objects: Iterable[StoredObject],
        *,
        poll_interval: float = 15.0,
        timeout: float = 6 * 3600,
        limit_bytes: int | None = None,
        **kwargs: Any,
    ) -> TransferSummary:
        """Copy through bulk zip jobs, waiting here for them (operators defer instead)."""
        return self.run(
            objects,
            strategy="bulk",
            poll_interval=poll_interval,
            bulk_timeout=timeout,
            bulk_limit_bytes=limit_bytes or BULK_LIMIT_BYTES,
            **kwargs,
        )
