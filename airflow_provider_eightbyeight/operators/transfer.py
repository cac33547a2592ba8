"""EightByEightTransferOperator: copy 8x8 objects to any ObjectStoragePath destination, verified."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight import arguments, waits
from airflow_provider_eightbyeight.compat import AssetAlias, BaseAsset, conf, require
from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.models import StoredObject
from airflow_provider_eightbyeight.operators import links
from airflow_provider_eightbyeight.operators._criteria import (
    CRITERIA_TEMPLATE_FIELDS,
    LOCATE_CHUNK,
    EightByEightSearchBaseOperator,
    _names,
    _seconds,
    stash_for_resume,
    unstash_after_resume,
)
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.engine import TransferEngine
from airflow_provider_eightbyeight.transfer.options import (
    DEFAULT_MAX_WORKERS,
    TransferOptions,
    check_options,
    check_policy,
)
from airflow_provider_eightbyeight.transfer.paths import DEFAULT_PATH_TEMPLATE, PathTemplateError
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun
from airflow_provider_eightbyeight.transfer.summary import TransferSummary, raise_for_failures
from airflow_provider_eightbyeight.triggers.eightbyeight import trigger_for
from airflow_provider_eightbyeight.watch import ids_from_event

#: States searched besides AVAILABLE (when ``states`` is not given): everything that may still be copied.
SEARCHED_STATES = ("ARCHIVED", "PENDING", "FAILED")
#: When the task's asset outlets get an event (see ``asset_events``).
ASSET_EVENTS = ("changed", "always")
_RUN_STATE = "transfer_run"

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.compat import Context


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
    :param from_triggering_events: Copy exactly the objects named by the asset events that started this run
        (events of :class:`~airflow_provider_eightbyeight.triggers.new_objects.EightByEightNewObjectsTrigger`
        in an ``AssetWatcher``), each read in its region, instead of a search. A run with no such event copies
        nothing (and says so). Not with ``object_ids`` or search criteria: the watcher already filtered.
    :param destination_conn_id: Optional. Connection of the destination store, if not in the URL. Templated.
    :param path_template: Where each object lands under the destination. Default
        ``{type}/{created:%Y/%m/%d}/{id}_{name}``. Templated.
    :param max_workers: Objects copied at the same time (1..128). The default, 64, hides a WAN round trip to
        8x8 (at 80 ms per request it copies ~5x as fast as 8); the run halves it while 8x8 answers 429.
    :param strategy: ``"objects"`` (one download each), ``"bulk"`` (8x8 zip jobs) or ``"auto"``.
    :param write_metadata: Write ``<file>.meta.json`` with the object's 8x8 metadata beside each file.
    :param overwrite: Copy objects again even when a verified copy is present.
    :param delete_after_transfer: Delete at 8x8 the objects whose copies this run verified by MD5.
    :param on_archived: What to do with ARCHIVED objects: ``"skip"`` (record them), ``"fail"``, or
        ``"restore"`` (restore, wait until available, then copy).
    :param fail_on_error: Fail the task when any object could not be copied.
    :param max_objects: Optional. Copy at most this many objects of a search.
    :param deferrable: Wait for bulk jobs and restores in the triggerer instead of a worker slot (a wait whose
        check is already satisfied right before deferring goes on in the worker with the same event; see the
        README, "Deferral and Airflow's stale-success race").
    :param poll_interval: Seconds between bulk job status checks.
    :param bulk_timeout: Seconds to wait for bulk jobs.
    :param restore_expiration_days: Days (1..10) restored copies are kept by 8x8.
    :param restore_poll_interval: Seconds between checks of restoring objects.
    :param restore_timeout: Seconds to wait for restores (8x8 takes up to ~24 h).
    :param on_not_ready: Objects that are PENDING (still processing, or restoring) or in another state that
        is neither AVAILABLE nor ARCHIVED: ``"wait"`` until they are AVAILABLE (deferrable), then fail the
        task naming those still not ready; ``"fail"`` the task at once naming them (no wait; everything
        else is copied first); or ``"report"`` them in the manifest and summary only.
    :param not_ready_poll_interval: Seconds between checks of objects that are not ready.
    :param not_ready_timeout: Seconds to wait for objects that are not ready (when no restore is waited for).
    :param asset_events: When the task's asset ``outlets`` get an event: ``"changed"`` (default) only when the
        run wrote something new at the destination (copied or restored objects), so DAGs scheduled on the
        asset do not run for nothing; ``"always"`` on every success. Events carry the run's counts and
        manifest in their ``extra``. (``AssetAlias`` outlets are left alone.)
    """

    template_fields: Sequence[str] = (
        *CRITERIA_TEMPLATE_FIELDS,
        "object_ids",
        "destination",
        "destination_conn_id",
        "path_template",
        "poll_interval",
        "restore_poll_interval",
        "not_ready_poll_interval",
    )
    template_fields_renderers = {"tags": "json", "object_ids": "json"}
    ui_color = "#d7ecff"
    #: The destination and the manifest in the object store's console (S3, GCS; none for local files).
    operator_extra_links = (links.EightByEightDestinationLink(), links.EightByEightManifestLink())

    def __init__(
        self,
        *,
        destination: Any,
        object_ids: list[str] | str | None = None,
        destination_conn_id: str | None = None,
        path_template: str = DEFAULT_PATH_TEMPLATE,
        max_workers: int = DEFAULT_MAX_WORKERS,
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
        on_not_ready: str = "wait",
        not_ready_poll_interval: float | str = 60.0,
        not_ready_timeout: float = 6 * 3600,
        asset_events: str = "changed",
        from_triggering_events: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_triggering_events = bool(from_triggering_events)
        if self.from_triggering_events:
            require("event-driven scheduling", "from_triggering_events=True")
            conflicting = [
                name
                for name in ("object_ids", "filter", "object_types", "created_after", "created_before", "tags")
                if (object_ids if name == "object_ids" else getattr(self, name, None)) not in (None, "", [], {})
            ]
            if conflicting or max_objects is not None:
                raise ValueError(
                    "from_triggering_events=True copies exactly the objects the triggering asset events name; "
                    f"remove {', '.join(conflicting or ['max_objects'])} (the watcher's trigger does the filtering)"
                )
        self.asset_events = arguments.choice("asset_events", asset_events, ASSET_EVENTS)
        # the run's own checks (transfer.options), at parse time: a DAG with a bad argument fails to load
        check_policy(strategy=strategy, on_archived=on_archived, on_not_ready=on_not_ready)
        check_policy(restore_expiration_days=restore_expiration_days)
        check_options(max_workers=max_workers)
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
        self.on_not_ready = on_not_ready
        self.not_ready_poll_interval = not_ready_poll_interval
        self.not_ready_timeout = not_ready_timeout
        self._summary: TransferSummary | None = None
        self._run: TransferRun | None = None
        self._regions_read: list[str] = []

    # ------------------------------------------------------------------ set-up

    def _engine(self, context: Context) -> TransferEngine:
        try:
            options = TransferOptions(
                path_template=self.path_template,
                max_workers=self.max_workers,
                overwrite=self.overwrite,
                write_metadata=self.write_metadata,
                prove_skips=self.delete_after_transfer,
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

    def _policy(self) -> RunPolicy:
        return RunPolicy(
            strategy=self.strategy,
            on_archived=self.on_archived,
            on_not_ready=self.on_not_ready,
            delete_after_transfer=self.delete_after_transfer,
            restore_expiration_days=self.restore_expiration_days,
            poll_interval=_seconds(self.poll_interval, "poll_interval"),
            bulk_timeout=self.bulk_timeout,
            restore_poll_interval=_seconds(self.restore_poll_interval, "restore_poll_interval"),
            restore_timeout=self.restore_timeout,
            not_ready_poll_interval=_seconds(self.not_ready_poll_interval, "not_ready_poll_interval"),
            not_ready_timeout=self.not_ready_timeout,
        )

    def _explicit_ids(self) -> list[str] | None:
        if self.object_ids is None or self.object_ids == "":
            return None
        ids = _names(self.object_ids, "object_ids")
        return ids or []

    def _source(
        self, engine: TransferEngine, context: Context | None = None
    ) -> tuple[Iterable[StoredObject], dict[str, str]]:
        """The objects to consider (with their metadata) and ids whose metadata could not be read."""
        if self.from_triggering_events:
            by_region = self._event_ids(context)
            missing_from_events: dict[str, str] = {}
            return self._iter_event_objects(by_region, missing_from_events), missing_from_events
        ids = self._explicit_ids()
        if ids is not None:
            if not ids:
                self.log.info("No object ids given: nothing to copy.")
                return [], {}
            missing: dict[str, str] = {}  # filled as the ids are looked up, chunk by chunk
            return self.iter_located(ids, missing), missing
        # Every state that may still become copyable, so nothing the search could see is left out silently.
        extra = SEARCHED_STATES if not self.states else ()
        stream = self.hook.iter_objects(  # copying starts after the first page
            self.object_filter(extra_states=extra), max_objects=self.max_objects, **self.search_regions()
        )
        return stream, {}

    def _event_ids(self, context: Context | None) -> dict[str | None, list[str]]:
        """
        The object ids the triggering asset events of the watcher name, by region, each once.

        :raises ConfigurationError: naming the event, when a watcher event's payload is malformed.
        """
        accessor = (context or {}).get("triggering_asset_events") or {}
        found: dict[str | None, dict[str, None]] = {}
        events = connections = 0
        for asset_events in accessor.values():
            for event in asset_events:
                events += 1
                try:
                    named = ids_from_event(event.extra)
                except ValueError as err:
                    asset = getattr(getattr(event, "asset", None), "name", "?")
                    raise ConfigurationError(
                        f"The asset event of {asset} at {getattr(event, 'timestamp', '?')} claims to come from an "
                        f"8x8 new-objects watcher but its payload is malformed: {err}",
                        hint="Only EightByEightNewObjectsTrigger should emit such events; nothing was copied",
                    ) from None
                if named is None:
                    continue
                payload = event.extra.get("payload") or {}
                if payload.get("connection") not in (None, self.eightbyeight_conn_id):
                    connections += 1
                for region, ids in named.items():
                    found.setdefault(region, {}).update(dict.fromkeys(ids))
        by_region = {region: list(ids) for region, ids in found.items()}
        count = sum(len(ids) for ids in by_region.values())
        if connections:
            self.log.warning(
                "%d triggering event(s) come from a watcher of another connection than %r: their ids are looked "
                "up with %r.",
                connections,
                self.eightbyeight_conn_id,
                self.eightbyeight_conn_id,
            )
        if not count:
            self.log.warning(
                "No triggering asset event of an 8x8 new-objects watcher names an object (%d asset event(s)): "
                "nothing to copy. from_triggering_events=True is for DAGs scheduled on an Asset whose "
                "AssetWatcher uses EightByEightNewObjectsTrigger.",
                events,
            )
        else:
            self.log.info("Copying the %d object(s) named by %d triggering asset event(s).", count, events)
        return by_region

    def _iter_event_objects(
        self, by_region: dict[str | None, list[str]], missing: dict[str, str]
    ) -> Iterator[StoredObject]:
        """The events' objects read in their regions (one search per 100 ids); the others added to ``missing``."""
        regions = self.hook.get_regions() if any(r is not None for r in by_region) else []
        for region, ids in by_region.items():
            if region is None:
                yield from self.iter_located(ids, missing)
                continue
            if region not in regions:
                why = (
                    f"the event names region {region!r}, which is not one of this account's regions "
                    f"({', '.join(regions) or 'none'}) for connection {self.eightbyeight_conn_id!r}"
                )
                missing.update(dict.fromkeys(ids, why))
                continue
            for start in range(0, len(ids), LOCATE_CHUNK):
                chunk = ids[start : start + LOCATE_CHUNK]
                found = self.hook.get_objects(chunk, region=region)
                for object_id in chunk:
                    if object_id in found:
                        yield found[object_id]
                    else:
                        missing[object_id] = f"not found at 8x8 in region {region} (deleted since the event?)"

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> dict[str, Any]:
        policy = self._policy()
        engine = self._engine(context)
        objects, missing = self._source(engine, context)
        run = TransferRun(engine, policy)
        return self._drive(context, run, run.start(objects, missing))

    def execute_resume(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger of a pause fired: continue the same run where it stopped."""
        run = TransferRun.from_state(
            self._engine(context), self._policy(), unstash_after_resume(context, _RUN_STATE, None)
        )
        return self._drive(context, run, run.resume(event))

    def _drive(self, context: Context, run: TransferRun, outcome: Pause | TransferSummary) -> dict[str, Any]:
        """Wait at each pause of the run (deferring when deferrable), then complete."""
        self._run = run
        ti = context.get("ti")
        if ti is not None:  # the extra links' places, from the start: a failed or deferred run has them too
            places = {"destination": storage.url_of(run.engine.root), "manifest": run.manifest_url}
            ti.xcom_push(key=links.XCOM_KEY, value=places)
        while isinstance(outcome, Pause):
            if self.deferrable:
                # Never defer on a wait that is over (a trigger firing at once races Airflow's executor
                # events): the run goes on here with the very event the trigger would have sent.
                event = waits.event_now(outcome.wait, run.engine.hook)
                if event is not None:
                    self.log.info("The wait for %s is over already: continuing without deferring.", outcome.what)
                    outcome = run.resume(event)
                    continue
                try:
                    trigger = trigger_for(outcome.wait, run.engine.hook.eightbyeight_conn_id)
                    stash_for_resume(context, _RUN_STATE, run.state())
                except BaseException as err:  # no deferral: nobody will collect the run's jobs
                    run.abort(err)
                    raise
                run.close()  # the resumed run reads the manifest published at the pause
                self.log.info("Deferring until %s are done.", outcome.what)
                self.defer(trigger=trigger, method_name="execute_resume", timeout=timedelta(seconds=outcome.timeout))
            outcome = run.resume(run.wait_here(outcome))
        self._regions_read = sorted(run.regions)
        return self._complete(context, outcome)

    def on_kill(self) -> None:
        """Cancel the bulk jobs of a run that is being killed."""
        if self._run is not None:
            self._run.cancel()

    def _complete(self, context: Context, summary: TransferSummary) -> dict[str, Any]:
        self._summary = summary
        result = summary.as_dict()
        self._annotate_outlets(context, result)
        if self.fail_on_error:
            raise_for_failures(summary)
        elif summary.failure_count:
            self.log.warning(
                "%d object(s) were not copied; fail_on_error=False, so the task succeeds.", summary.failure_count
            )
        return result

    def _annotate_outlets(self, context: Context, result: dict[str, Any]) -> None:
        if not self.outlets:
            return
        if self.asset_events == "changed" and not (result["copied"] or result["restored"]):
            assets = [o for o in self.outlets if isinstance(o, BaseAsset) and not isinstance(o, AssetAlias)]
            if assets:
                # Airflow emits an event for every asset outlet of a successful task: drop them for this try
                self.outlets = [o for o in self.outlets if o not in assets]
                self.log.info(
                    "Nothing new at the destination (%d already present, %d not ready, %d failed): no asset event "
                    "for %s (asset_events='changed'; 'always' emits one on every success).",
                    result["skipped"],
                    result["not_ready"],
                    result["failed"],
                    ", ".join(getattr(a, "name", None) or str(a) for a in assets),
                )
            return
        events = context.get("outlet_events")
        if events is None:
            return
        keys = ("copied", "restored", "skipped", "not_ready", "failed", "bytes_copied", "manifest", "destination")
        extra = {k: result[k] for k in keys}
        for outlet in self.outlets:
            try:
                events[outlet].extra = extra
            except Exception as err:  # not an asset outlet
                self.log.debug("Outlet %r takes no event extra: %s", outlet, err)

    # ------------------------------------------------------------------ lineage

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: 8x8 regions in, the destination out (needs apache-airflow-providers-openlineage)."""
        from airflow_provider_eightbyeight.compat import openlineage_types

        Dataset, OperatorLineage = openlineage_types()
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
