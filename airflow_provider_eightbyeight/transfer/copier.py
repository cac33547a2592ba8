"""
The mechanics of copying 8x8 objects to one destination: where each goes, whether a verified copy is already
there, the concurrent streamed download, and each object's record.

:mod:`.run` owns a whole run (which objects, in which order, the waits for bulk jobs, restores and pending
objects, the manifest); :mod:`.bulk` copies out of bulk zips and :mod:`.deletes` deletes at 8x8, both through
a :class:`Copier`; :class:`.engine.TransferEngine` is the façade over all of them.

Guarantees:

- every copied object is verified (size, and MD5 when 8x8 gives a plain MD5) before it becomes visible
  under its final name (see :mod:`.storage`);
- a destination path belongs to one object: a file that holds another object's copy (by an earlier
  manifest or its sidecar) or bytes of unknown origin is never overwritten; the object is written beside
  it with ``~<id>`` in its name, and the record says why;
- a re-run skips objects already present with the same size and MD5 and copies the rest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from airflow_provider_eightbyeight.errors import (
    AuthenticationError,
    ConfigurationError,
    ObjectNotAvailableError,
    PathTakenError,
    PermissionDeniedError,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.local_files import remove_stale_parts
from airflow_provider_eightbyeight.models import StoredObject
from airflow_provider_eightbyeight.transfer import placement, report, storage
from airflow_provider_eightbyeight.transfer.listing import FolderCache
from airflow_provider_eightbyeight.transfer.malloc import limit_arenas
from airflow_provider_eightbyeight.transfer.manifest import (
    LEGACY_SIDECAR_SUFFIX,
    MANIFEST_DIR,
    SIDECAR_SUFFIX,
    Evidence,
    ManifestRecord,
    Status,
)
from airflow_provider_eightbyeight.transfer.options import (
    TransferOptions,
)
from airflow_provider_eightbyeight.transfer.paths import (
    disambiguate,
    is_safe_relative,
    render_path,
)
from airflow_provider_eightbyeight.transfer.store import RunStore, TakenPaths

_R = TypeVar("_R")
#: The paths (casefolded) a run has taken: the run's store (on disk), or a set for a one-off plan.
Taken = TakenPaths | set[str]
#: Errors that, when every attempt of a run fails with them, mean no other object can succeed either.
FATAL_ERRORS = (AuthenticationError, PermissionDeniedError, ConfigurationError)
#: A run stops early only after this many attempts in a row failed with one of :data:`FATAL_ERRORS`
#: and nothing succeeded before them; the objects not attempted are recorded as failed.
STOP_AFTER_SAME_FAILURES = 10
#: How many alternative names (``~<id>``, ``~<id>-2``...) are tried for an object whose path is taken.
MAX_PLACEMENTS = 5


@dataclass
class PlannedObject:
    """One object and where it goes."""

    obj: StoredObject
    relative_path: str
    #: The destination root the relative path is under.
    root: storage.DestinationRoot = field(repr=False)
    #: Why the object is not at the path its template rendered (set when the path was taken).
    note: str | None = None
    #: The parsed metadata sidecar at the target, once read (``{}`` when there is none).
    sidecar_doc: dict[str, Any] | None = field(default=None, repr=False)
    #: Whether writing may replace a file at the target (only this object's own copy is ever replaced).
    replace: bool = False
    #: The path the object was planned at before :meth:`Copier.place` moved it beside another file
    #: (the run keeps it taken; a resumed run takes it again from the record's ``extra["rendered_path"]``).
    displaced_from: str | None = None

    @property
    def target(self) -> Any:
        """The ``ObjectStoragePath`` of the copy."""
        return self.root.target(self.relative_path)

    @property
    def url(self) -> str:
        """A printable URL of the copy."""
        return self.root.url(self.relative_path)

    def sink_factory(self, block_size: int) -> Any:
        """Write targets for the copy (see :func:`storage.sink_factory`), replacing a file only if ``replace``."""
        return self.root.sink_factory(self.relative_path, block_size, replace=self.replace)

    @property
    def sidecar(self) -> Any:
        """The metadata sidecar's path."""
        return self.root.target(self.relative_path + SIDECAR_SUFFIX)


class _Breaker:
    """
    Stops a run early only when every attempt so far failed the same fatal way (a revoked key, a key
    without access): :data:`STOP_AFTER_SAME_FAILURES` in a row and nothing succeeded before.
    """

    def __init__(self) -> None:
        self.succeeded = False
        self.streak = 0
        self.kind: str | None = None
        self.reason: str | None = None
        self._lock = threading.Lock()

    def saw(self, record: ManifestRecord) -> None:
        with self._lock:
            kind = record.extra.get("error") if record.status == Status.FAILED else None
            if kind is None:
                if record.status != Status.FAILED:
                    self.succeeded = True
                self.streak, self.kind = 0, None
                return
            if kind != self.kind:
                self.streak, self.kind = 0, kind
            self.streak += 1
            self.reason = record.reason

    @property
    def tripped(self) -> bool:
        fatal = {cls.__name__ for cls in FATAL_ERRORS}
        return not self.succeeded and self.kind in fatal and self.streak >= STOP_AFTER_SAME_FAILURES


class Concurrency:
    """
    How many objects are in flight: up to ``2 x max_workers`` (a queue keeps every worker busy), halved each
    time 8x8 answers HTTP 429 (too many requests) and grown back by one per completed round of objects
    (additive increase, multiplicative decrease), so a default worker count sized for a WAN round trip still
    respects 8x8's rate limits.
    """

    def __init__(self, max_workers: int, log: Any) -> None:
        self.ceiling = 2 * max_workers
        self.allowed = self.ceiling
        self.log = log
        self._seen_429 = 0
        self._done = 0

    def observe(self, rate_limited: int, completed: int) -> None:
        """Take the hook's count of 429 answers so far and the number of objects just completed."""
        if rate_limited > self._seen_429:
            self._seen_429 = rate_limited
            lowered = max(1, self.allowed // 2)
            if lowered < self.allowed:
                self.log.warning(
                    "8x8 answered 429 (too many requests); copying %d object(s) at a time instead of %d.",
                    lowered,
                    self.allowed,
                )
            self.allowed, self._done = lowered, 0
            return
        if self.allowed < self.ceiling:
            self._done += completed
            if self._done >= self.allowed:
                self.allowed, self._done = self.allowed + 1, 0


class Copier:
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
        limit_arenas()  # before the copy threads start: memory must not grow with the objects copied
        self._store: RunStore | None = None
        self._in_flight: set[Future[ManifestRecord]] = set()
        self._in_flight_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._root = storage.DestinationRoot(self.root)
        self._folders = FolderCache(self.root)
        self.breaker = _Breaker()
        #: How many copies run at once: ``max_workers``, less while 8x8 answers 429 (see :class:`Concurrency`).
        self.concurrency = Concurrency(self.options.max_workers, self.log)

    @property
    def store(self) -> RunStore:
        """
        The run's records, seen ids, taken paths and earlier copies, on local disk (see :mod:`.store`); a new
        one after :meth:`close` (the engine can run again).
        """
        if self._store is None or self._store.closed:
            self._store = RunStore()
        return self._store

    def close(self) -> None:
        """Remove the run's working state (see :mod:`.store`); the published manifest stays."""
        if self._store is not None:
            self._store.close()

    # ------------------------------------------------------------------ planning

    def plan(self, objects: Iterable[StoredObject], taken: Taken | None = None) -> list[PlannedObject]:
        """
        Render every object's destination; objects that collide in this run get an id suffix.
        Duplicates are dropped.

        :param taken: Optional. Paths (casefolded) already used in this run; updated in place.
        """
        seen: set[str] = set()
        unique = [o for o in objects if not (o.id in seen or seen.add(o.id))]  # type: ignore[func-returns-value]
        return list(self.iter_plan(unique, taken))

    def iter_plan(self, objects: Iterable[StoredObject], taken: Taken | None = None) -> Iterator[PlannedObject]:
        """
        :meth:`plan` as objects come (a search's pages), for objects already free of duplicates; the paths
        taken are kept in ``taken`` (the run's store keeps them on disk, so memory does not grow).
        """
        taken = set() if taken is None else taken
        for obj in objects:
            relative = render_path(self.options.path_template, obj)
            unique = self._free_path(relative, obj.id, taken)
            item = self.at(obj, unique)
            if unique != relative:
                item.note = f"{relative} is also the path of another object (or its sidecar) in this run"
                self.log.warning(
                    "Objects render to the same path %s; writing %s to %s instead.", relative, obj.id, unique
                )
            taken.update(self.claims(unique))
            yield item

    def claims(self, relative: str) -> set[str]:
        """The paths (casefolded) a copy at ``relative`` occupies: itself, and its sidecar if written."""
        paths = {relative.casefold()}
        if self.options.write_metadata:
            paths.add((relative + SIDECAR_SUFFIX).casefold())
        return paths

    def _free_path(self, relative: str, object_id: str, taken: Taken) -> str:
        """``relative``, or its ``~<id>`` form, whichever (with its sidecar) is not yet taken in this run."""
        if not any(path in taken for path in self.claims(relative)):
            return relative
        tried = {relative}
        while True:
            candidate = disambiguate(relative, object_id, tried)
            if not any(path in taken for path in self.claims(candidate)):
                return candidate
            tried.add(candidate)

    def at(self, obj: StoredObject, relative: str) -> PlannedObject:
        """An object planned at ``relative`` under the destination."""
        return PlannedObject(obj, relative, self._root)

    def read_back(self, refs: Iterable[tuple[str, str | None]]) -> dict[str, StoredObject]:
        """
        Current metadata of objects by id, whatever their state (:meth:`EightByEightHook.get_objects`, per
        region): objects that changed state are followed, never looked for by a new search. Ids 8x8 no longer
        knows are absent from the result.
        """
        by_region: dict[str | None, list[str]] = {}
        for object_id, region in refs:
            by_region.setdefault(region, []).append(object_id)
        found: dict[str, StoredObject] = {}
        for region, ids in by_region.items():
            found.update(self.hook.get_objects(ids, region=region))
        return found

    # ------------------------------------------------------------------ copying

    def map(
        self, items: Iterable[PlannedObject], work: Callable[[PlannedObject], ManifestRecord]
    ) -> Iterator[ManifestRecord]:
        """
        Run ``work`` over items with at most 2 x max_workers in flight. ``work`` never raises for one
        object's problem; if every attempt fails the same fatal way (:class:`_Breaker`), the items not
        yet started are recorded as failed without an attempt.
        """
        limit = self.concurrency
        pool = ThreadPoolExecutor(self.options.max_workers, thread_name_prefix="8x8-copy")
        try:
            pending: set[Future[ManifestRecord]] = set()
            iterator = iter(items)
            source_error: BaseException | None = None
            while True:
                while len(pending) < limit.allowed and not self.breaker.tripped and source_error is None:
                    try:
                        item = next(iterator, None)
                    except Exception as err:  # the search failed: finish what is in flight, then raise
                        source_error = err
                        break
                    if item is None:
                        break
                    future = pool.submit(work, item)
                    with self._in_flight_lock:
                        self._in_flight.add(future)
                    pending.add(future)
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                limit.observe(self.hook.stats.rate_limited, len(done))
                for future in done:
                    record = future.result()
                    self.breaker.saw(record)
                    yield record
                    with self._in_flight_lock:  # only once the run took it (see stop_copies)
                        self._in_flight.discard(future)
            if source_error is not None:
                raise source_error
            if self.breaker.tripped:
                reason = (
                    f"not attempted: the run stopped after {self.breaker.streak} attempts in a row failed with "
                    f"{self.breaker.kind} and none succeeded ({self.breaker.reason})"
                )
                for item in iterator:
                    yield self.failed_record(item.obj.id, item, reason, obj=item.obj)
        finally:  # the consumer stopped (an error, a kill): start nothing new, let running copies finish
            pool.shutdown(wait=True, cancel_futures=True)

    def stop_copies(self) -> list[ManifestRecord]:
        """
        Stop the copy pool of an interrupted run: copies not started are cancelled, running ones finish, and
        their records (not yet taken by the run) are returned, so the manifest tells what they did.
        """
        with self._in_flight_lock:
            futures, self._in_flight = list(self._in_flight), set()
        records = []
        for future in futures:
            if future.cancel():
                continue
            try:
                record = future.result()
            except BaseException:
                continue
            if not record.extra.get("zip_fallback"):
                records.append(record)
        return records

    def copy_all(self, planned: Iterable[PlannedObject], *, restored: bool = False) -> Iterator[ManifestRecord]:
        """Copy (or skip) every planned object, logging progress; a list gives totals, a stream does not."""
        total_objects = total_bytes = None
        if isinstance(planned, list):
            total_objects, total_bytes = len(planned), sum(p.obj.size or 0 for p in planned)
            if planned:
                self.log.info(
                    "Placing %d object(s) (%.1f MB) at %s with %d workers: each is skipped if its verified copy "
                    "is there already, else copied.",
                    total_objects,
                    total_bytes / 1e6,
                    storage.url_of(self.root),
                    self.options.max_workers,
                )
        progress = report.Progress(self.log, total_objects, total_bytes, self.options.progress_interval)
        return self.map(planned, lambda p: self.copy_one(p, progress, restored=restored))

    def copy_one(
        self, planned: PlannedObject, progress: report.Progress | None = None, *, restored: bool = False
    ) -> ManifestRecord:
        """Copy one object (or skip it if a verified copy exists); never raises for one object's problems."""
        obj = planned.obj
        try:
            if not obj.is_available:
                return self.not_ready_record(planned, obj.state)
            for _ in range(MAX_PLACEMENTS):
                item, existing = self.place(planned)
                if existing is not None:
                    if progress:
                        progress.add(0, "failed" if existing.status == Status.FAILED else "skipped")
                    return existing
                try:
                    result = self.hook.download_object(
                        obj,
                        item.sink_factory(self.options.block_size),
                        verify=True,
                        chunk_size=self.options.chunk_size,
                    )
                except FileExistsError:  # another writer published this path meanwhile: place again
                    self.forget_folder(item.relative_path)
                    continue
                status = Status.RESTORED if restored else Status.COPIED
                record = self.record(item, status, result.size, result.md5, result.verified, result.attempts)
                record.evidence = Evidence.WRITTEN
                self.after_write(item, record)
                if progress:
                    progress.add(result.size)
                return record
            raise PathTakenError(f"every path tried for object {obj.id} is taken by other files")
        except ObjectNotAvailableError as err:  # its state changed since the search
            if progress:
                progress.add(0, "not ready")
            return self.not_ready_record(planned, err.state, str(err))
        except Exception as err:  # one object's failure must not stop the others
            self.log.error("Copying object %s failed: %s", obj.id, err)
            if progress:
                progress.add(0, "failed")
            record = self.failed_record(obj.id, planned, str(err) or type(err).__name__, obj=obj)
            record.extra["error"] = type(err).__name__
            return record

    def after_write(self, item: PlannedObject, record: ManifestRecord) -> None:
        self._remember_file(item.relative_path, record.size or 0)
        self.remember(record)
        if self.options.write_metadata:
            self._write_sidecar(item, record)

    # ------------------------------------------------------------------ what is at the destination

    def history(self) -> RunStore:
        """
        The store, with what earlier manifests say about the destination read into it (once, on the first
        file found where a copy would go: a first run into an empty destination reads none).
        """
        if not self.store.history_loaded:
            with self._history_lock:
                if not self.store.history_loaded:
                    self.store.load_history(self.root)
        return self.store

    def new_phase(self) -> None:
        """
        Forget what was learnt about the destination (folder listings, earlier manifests) and the early-stop
        counter: after a pause the destination may have changed, and a resumed run must behave the same
        whether it waited in this process or was deferred.
        """
        self._folders.clear()
        self.store.forget_history()
        self.breaker = _Breaker()

    def remember(self, record: ManifestRecord) -> None:
        """Add one of this run's records to the history (so later objects of the run see its paths)."""
        self.store.remember(record)

    def _existing_size(self, relative: str) -> int | None:
        """Size of a destination file, from one listing per folder (see :class:`.listing.FolderCache`)."""
        return self._folders.size(relative)

    def _remember_file(self, relative: str, size: int) -> None:
        self._folders.remember(relative, size)

    @property
    def folders(self) -> FolderCache:
        """The destination's folder listings this copier keeps (``listings`` and ``lookups`` count its questions)."""
        return self._folders

    def forget_folder(self, relative: str) -> None:
        self._folders.forget(relative)

    def place(self, planned: PlannedObject) -> tuple[PlannedObject, ManifestRecord | None]:
        """
        Where the object's copy goes, and a SKIPPED record when a verified copy is already there.

        A path belongs to one object. A file at the path that an earlier manifest or its sidecar gives to
        another object, or whose bytes are not this object's and whose origin is unknown, is left alone:
        the object goes to ``<stem>~<id>.<ext>`` beside it (the record's reason says why). A copy that is
        this object's but damaged is replaced.
        """
        obj = planned.obj
        tried: set[str] = set()
        item = planned
        for _ in range(MAX_PLACEMENTS):
            size = self._existing_size(item.relative_path)
            if size is None:
                item.replace = False  # published only if the name is still free then
                return item, None
            try:
                owner = self._owner(item)
                found = None
                if placement.worth_verifying(owner, obj.id, has_md5=bool(obj.md5)):
                    found = self._verify_existing(item, size, owned=owner == obj.id)
            except FileNotFoundError:  # removed since its folder was listed: list it again, place again
                self.forget_folder(item.relative_path)
                item.sidecar_doc = None
                continue
            facts = placement.Facts(present=True, owner=owner, verified=found is not None)
            decision = placement.decide(facts, obj.id, path=item.relative_path, overwrite=self.options.overwrite)
            if isinstance(decision, placement.Skip):
                return item, found
            if isinstance(decision, placement.Replace):
                item.replace = True  # this object's own copy: replace it (damaged, or overwrite=True)
                return item, None
            assert isinstance(decision, placement.Beside)  # Free was decided above, without reading the file
            why = decision.reason
            tried.add(item.relative_path)
            relative = disambiguate(planned.relative_path, obj.id, tried)
            self.log.warning("%s; writing object %s to %s instead.", why, obj.id, relative)
            item = self.at(obj, relative)
            item.note = why
            item.displaced_from = planned.displaced_from or planned.relative_path
        raise PathTakenError(f"every path tried for object {obj.id} is taken by other files")

    def present_copy(self, obj: StoredObject, taken: Taken) -> ManifestRecord | None:
        """
        A SKIPPED record when the destination already holds ``obj``'s exact copy at its path (read back and
        hashed unless cheaper evidence of this object's own copy holds), else ``None`` and its path is not kept.

        For objects 8x8 no longer serves (REVOKED or DELETED after an earlier run copied them): a re-run, or a
        repeated watcher event, finds the copy instead of failing. Copies nothing.
        """
        if not obj.md5:
            return None
        [item] = list(self.iter_plan([obj], taken))
        size = self._existing_size(item.relative_path)
        owner = self._owner(item) if size is not None else None
        found = None
        if size is not None and owner in (None, obj.id):
            try:
                found = self._verify_existing(item, size, owned=owner == obj.id)
            except FileNotFoundError:  # removed since its folder was listed: no copy to find
                self.forget_folder(item.relative_path)
        if found is None:
            for path in self.claims(item.relative_path):
                taken.discard(path)
        return found

    def _owner(self, item: PlannedObject) -> str | None:
        """Which object a file at the destination belongs to: by this run's or earlier manifests, or its sidecar."""
        owner = self.history().owner(item.relative_path)
        if owner is not None:
            return owner
        described = self._sidecar_doc(item).get("object")
        object_id = described.get("id") if isinstance(described, dict) else None
        return object_id if isinstance(object_id, str) else None

    def _sidecar_doc(self, item: PlannedObject) -> dict[str, Any]:
        """
        The parsed sidecar of the file at ``item``: ``<file>.meta.json``, else one written by release 0.1
        (``<file>.json``); ``{}`` when neither is there or readable. Only a sidecar naming this object's id is
        ever taken as evidence by the callers, so another object's JSON file at the old name proves nothing.
        """
        if item.sidecar_doc is None:
            item.sidecar_doc = {}
            for suffix in (SIDECAR_SUFFIX, LEGACY_SIDECAR_SUFFIX):
                if self._existing_size(item.relative_path + suffix) is None:
                    continue
                text = storage.read_text(item.root.target(item.relative_path + suffix))
                try:
                    data = json.loads(text) if text else None
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    item.sidecar_doc = data
                    break
        return item.sidecar_doc

    def _verify_existing(self, item: PlannedObject, size: int, *, owned: bool) -> ManifestRecord | None:
        """
        A SKIPPED record if the file at ``item`` is this object's exact copy, else ``None``.

        Cheap evidence (an earlier manifest record for the same path and size, or the sidecar's MD5) is
        used only for a file known to be this object's and only when ``prove_skips`` is off; otherwise the
        file is read back and hashed.
        """
        obj = item.obj
        if obj.size is not None and size != obj.size:
            return None
        md5: str | None = None
        evidence = Evidence.READ_BACK
        recorded = self.history().copy_of(obj.id)
        if owned and not self.options.prove_skips:
            same_path = recorded is not None and recorded.path.casefold() == item.relative_path.casefold()
            if same_path and recorded is not None and recorded.size == size:
                md5, evidence = recorded.md5, Evidence.MANIFEST
            if md5 is None:
                md5, evidence = self._sidecar_md5(item), Evidence.SIDECAR
            if md5 is not None and obj.md5 and md5 != obj.md5:
                md5 = None  # stale evidence: look at the bytes themselves
            if md5 is not None and self._root.local is not None and storage.file_size(item.target) != size:
                # cheap evidence rests on the folder's listing: on local disk one lstat confirms the file is
                # still there (an object store's listing is trusted for the phase; a later run finds the gap)
                raise FileNotFoundError(item.relative_path)
        if md5 is None:
            md5, evidence = storage.md5_of(item.target), Evidence.READ_BACK
        if obj.md5:
            if md5 != obj.md5:
                return None
        elif not (owned and recorded is not None and recorded.md5 == md5):
            return None  # 8x8 gives no plain MD5 and no earlier verified copy says this is the same file
        record = self.record(item, Status.SKIPPED, size, md5, bool(obj.md5), 0, reason="already present")
        record.evidence = evidence
        if self.options.write_metadata and self._existing_size(item.relative_path + SIDECAR_SUFFIX) is None:
            self._write_sidecar(item, record)
        self.remember(record)
        return record

    def _sidecar_md5(self, item: PlannedObject) -> str | None:
        doc = self._sidecar_doc(item)
        described = doc.get("object")
        if not isinstance(described, dict) or described.get("id") != item.obj.id:
            return None
        transfer = doc.get("transfer")
        md5 = transfer.get("md5") if isinstance(transfer, dict) else None
        return md5 if isinstance(md5, str) else None

    # ------------------------------------------------------------------ records and sidecars

    def record(
        self,
        planned: PlannedObject,
        status: str,
        size: int | None,
        md5: str | None,
        verified: bool,
        attempts: int,
        reason: str | None = None,
    ) -> ManifestRecord:
        """A manifest record of one object at its planned path."""
        obj = planned.obj
        if planned.note and status in (Status.COPIED, Status.RESTORED):
            reason = f"written beside its rendered path: {planned.note}"
        record = ManifestRecord(
            id=obj.id,
            region=obj.region,
            source=self.source_uri(obj.id, obj.region),
            destination=planned.url,
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
            state=obj.state,
        )
        if planned.displaced_from:
            record.extra["rendered_path"] = planned.displaced_from
        return record

    def failed_record(
        self, object_id: str, planned: PlannedObject | None, reason: str, obj: StoredObject | None = None
    ) -> ManifestRecord:
        """A FAILED record (the object was not copied, for ``reason``)."""
        obj = obj or (planned.obj if planned else None)
        region = obj.region if obj else None
        return ManifestRecord(
            id=object_id,
            region=region,
            source=self.source_uri(object_id, region),
            destination=planned.url if planned else "",
            path=planned.relative_path if planned else "",
            size=None,
            md5=None,
            status=Status.FAILED,
            type=obj.type if obj else None,
            name=obj.name if obj else None,
            created=obj.created.isoformat() if obj and obj.created else None,
            checksum=obj.checksum if obj else None,
            reason=reason,
            state=obj.state if obj else None,
        )

    def not_copied_record(self, obj: StoredObject, status: str, reason: str) -> ManifestRecord:
        """A record for an object deliberately not copied (archived, not ready, or failed up front)."""
        record = self.failed_record(obj.id, None, reason, obj=obj)
        record.status = status
        return record

    def not_ready_record(self, planned: PlannedObject, state: str | None, reason: str | None = None) -> ManifestRecord:
        """A NOT_READY record: the object is not AVAILABLE (its current ``state``)."""
        record = self.failed_record(
            planned.obj.id, planned, reason or f"object is {state}, not AVAILABLE", obj=planned.obj
        )
        record.status = Status.NOT_READY
        record.state = state
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
        try:
            storage.write_bytes_atomically(planned.sidecar, payload, replace=False)
            return
        except FileExistsError:
            pass
        planned.sidecar_doc = None  # read what is there now
        described = self._sidecar_doc(planned).get("object")
        if isinstance(described, dict) and described.get("id") == obj.id:
            storage.write_bytes_atomically(planned.sidecar, payload)  # this object's older sidecar
            return
        record.extra["sidecar"] = "not written: its path holds another file"
        self.log.warning(
            "Not writing the metadata sidecar of %s: %s holds a file that is not its sidecar.",
            obj.id,
            storage.url_of(planned.sidecar),
        )

    def remove_stale_parts(self) -> None:
        """Remove temporary files that killed runs left in the folders this run wrote to (local disk only)."""
        if not storage.is_local(self.root):
            return
        base = storage.local_path(self.root)
        folders = {(base / r.path).parent for r in self.store.records() if r.path and is_safe_relative(r.path)}
        folders.add(base / MANIFEST_DIR)  # a manifest being written when its process was killed
        removed = remove_stale_parts(folders)
        if removed:
            self.log.info("Removed %d temporary file(s) left by interrupted runs.", len(removed))
