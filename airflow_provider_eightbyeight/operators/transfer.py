"""EightByEightTransferOperator: copy 8x8 objects to any ObjectStoragePath destination, verified."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_eightbyeight.errors import ConfigurationError, EightByEightError
from airflow_provider_eightbyeight.models import ObjectState, StoredObject
from airflow_provider_eightbyeight.operators._criteria import (
    CRITERIA_TEMPLATE_FIELDS,
    EightByEightSearchBaseOperator,
    _names,
    _seconds,
    stash_for_resume,
    unstash_after_resume,
)
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.engine import (
    ON_ARCHIVED,
    STRATEGIES,
    PlannedObject,
    TransferEngine,
    TransferOptions,
    TransferSummary,
    raise_for_failures,
)
from airflow_provider_eightbyeight.transfer.manifest import ManifestRecord, Status
from airflow_provider_eightbyeight.transfer.paths import DEFAULT_PATH_TEMPLATE, PathTemplateError
from airflow_provider_eightbyeight.triggers.eightbyeight import (
    EightByEightBulkJobTrigger,
    EightByEightRestoreTrigger,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class EightByEightTransferOperator(EightByEightSearchBaseOperator):
    """
    Copy 8x8 Cloud Storage objects (recordings, transcripts...) to local disk, S3, GCS or any other
    destination Airflow's ``ObjectStoragePath`` reaches.

    Every object is streamed (constant memory), verified by size and MD5, and published under its final
    name only once complete. A re-run skips objects already present with the same size and MD5. Each run
    writes a JSON Lines manifest under ``<destination>/_manifests/``. Objects that fail after retries fail
    the task at the end, after everything else was copied (unless ``fail_on_error=False``).

    Source: a search (``filter`` and the criteria arguments) or explicit ``object_ids``.

    :param destination: URL or ``ObjectStoragePath`` of the destination folder, e.g. ``file:///data/8x8/``
        or ``s3://aws_conn@bucket/prefix/``. Templated.
    :param eightbyeight_conn_id: The 8x8 connection. Templated.
    :param region: Optional. Region name(s), or ``"all"``. Default: the connection's, or the only one.
    :param all_regions: Search every region of the account.
    :param filter: Optional. Raw FIQL ANDed with the other criteria. Templated.
    :param object_types: Optional. Object types, e.g. ``["callrecording", "transcription"]``. Templated.
    :param created_after: Optional. Inclusive start of the creation window (datetime, ISO string, epoch ms),
        e.g. ``"{{ data_interval_start }}"``. Templated.
    :param created_before: Optional. Exclusive end of the creation window, e.g. ``"{{ data_interval_end }}"``.
    :param states: Optional. Object states to search (8x8 returns only AVAILABLE objects otherwise).
    :param tags: Optional. Tag equality, e.g. ``{"direction": "INBOUND"}``. Templated.
    :param object_ids: Optional. Explicit ids instead of a search (list; mapped-task friendly). Templated.
    :param destination_conn_id: Optional. Connection of the destination store, if not in the URL. Templated.
    :param path_template: Where each object lands under the destination. Default
        ``{type}/{created:%Y/%m/%d}/{id}_{name}``. Templated.
    :param max_workers: Objects copied at the same time (1..64).
    :param strategy: ``"objects"`` (one download each), ``"bulk"`` (8x8 zip jobs) or ``"auto"``.
    :param write_metadata: Write ``<file>.json`` with the object's 8x8 metadata beside each file.
    :param overwrite: Copy objects again even when a verified copy is present.
    :param delete_after_transfer: Delete at 8x8 the objects whose copies this run verified by MD5.
    :param on_archived: What to do with ARCHIVED objects: ``"skip"`` (record them), ``"fail"``, or
        ``"restore"`` (restore, wait until available, then copy).
    :param fail_on_error: Fail the task when any object could not be copied.
    :param max_objects: Optional. Copy at most this many objects of a search.
    :param deferrable: Wait for bulk jobs and restores in the triggerer instead of a worker slot.
    :param poll_interval: Seconds between bulk job status checks.
    :param bulk_timeout: Seconds to wait for bulk jobs.
    :param restore_expiration_days: Days (1..10) restored copies are kept by 8x8.
    :param restore_poll_interval: Seconds between checks of restoring objects.
    :param restore_timeout: Seconds to wait for restores (8x8 takes up to ~24 h).
    """

    template_fields: Sequence[str] = (
        *CRITERIA_TEMPLATE_FIELDS,
        "object_ids",
        "destination",
        "destination_conn_id",
        "path_template",
        "poll_interval",
        "restore_poll_interval",
    )
    template_fields_renderers = {"tags": "json", "object_ids": "json"}
    ui_color = "#d7ecff"

    def __init__(
        self,
        *,
        destination: Any,
        object_ids: list[str] | str | None = None,
        destination_conn_id: str | None = None,
        path_template: str = DEFAULT_PATH_TEMPLATE,
        max_workers: int = 8,
        strategy: str = "objects",
        write_metadata: bool = False,
        overwrite: bool = False,
        delete_after_transfer: bool = False,
        on_archived: str = "skip",
        fail_on_error: bool = True,
        max_objects: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = 15.0,
        bulk_timeout: float = 6 * 3600,
        restore_expiration_days: int = 7,
        restore_poll_interval: float | str = 600.0,
        restore_timeout: float = 26 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if on_archived not in ON_ARCHIVED:
            raise ValueError(f"on_archived must be one of {', '.join(ON_ARCHIVED)}, got {on_archived!r}")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= 64:
            raise ValueError(f"max_workers must be a whole number from 1 to 64, got {max_workers!r}")
        if not 1 <= restore_expiration_days <= 10:
            raise ValueError(f"restore_expiration_days must be from 1 to 10, got {restore_expiration_days!r}")
        self.destination = destination
        self.object_ids = object_ids
        self.destination_conn_id = destination_conn_id
        self.path_template = path_template
        self.max_workers = max_workers
        self.strategy = strategy
        self.write_metadata = write_metadata
        self.overwrite = overwrite
        self.delete_after_transfer = delete_after_transfer
        self.on_archived = on_archived
        self.fail_on_error = fail_on_error
        self.max_objects = max_objects
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.bulk_timeout = bulk_timeout
        self.restore_expiration_days = restore_expiration_days
        self.restore_poll_interval = restore_poll_interval
        self.restore_timeout = restore_timeout
        self._summary: TransferSummary | None = None
        self._regions_read: list[str] = []

    # ------------------------------------------------------------------ set-up

    def _engine(self, context: Context) -> TransferEngine:
        try:
            options = TransferOptions(
                path_template=self.path_template,
                max_workers=self.max_workers,
                overwrite=self.overwrite,
                write_metadata=self.write_metadata,
            )
        except PathTemplateError as err:
            raise ConfigurationError(str(err)) from None
        ti = context.get("ti")
        label = "_".join(
            str(part)
            for part in (
                getattr(ti, "dag_id", None),
                getattr(ti, "task_id", self.task_id),
                getattr(ti, "map_index", -1) if getattr(ti, "map_index", -1) not in (-1, None) else None,
                getattr(ti, "run_id", None),
            )
            if part is not None
        )
        return TransferEngine(
            self.hook,
            self.destination,
            options,
            run_label=label or self.task_id,
            destination_conn_id=self.destination_conn_id,
            log=self.log,
        )

    def _explicit_ids(self) -> list[str] | None:
        if self.object_ids is None or self.object_ids == "":
            return None
        ids = _names(self.object_ids, "object_ids")
        return ids or []

    def _source(self, engine: TransferEngine) -> tuple[list[StoredObject], dict[str, str]]:
        """The objects to consider (with their metadata) and ids whose metadata could not be read."""
        ids = self._explicit_ids()
        if ids is not None:
            if not ids:
                self.log.info("No object ids given: nothing to copy.")
                return [], {}
            regions = self.search_regions()
            region = regions["region"][0] if regions["region"] else None
            objects, missing = engine.resolve_ids(ids, region=region)
            return objects, missing
        extra = ("ARCHIVED",) if not self.states else ()
        objects = list(
            self.hook.iter_objects(
                self.object_filter(extra_states=extra), max_objects=self.max_objects, **self.search_regions()
            )
        )
        self.log.info("Found %d matching object(s).", len(objects))
        return objects, {}

    def _split_archived(
        self, engine: TransferEngine, objects: list[StoredObject], *, after_restore: bool
    ) -> tuple[list[StoredObject], list[ManifestRecord], list[StoredObject]]:
        """(objects to copy, records of objects not copied, archived objects to restore)."""
        copy: list[StoredObject] = []
        records: list[ManifestRecord] = []
        to_restore: list[StoredObject] = []
        for obj in objects:
            if obj.state == ObjectState.ARCHIVED.value:
                if after_restore:
                    records.append(engine.not_copied_record(obj, Status.FAILED, "still ARCHIVED after restore wait"))
                elif self.on_archived == "restore":
                    to_restore.append(obj)
                elif self.on_archived == "fail":
                    records.append(
                        engine.not_copied_record(obj, Status.FAILED, "object is ARCHIVED (on_archived='fail')")
                    )
                else:
                    records.append(
                        engine.not_copied_record(obj, Status.ARCHIVED, "object is ARCHIVED (on_archived='skip')")
                    )
            elif obj.is_available:
                copy.append(obj)
            else:
                records.append(engine.not_copied_record(obj, Status.FAILED, f"object is {obj.state}, not AVAILABLE"))
        return copy, records, to_restore

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> dict[str, Any]:
        return self._transfer(context, after_restore=False)

    def _transfer(self, context: Context, *, after_restore: bool) -> dict[str, Any]:
        engine = self._engine(context)
        objects, missing = self._source(engine)
        copy, records, to_restore = self._split_archived(engine, objects, after_restore=after_restore)
        if to_restore:
            self._restore(to_restore)
            self._wait_for_restore(to_restore)  # defers, or waits here
            return self._transfer(context, after_restore=True)
        self._regions_read = sorted({o.region for o in objects if o.region})
        strategy = engine.choose_strategy(self.strategy, copy)
        if strategy == "bulk":
            if self.deferrable:
                return self._start_bulk_deferred(context, engine, copy, records, missing)
            summary = engine.run_bulk(
                copy,
                delete_after_transfer=self.delete_after_transfer,
                preset_failures=missing,
                extra_records=records,
                poll_interval=_seconds(self.poll_interval, "poll_interval"),
                timeout=self.bulk_timeout,
            )
        else:
            summary = engine.run(
                copy,
                delete_after_transfer=self.delete_after_transfer,
                preset_failures=missing,
                extra_records=records,
            )
        return self._complete(context, summary)

    def _complete(self, context: Context, summary: TransferSummary) -> dict[str, Any]:
        self._summary = summary
        result = summary.as_dict()
        self._annotate_outlets(context, result)
        if self.fail_on_error:
            raise_for_failures(summary)
        elif summary.failures:
            self.log.warning("%d object(s) failed; fail_on_error=False, so the task succeeds.", summary.failed)
        return result

    def _annotate_outlets(self, context: Context, result: dict[str, Any]) -> None:
        events = context.get("outlet_events")
        if events is None or not self.outlets:
            return
        extra = {k: result[k] for k in ("copied", "skipped", "failed", "bytes_copied", "manifest", "destination")}
        for outlet in self.outlets:
            try:
                events[outlet].extra = extra
            except Exception as err:  # not an asset outlet
                self.log.debug("Outlet %r takes no event extra: %s", outlet, err)

    # ------------------------------------------------------------------ restores

    def _restore(self, objects: list[StoredObject]) -> None:
        self.log.info("Restoring %d archived object(s) for %d day(s).", len(objects), self.restore_expiration_days)
        for obj in objects:
            self.hook.restore_object(obj.id, self.restore_expiration_days, region=obj.region)

    def _wait_for_restore(self, objects: list[StoredObject]) -> None:
        refs = [{"id": o.id, "region": o.region} for o in objects]
        if self.deferrable:
            self.defer(
                trigger=EightByEightRestoreTrigger(
                    eightbyeight_conn_id=self.eightbyeight_conn_id,
                    objects=refs,
                    poll_interval=_seconds(self.restore_poll_interval, "restore_poll_interval"),
                    timeout_at=time.time() + self.restore_timeout,
                ),
                method_name="execute_after_restore",
                timeout=timedelta(seconds=self.restore_timeout + 3600),
            )
        deadline = time.monotonic() + self.restore_timeout
        trigger = EightByEightRestoreTrigger(eightbyeight_conn_id=self.eightbyeight_conn_id, objects=refs)
        while trigger.pending(self.hook) and time.monotonic() < deadline:
            time.sleep(_seconds(self.restore_poll_interval, "restore_poll_interval"))

    def execute_after_restore(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the restore trigger fired: copy everything that is available now."""
        if event.get("status") == "error":
            raise EightByEightError(f"Waiting for restores failed: {event.get('message')}")
        if event.get("status") == "timeout":
            self.log.warning("Restores not finished in time: %s", event.get("message"))
        return self._transfer(context, after_restore=True)

    # ------------------------------------------------------------------ deferred bulk

    def _start_bulk_deferred(
        self,
        context: Context,
        engine: TransferEngine,
        objects: list[StoredObject],
        records: list[ManifestRecord],
        missing: dict[str, str],
    ) -> dict[str, Any]:
        from airflow_provider_eightbyeight.hooks.eightbyeight import BULK_LIMIT_BYTES

        started = time.monotonic()
        planned = engine.plan(objects)
        todo, done = engine.pending_for_bulk(planned)
        if not todo:
            summary = engine.finish(
                done + records + _failures(engine, missing),
                delete_after_transfer=self.delete_after_transfer,
                strategy="bulk",
                started=started,
            )
            return self._complete(context, summary)
        batches = []
        single = engine.too_big_for_bulk(todo, BULK_LIMIT_BYTES)
        if single:  # over the per-job limit: copied now, one request each (the rest waits for its zips)
            done.extend(engine._map(single, engine.copy_one))
            todo = [p for p in todo if p not in single]
        by_region: dict[str | None, list[PlannedObject]] = {}
        for item in todo:
            by_region.setdefault(item.obj.region, []).append(item)
        for region, items in by_region.items():
            for batch in engine.bulk_batches(items, BULK_LIMIT_BYTES):
                job = self.hook.start_bulk_download([p.obj for p in batch], region=region)[0]
                batches.append({"zip_name": job.zip_name, "region": region, "ids": [p.obj.id for p in batch]})
        self.log.info("Started %d bulk job(s) for %d object(s); deferring until they finish.", len(batches), len(todo))
        stash_for_resume(context, "bulk_batches", batches)
        self.defer(
            trigger=EightByEightBulkJobTrigger(
                eightbyeight_conn_id=self.eightbyeight_conn_id,
                jobs=[{"zip_name": b["zip_name"], "region": b["region"]} for b in batches],
                poll_interval=_seconds(self.poll_interval, "poll_interval"),
                timeout_at=time.time() + self.bulk_timeout,
            ),
            method_name="execute_after_bulk",
            timeout=timedelta(seconds=self.bulk_timeout + 3600),
        )
        raise AssertionError("unreachable: defer() raises")  # pragma: no cover

    def execute_after_bulk(
        self, context: Context, event: dict[str, Any], batches: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Resume after the bulk jobs finished: copy every zip's entries, and the rest one by one."""
        if event.get("status") == "error":
            raise EightByEightError(f"Waiting for bulk jobs failed: {event.get('message')}")
        started = time.monotonic()
        batches = batches or unstash_after_resume(context, "bulk_batches", [])
        engine = self._engine(context)
        objects, missing = self._source(engine)
        copy, records, _ = self._split_archived(engine, objects, after_restore=True)
        self._regions_read = sorted({o.region for o in objects if o.region})
        planned = engine.plan(copy)
        todo, done = engine.pending_for_bulk(planned)
        pending = {p.obj.id: p for p in todo}
        results: list[ManifestRecord] = done + records + _failures(engine, missing)
        for batch in batches or []:
            items = [pending.pop(i) for i in batch["ids"] if i in pending]
            if not items:
                continue
            job = self.hook.get_bulk_job(batch["zip_name"], region=batch["region"])
            results.extend(engine.copy_finished_job(job, batch["region"], items))
        if pending:
            self.log.info("%d object(s) were not in any bulk job; copying them one by one.", len(pending))
            results.extend(engine._map(list(pending.values()), engine.copy_one))
        summary = engine.finish(
            results, delete_after_transfer=self.delete_after_transfer, strategy="bulk", started=started
        )
        return self._complete(context, summary)

    # ------------------------------------------------------------------ lineage

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: 8x8 regions in, the destination out (needs apache-airflow-providers-openlineage)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        namespace = f"eightbyeight://{storage_host(self.hook.settings.api_base_url)}"
        inputs = [Dataset(namespace=namespace, name=f"storage/{region}") for region in self._regions_read]
        root = storage.as_storage_path(self.destination, self.destination_conn_id)
        name = str(storage.local_path(root)) if storage.is_local(root) else (root.key or "/")
        outputs = [Dataset(namespace=root.namespace, name=name)]
        return OperatorLineage(inputs=inputs, outputs=outputs)


def storage_host(url: str) -> str:
    """The host (and port) of a URL."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _failures(engine: TransferEngine, missing: dict[str, str]) -> list[ManifestRecord]:
    return [engine._failed_record(object_id, None, reason) for object_id, reason in missing.items()]
