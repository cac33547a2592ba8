"""
One transfer run, from the objects a search found to the published manifest, with explicit pause points.

A run copies what is AVAILABLE, then waits for what is not ready yet: bulk zip jobs it started, ARCHIVED
objects it asked 8x8 to restore, and PENDING objects (still processing, or restoring). Each wait is a
:class:`Pause` holding a wait specification (:mod:`airflow_provider_eightbyeight.waits`). The caller either
defers on the trigger of that wait (the transfer operator with ``deferrable=True``, through
:func:`~airflow_provider_eightbyeight.triggers.eightbyeight.trigger_for`) or waits here
(:meth:`TransferRun.wait_here` runs the very same polling loop in this process); either way the event goes
to :meth:`TransferRun.resume`, so a deferred run and a run that waits in its worker produce the same records,
fallbacks and outcome.

Across a deferral only :meth:`TransferRun.state` (small JSON: ids and paths of what is waited for) and the
manifest travel: at each pause the manifest is published with every record so far, and a ``waiting``
record for each object still waited for, so a run that dies while deferred still names every object.
Objects waited for are followed by id (``id=in=(...)`` searches), never by a new search.

Every object the run sees ends in the manifest with one fate: ``copied``, ``restored``, ``skipped``,
``archived``, ``not_ready`` or ``failed`` (with the reason and the state 8x8 last gave it). The manifest
is written whatever happens, also when the run fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow_provider_eightbyeight import batching, models, waits
from airflow_provider_eightbyeight.errors import ConfigurationError, EightByEightError
from airflow_provider_eightbyeight.hooks.eightbyeight import BULK_LIMIT_BYTES  # noqa: F401 (re-exported)
from airflow_provider_eightbyeight.models import GONE_STATES, BulkJob, ObjectState, StoredObject  # noqa: F401
from airflow_provider_eightbyeight.transfer import bulk, deletes, report, storage
from airflow_provider_eightbyeight.transfer.bulk import BULK_MAX_OBJECTS, MAX_FILLING_BATCHES  # noqa: F401
from airflow_provider_eightbyeight.transfer.copier import Copier, PlannedObject
from airflow_provider_eightbyeight.transfer.manifest import (
    COPY_STATUSES,
    MANIFEST_DIR,
    PROOF,
    Evidence,
    ManifestRecord,
    Status,
    manifest_name,
    read_manifest,
    write_manifest,
)
from airflow_provider_eightbyeight.transfer.options import (  # noqa: F401 (ON_*: re-exported)
    ON_ARCHIVED,
    ON_NOT_READY,
    RunPolicy,
)
from airflow_provider_eightbyeight.transfer.paths import is_safe_relative
from airflow_provider_eightbyeight.transfer.store import RunStore
from airflow_provider_eightbyeight.transfer.summary import TransferSummary, manifest_write_error

#: 3: the state holds the SHA-256 of the pause manifest (``manifest_sha256``); 1 and 2 still resume.
STATE_VERSION = 3
#: How many AVAILABLE objects ``strategy="auto"`` looks at to choose between bulk zips and single downloads.
AUTO_SAMPLE = 1000
#: What :func:`.manifest.manifest_name` makes: a saved state naming anything else is not resumed.
_MANIFEST_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}\.jsonl")


@dataclass
class Pause:
    """
    A point where the run waits for 8x8.

    :param wait: what is waited for (defer on its trigger, or :meth:`TransferRun.wait_here`).
    :param timeout: seconds, for ``defer(timeout=...)`` (the wait's own deadline comes first).
    :param what: what is waited for, for the log.
    """

    wait: waits.Wait
    timeout: float
    what: str


Ref = tuple[str, str | None]


class TransferRun:
    """
    Owns one transfer run (see the module docs).

    :param engine: copies single objects and zips.
    :param policy: what to do besides copying.
    """

    def __init__(self, engine: Copier, policy: RunPolicy | None = None) -> None:
        self.engine = engine
        #: The run's bulk jobs and the copies out of their zips.
        self.zips = bulk.ZipCopier(engine)
        self.policy = policy or RunPolicy()
        self.log = engine.log
        #: Every record of the run, on local disk (memory does not grow with the number of objects).
        self.store: RunStore = engine.store
        self.manifest = manifest_name(engine.run_label)
        self.strategy = self.policy.strategy
        self.regions: set[str] = set()
        self.taken = self.store.taken
        self.jobs: list[bulk.RunJob] = []
        self.restoring: list[Ref] = []
        self.waiting: list[Ref] = []
        self.waited = False
        self._to_restore: list[Ref] = []
        self._unrecorded: dict[str, StoredObject] = {}
        self._missing: dict[str, str] = {}
        #: SHA-256 of the manifest published at the last pause (``None``: resumed from an older state).
        self._pause_digest: str | None = None
        #: The run ended because its final manifest could not be written (its error says what it did).
        self._failed_manifest = False
        #: Resumed from a saved state without a digest of its pause manifest: nothing is deleted.
        self._unchecked = False
        self._legacy_jobs: dict[str, tuple[str, str]] = {}
        self._legacy_restoring: set[str] = set()
        self._elapsed = 0.0
        self._requests = 0
        self._retries = 0
        self._phase_started = time.monotonic()
        self._stats_at_phase = (engine.hook.stats.requests, engine.hook.stats.retries)

    # ------------------------------------------------------------------ the public steps

    def start(self, objects: Iterable[StoredObject], missing: dict[str, str] | None = None) -> Pause | TransferSummary:
        """
        Take the objects (a search's results or ids' metadata) and copy what can be copied now.

        :param missing: ids whose metadata could not be read, with why (recorded as failed); the object
            source may add to it while it is read (ids looked up chunk by chunk), and the run takes them.
        :return: a :class:`Pause` to wait on, or the summary when the run is complete.
        """
        self._missing = missing if missing is not None else {}
        return self._guarded(self._start, objects)

    def resume(self, event: dict[str, Any]) -> Pause | TransferSummary:
        """Continue after the trigger of the last :class:`Pause` fired ``event``."""
        return self._guarded(self._resume, event)

    def run_here(self, objects: Iterable[StoredObject], missing: dict[str, str] | None = None) -> TransferSummary:
        """The whole run in this process, waiting here at every pause."""
        outcome = self.start(objects, missing)
        while isinstance(outcome, Pause):
            outcome = self.resume(self.wait_here(outcome))
        return outcome

    def wait_here(self, pause: Pause) -> dict[str, Any]:
        """
        Poll the pause's wait in this process until its event (the loop the triggerer runs), through this run's
        hook, so its polls count in the run's request and retry statistics.
        """
        self.log.info("Waiting here for %s.", pause.what)

        async def first_event() -> dict[str, Any]:
            async for event in waits.poll(pause.wait, self.engine.hook):
                return event
            return {"status": "error", "message": "the wait ended without an event"}

        self._begin_phase()
        try:
            return asyncio.run(first_event())
        finally:
            self._close_phase()

    def state(self) -> dict[str, Any]:
        """
        What the run needs to resume in another process: small JSON whatever the number of objects (the
        objects waited for are in the manifest published at the pause).
        """
        return {
            "version": STATE_VERSION,
            "manifest": self.manifest,
            "strategy": self.strategy,
            "regions": sorted(self.regions),
            # what each job holds, and what is restoring or pending, is in the manifest published at the pause
            "jobs": [j.as_state() for j in self.jobs],
            "waited": self.waited,
            "manifest_sha256": self._pause_digest,
            # resumed once from an older release's state: its records stay unchecked at every later pause
            "unchecked": self._unchecked,
            "elapsed": self._elapsed,
            "requests": self._requests,
            "retries": self._retries,
        }

    @classmethod
    def from_state(cls, engine: Copier, policy: RunPolicy, state: dict[str, Any]) -> TransferRun:
        """
        Rebuild a run from :meth:`state` and the manifest it published at its pause.

        Both are read back, so both are untrusted: the pause manifest must hash to the digest the state
        holds (a manifest changed since the pause ends the resume with a clear error, nothing deleted); copy
        records from before the pause are read back and hashed again before any delete; paths are
        re-sanitised and must stay under the destination (a waiting object whose path does not is placed
        anew); every path the records name is taken again, as the run had them before it paused.
        """
        if not isinstance(state, dict) or state.get("version") not in (1, 2, STATE_VERSION):
            raise ConfigurationError(
                f"Cannot resume the transfer: its saved state is missing or unreadable ({state!r:.200})"
            )
        try:
            run = cls._rebuild(engine, policy, state)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigurationError(
                f"Cannot resume the transfer: its saved state is unreadable ({type(err).__name__}: {err})",
                hint="Clear the task to start the transfer afresh",
            ) from None
        path = engine.root / MANIFEST_DIR / run.manifest
        expected = state.get("manifest_sha256") if state["version"] == STATE_VERSION else None
        if expected is not None and not isinstance(expected, str):
            run._give_up()
            raise ConfigurationError(f"Cannot resume the transfer: its saved digest is unreadable ({expected!r:.80})")
        digest = hashlib.sha256()
        try:
            run._load_pause_manifest(path, state, digest)
        except FileNotFoundError:
            run._give_up()
            raise ConfigurationError(
                f"Cannot resume the transfer: the manifest it published when it paused, "
                f"{storage.url_of(path)}, is gone",
                hint="Do not remove manifests of runs that are still deferred; clear the task to start afresh",
            ) from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
            run._give_up()
            raise ConfigurationError(
                f"Cannot resume the transfer: its pause manifest {storage.url_of(path)} or saved state is "
                f"unreadable ({type(err).__name__}: {str(err)[:200]})",
                hint="Clear the task to start the transfer afresh",
            ) from None
        if expected is not None and digest.hexdigest() != expected:
            run._give_up()
            raise ConfigurationError(
                f"Cannot resume the transfer: its pause manifest {storage.url_of(path)} changed since the run "
                "wrote it (its SHA-256 differs from the one saved at the pause); nothing was deleted at 8x8",
                hint="Do not edit manifests of runs that are still deferred; clear the task to start afresh",
            )
        run._pause_digest = expected
        run._unchecked = expected is None or state.get("unchecked") is not False
        if run._unchecked:
            run.log.warning(
                "Resuming from a saved state without a digest of its pause manifest (an older release): its "
                "lines cannot be told from lines added since, so this run deletes nothing at 8x8; a later run "
                "deletes what it proves."
            )
        for job in [j for j in run.jobs if not j.count]:  # no waiting record names it: not this run's
            run.log.warning(
                "The saved state names bulk job %s, which no record of the pause manifest is waiting for; it "
                "is neither collected nor cancelled.",
                job.zip_name,
            )
            run.jobs.remove(job)
        return run

    @classmethod
    def _rebuild(cls, engine: Copier, policy: RunPolicy, state: dict[str, Any]) -> TransferRun:
        """The run's counters and jobs from its saved state, typed (a wrong type raises)."""
        run = cls(engine, policy)
        try:
            run._restore_fields(state)
        except BaseException:
            run.close()
            raise
        return run

    def _restore_fields(self, state: dict[str, Any]) -> None:
        run = self
        manifest = state["manifest"]
        if not isinstance(manifest, str) or not _MANIFEST_NAME.fullmatch(manifest):
            raise ValueError(f"manifest name {manifest!r:.100}")
        run.manifest = manifest
        if state["strategy"] not in ("objects", "bulk"):  # saved once resolved (never "auto")
            raise ValueError(f"strategy {state['strategy']!r:.50}")
        run.strategy = state["strategy"]
        run.regions = {str(r) for r in state["regions"]}
        run.jobs = [bulk.RunJob.from_state(j) for j in state["jobs"]]
        if state["version"] == 1:  # an older release paused with the ids in the state itself
            run._legacy_jobs = {
                str(i): (str(j["zip_name"]), str(p)) for j in state["jobs"] for i, p in j.get("items", ())
            }
            run._legacy_restoring = {str(i) for i, _ in state["restoring"]}
        run.waited = bool(state["waited"])
        run._elapsed = float(state["elapsed"])
        run._requests = int(state["requests"])
        run._retries = int(state["retries"])

    def _load_pause_manifest(self, path: Any, state: dict[str, Any], digest: Any) -> None:
        """Put the pause manifest's records back in the store (see :meth:`from_state`)."""
        legacy = state["version"] == 1
        in_jobs, restoring = self._legacy_jobs, self._legacy_restoring
        batch: list[ManifestRecord] = []
        for record in read_manifest(path, digest=digest):
            if record.path and not is_safe_relative(record.path):
                self.log.warning(
                    "The pause manifest gives object %s the path %r, which is not under the destination; "
                    "it is not used.",
                    record.id,
                    record.path,
                )
                record.path = ""
            if record.status in COPY_STATUSES:  # proof made before the pause is renewed before any delete
                record.evidence = Evidence.BEFORE_PAUSE
            # a run deletes only after its last phase: a delete outcome read back is not this run's (a forged
            # line, or another run's manifest); only this run's mark_proved may ask for a delete
            record.delete = None
            record.deleted_at_source = False
            if record.status == Status.WAITING:  # every one still needs a fate
                if record.id in in_jobs:
                    record.extra.update(wait="bulk", job=in_jobs[record.id][0])
                    record.path = in_jobs[record.id][1] if is_safe_relative(in_jobs[record.id][1]) else ""
                elif legacy:
                    record.extra["wait"] = "restore" if record.id in restoring else "pending"
                if not self._waits_for(record):
                    continue
            for taken in (record.path, record.extra.get("rendered_path")):
                if taken and is_safe_relative(taken):  # every path the run had taken before it paused
                    self.taken.update(self.engine.claims(taken))
            batch.append(record)
            if len(batch) >= 1000:
                self.store.put_many(batch)
                batch = []
        self.store.put_many(batch)

    def _give_up(self) -> None:
        """A resume that cannot go on: clean up, cancelling nothing (the state's jobs may be another run's)."""
        if self.jobs:
            self.log.warning(
                "The saved state names %d bulk job(s) that this run cannot tell are its own; they are not "
                "cancelled: %s (cancel them with EightByEightHook.cancel_bulk_job if they are).",
                len(self.jobs),
                ", ".join(f"{j.zip_name} ({j.region})" for j in self.jobs[:20]),
            )
        self.jobs = []
        self.close()

    def _waits_for(self, record: ManifestRecord) -> bool:
        """
        Put a ``waiting`` record of the pause manifest back where the run waits for it; ``True`` if it
        stays in the store (objects in bulk jobs), ``False`` if it is followed in memory.
        """
        wait = record.extra.get("wait")
        job = next((j for j in self.jobs if j.zip_name == record.extra.get("job")), None) if wait == "bulk" else None
        if job is not None:
            job.count += 1
            return True
        self._unrecorded[record.id] = StoredObject(
            id=record.id, region=record.region, type=record.type, name=record.name, state=record.state
        )
        if wait == "restore":
            self.restoring.append((record.id, record.region))
        else:
            self.waiting.append((record.id, record.region))
        return False

    def close(self) -> None:
        """Remove the run's working state in this process (call it when the process stops running it)."""
        self.engine.close()

    def cancel(self) -> None:
        """Cancel the bulk jobs this run started and has not collected (e.g. when the task is killed)."""
        for job in self.jobs:
            self.zips.cancel_job(job.zip_name, job.region)
        self.jobs = []

    def abort(self, err: BaseException) -> None:
        """
        The run failed between its phases (e.g. its state could not be saved for a deferral): cancel its bulk
        jobs, give every object it saw a fate, publish the manifest and close.

        :param err: why, for the records of the objects not done.
        """
        self._abort(err)

    # ------------------------------------------------------------------ phases

    def _guarded(self, step: Any, *args: Any) -> Pause | TransferSummary:
        self._begin_phase()
        try:
            outcome: Pause | TransferSummary = step(*args)
        except BaseException as err:
            self._abort(err)
            raise
        finally:
            self._close_phase()
        return outcome

    def _begin_phase(self) -> None:
        self._phase_started = time.monotonic()
        self._stats_at_phase = (self.engine.hook.stats.requests, self.engine.hook.stats.retries)

    def _record_missing(self) -> None:
        """Record as failed the ids the object source could not find (taken from its ``missing``)."""
        while self._missing:
            object_id, reason = self._missing.popitem()
            if self.store.first_sight(object_id):
                self._add(self.engine.failed_record(object_id, None, reason))

    def _start(self, objects: Iterable[StoredObject]) -> Pause | TransferSummary:
        storage.abort_stale_uploads(self.engine.root, self.log)  # S3 uploads failed or killed runs left
        self._record_missing()
        counts = {"seen": 0, "available": 0}
        stream: Iterator[StoredObject] = self._available(objects, counts)
        if self.policy.strategy == "auto":  # decide on a sample, then go on with the rest of the stream
            head = list(itertools.islice(stream, AUTO_SAMPLE))
            self.strategy = bulk.choose_strategy("auto", head)
            stream = itertools.chain(head, stream)
        else:
            self.strategy = bulk.choose_strategy(self.policy.strategy, [])
        pause = None
        if self.strategy == "bulk":
            pause = self._start_bulk(stream)
        else:  # copying starts with the first page of the search; memory holds what is in flight
            self._copy(self.engine.iter_plan(stream, self.taken), final=False)
        self._record_missing()  # ids the source looked up and did not find, now that it is read
        if self._to_restore:
            self._request_restores()
        self.log.info(
            "Found %d object(s): %d available, %d archived being restored, %d not ready yet.",
            counts["seen"],
            counts["available"],
            len(self.restoring),
            len(self.waiting),
        )
        if self.jobs:  # logged after the search that led to them (they start while it pages)
            report.log_bulk_jobs(self.log, [(j.region, j.count) for j in self.jobs])
        if pause is not None:
            return self._pause(pause)
        return self._after_copies()

    def _available(self, objects: Iterable[StoredObject], counts: dict[str, int]) -> Iterator[StoredObject]:
        """The AVAILABLE objects of a search, as it pages; the others are triaged on the way (restores asked)."""
        batch: list[StoredObject] = []
        for obj in objects:
            if not self.store.first_sight(obj.id):  # the same object twice (a repeated page): one fate
                continue
            counts["seen"] += 1
            if obj.region:
                self.regions.add(obj.region)
            self._triage(obj, batch, final=False)
            if self._to_restore:  # restores take hours: ask for them as they are found
                self._request_restores()
            if batch:
                counts["available"] += 1
                yield batch.pop()

    def _resume(self, event: dict[str, Any]) -> Pause | TransferSummary:
        self.engine.new_phase()  # the destination may have changed while the run waited
        if self.jobs:
            self._collect_bulk(event)
            return self._after_copies()
        return self._collect_waits(event)

    def _after_copies(self) -> Pause | TransferSummary:
        if self._to_restore:
            self._request_restores()
        refs = self.restoring + self.waiting
        if refs and not self.waited:
            self.waited = True
            return self._pause(self._wait_for_objects())
        if refs:  # waited once already: what is still not ready now stays so
            return self._collect_waits({"status": "success"})
        return self._finish()

    # ------------------------------------------------------------------ triage

    def _triage(self, obj: StoredObject, available: list[StoredObject], *, final: bool, after: str = "") -> None:
        """Send one object where its state says: copy, restore, wait, or a record."""
        if obj.problem:  # malformed metadata or an unusable id: this object's failure, never copied or deleted
            self._add(self.engine.not_copied_record(obj, Status.FAILED, f"not copied: {obj.problem}"))
            return
        state = obj.state
        if obj.is_available:
            available.append(obj)
            self._unrecorded[obj.id] = obj
        elif state == ObjectState.ARCHIVED.value:
            if self.policy.on_archived == "skip":
                self._add(
                    self.engine.not_copied_record(obj, Status.ARCHIVED, "object is ARCHIVED (on_archived='skip')")
                )
            elif self.policy.on_archived == "fail":
                self._add(self.engine.not_copied_record(obj, Status.FAILED, "object is ARCHIVED (on_archived='fail')"))
            elif final:
                self._add(self.engine.not_copied_record(obj, Status.NOT_READY, f"still ARCHIVED {after}".strip()))
            else:
                self._to_restore.append((obj.id, obj.region))
                self._unrecorded[obj.id] = obj
        elif state in GONE_STATES:
            present = self.engine.present_copy(obj, self.taken)
            if present is not None:
                present.reason = f"already present; 8x8 shows it {state} (deleted after an earlier copy)"
                self._add(present)
                return
            self._add(
                self.engine.not_copied_record(
                    obj, Status.FAILED, f"object was deleted at 8x8 ({state}) {after}".strip()
                )
            )
        elif final or self.policy.on_not_ready in ("report", "fail"):
            why = f"object is {state}, not AVAILABLE {after}".strip()
            if not final:
                why += f" (on_not_ready={self.policy.on_not_ready!r})"
            self._add(self.engine.not_copied_record(obj, Status.NOT_READY, why))
        else:
            self.waiting.append((obj.id, obj.region))
            self._unrecorded[obj.id] = obj

    def _add(self, record: ManifestRecord) -> None:
        self.store.put(record)
        self._unrecorded.pop(record.id, None)
        if record.path and record.status in COPY_STATUSES:
            self.taken.add(record.path.casefold())

    # ------------------------------------------------------------------ copying

    def _copy(self, planned: Iterable[PlannedObject], *, final: bool, restored: bool = False) -> None:
        """Copy planned objects; those whose state changed since they were read are triaged again."""
        for record in self.engine.copy_all(planned, restored=restored):
            self._take(record, final=final)

    def _forget_waiting(self, record: ManifestRecord) -> None:
        """An object no longer waited for in its bulk job: drop its record and free its path (decided anew)."""
        self.store.delete(record.id)
        if record.path:
            self.taken.discard(record.path.casefold())

    def _take(self, record: ManifestRecord, *, final: bool) -> None:
        if record.status == Status.NOT_READY and record.id in self._unrecorded:
            self.store.delete(record.id)  # a bulk job's waiting record, if it had one
            self.taken.discard(record.path.casefold())  # its path stays its own for later
            obj = dataclasses.replace(self._unrecorded[record.id], state=record.state)
            self.log.info("Object %s is %s now (it was AVAILABLE when found).", obj.id, obj.state)
            self._triage(obj, [], final=final or self.waited, after="(its state changed during the run)")
            return
        self._add(record)

    def _request_restores(self) -> None:
        self.log.info(
            "Restoring %d archived object(s) for %d day(s).", len(self._to_restore), self.policy.restore_expiration_days
        )
        for object_id, region in self._to_restore:
            try:
                self.engine.hook.restore_object(object_id, self.policy.restore_expiration_days, region=region)
                self.restoring.append((object_id, region))
            except EightByEightError as err:
                obj = self._unrecorded.get(object_id) or StoredObject(id=object_id, region=region, state="ARCHIVED")
                self._add(self.engine.not_copied_record(obj, Status.FAILED, f"restore request failed: {err}"))
        self._to_restore = []

    def _wait_for_objects(self) -> Pause:
        restores = bool(self.restoring)
        timeout = self.policy.restore_timeout if restores else self.policy.not_ready_timeout
        interval = self.policy.restore_poll_interval if restores else self.policy.not_ready_poll_interval
        refs = [{"id": i, "region": r} for i, r in self.restoring + self.waiting]
        what = f"{len(self.restoring)} restore(s) and {len(self.waiting)} object(s) not ready yet"
        return Pause(
            wait=waits.RestoreWait(
                objects=refs,
                poll_interval=interval,
                timeout_at=time.time() + timeout,
            ),
            timeout=timeout + 3600,
            what=what,
        )

    def _collect_waits(self, event: dict[str, Any]) -> TransferSummary:
        """After waiting for restores and PENDING objects: read them by id, copy what is AVAILABLE now."""
        restored_ids = {i for i, _ in self.restoring}
        refs = self.restoring + self.waiting
        self.restoring, self.waiting = [], []
        status = event.get("status")
        after = "after waiting" if status == "success" else f"after waiting ({status}: {event.get('message')})"
        try:
            current = self.engine.read_back(refs)
        except EightByEightError as err:
            for object_id, region in refs:
                obj = self._unrecorded.get(object_id) or StoredObject(id=object_id, region=region)
                self._add(
                    self.engine.failed_record(object_id, None, f"could not read its state {after}: {err}", obj=obj)
                )
            return self._finish()
        available: list[StoredObject] = []
        for object_id, region in refs:
            found = current.get(object_id)
            if found is None:
                gone = self._unrecorded.get(object_id) or StoredObject(id=object_id, region=region)
                self._add(self.engine.failed_record(object_id, None, f"no longer found at 8x8 {after}", obj=gone))
                continue
            self._triage(found, available, final=True, after=after)
        planned = self.engine.plan(available, self.taken)
        self._copy([p for p in planned if p.obj.id not in restored_ids], final=True)
        self._copy([p for p in planned if p.obj.id in restored_ids], final=True, restored=True)
        return self._finish()

    # ------------------------------------------------------------------ bulk

    def _start_bulk(self, available: Iterable[StoredObject]) -> Pause | None:
        """
        Start zip jobs as batches fill while the search pages (objects already present are skipped; a
        refused job's objects are downloaded one by one). A started job's objects wait in the run's store
        (``waiting`` records naming the job), so memory holds only the batches still filling.
        """
        limit = self.policy.bulk_limit_bytes
        filling: batching.Filling[PlannedObject] = bulk.new_filling(limit)
        single: list[PlannedObject] = []
        for item in self.engine.iter_plan(available, self.taken):
            try:
                placed, existing = self.engine.place(item)
            except Exception as err:
                self._add(self.engine.failed_record(item.obj.id, item, str(err), obj=item.obj))
                continue
            if existing is not None:
                self._add(existing)
                continue
            size = placed.obj.size
            if size is not None and size > limit:  # a job cannot hold it
                single.append(placed)
                if len(single) >= self.engine.options.max_workers * 4:
                    self._copy(single, final=False)
                    single = []
                continue
            ready = filling.add(placed.obj.region, placed, placed.obj)
            if ready:
                self._launch(ready, placed.obj.region)
        if single:
            self.log.info("%d object(s) exceed the bulk limit; downloading them one by one.", len(single))
            self._copy(single, final=False)
        for region, items in filling.drain():
            self._launch(items, region)
        if not self.jobs:
            return None
        return Pause(
            wait=waits.BulkJobsWait(
                jobs=[{"zip_name": j.zip_name, "region": j.region} for j in self.jobs],
                poll_interval=self.policy.poll_interval,
                timeout_at=time.time() + self.policy.bulk_timeout,
            ),
            timeout=self.policy.bulk_timeout + 3600,
            what=f"{len(self.jobs)} bulk job(s)",
        )

    def _launch(self, batch: list[PlannedObject], region: str | None) -> None:
        """Start one job for ``batch`` (its objects then wait in the store), or copy them alone if refused."""
        if not batch:
            return
        job = self.zips.start_job(batch, region)
        if job is None:
            self._copy(batch, final=False)
            return
        self.jobs.append(bulk.RunJob(job.zip_name, region, len(batch)))
        waiting = []
        for item in batch:
            record = self.engine.not_copied_record(item.obj, Status.WAITING, "in bulk job")
            record.path = item.relative_path
            if item.displaced_from:
                record.extra["rendered_path"] = item.displaced_from
            record.extra.update(wait="bulk", job=job.zip_name)
            waiting.append(record)
            self._unrecorded.pop(item.obj.id, None)  # its waiting record names it from now on
        self.store.put_many(waiting)

    def _collect_bulk(self, event: dict[str, Any]) -> None:
        """
        Copy every finished job's zip; jobs not finished are cancelled and their objects fetched alone. The
        next job's zip downloads while this one's entries are extracted.
        """
        jobs = list(self.jobs)
        given = event.get("jobs")
        statuses: dict[str, Any] = given if isinstance(given, dict) else {}
        if event.get("status") != "success":
            self.log.warning(
                "Waiting for bulk jobs ended with %s (%s); unfinished jobs are cancelled and their objects "
                "downloaded one by one.",
                event.get("status"),
                event.get("message"),
            )
        # the jobs still to cancel stay the run's until their cancel is sent: a run that fails on the way (an
        # execution timeout in a cancel call) cancels the others when it aborts
        self.jobs = [j for j in jobs if statuses.get(j.zip_name) not in models.TERMINAL_BULK_STATUSES]
        while self.jobs:
            job = self.jobs.pop(0)
            self.zips.cancel_job(job.zip_name, job.region)
        prefetch = ThreadPoolExecutor(1, thread_name_prefix="8x8-zip")
        ahead: list[Future[bulk.Fetched]] = []
        try:
            for index, job in enumerate(jobs):
                while len(ahead) < 2 and index + len(ahead) < len(jobs):  # this job's zip, and the next one's
                    upcoming = jobs[index + len(ahead)]
                    ahead.append(prefetch.submit(self._fetch_zip, upcoming, statuses.get(upcoming.zip_name)))
                fetched = ahead.pop(0).result()
                try:
                    self._collect_job(job, fetched)
                finally:
                    if fetched.zip_path is not None:
                        fetched.zip_path.unlink(missing_ok=True)
        finally:  # on an error, zips fetched ahead are removed too (each can be 2 GB)
            prefetch.shutdown(wait=True, cancel_futures=True)
            for future in ahead:
                if not future.cancelled() and future.exception() is None:
                    path = future.result().zip_path
                    if path is not None:
                        path.unlink(missing_ok=True)

    def _fetch_zip(self, job: bulk.RunJob, status: Any) -> bulk.Fetched:
        """The finished job and its downloaded zip (``None`` parts: nothing to extract, fall back)."""
        if status not in models.ZIP_BULK_STATUSES:
            self.log.warning("Bulk job %s ended %s; downloading its objects one by one.", job.zip_name, status)
            return bulk.Fetched()
        try:
            finished = self.engine.hook.get_bulk_job(job.zip_name, region=job.region)
            if not finished.has_zip:
                self.log.warning("Bulk job %s ended %s; downloading one by one.", finished.zip_name, finished.status)
                return bulk.Fetched(finished)
            return bulk.Fetched(finished, self.zips.download_zip(finished, job.region))
        except EightByEightError as err:
            self.log.warning("Bulk job %s unusable (%s); downloading one by one.", job.zip_name, err)
            return bulk.Fetched()

    def _collect_job(self, job: bulk.RunJob, fetched: bulk.Fetched) -> None:
        """Copy one job's objects (from its zip where usable), after reading their state again."""
        waiting = list(self.store.records([Status.WAITING], tag=job.zip_name))
        try:
            current = self.engine.read_back((r.id, job.region) for r in waiting)
        except EightByEightError as err:
            for record in waiting:
                obj = StoredObject(id=record.id, region=job.region, type=record.type, name=record.name)
                self._add(
                    self.engine.failed_record(
                        record.id, None, f"could not read its metadata after the bulk wait: {err}", obj=obj
                    )
                )
            return
        planned: list[PlannedObject] = []
        for record in waiting:
            found = current.get(record.id)
            if found is None:
                gone = StoredObject(id=record.id, region=job.region, type=record.type, name=record.name)
                self._add(
                    self.engine.failed_record(record.id, None, "no longer found at 8x8 after the bulk wait", obj=gone)
                )
            elif not found.is_available or found.problem:  # its state changed, or 8x8 now sends it malformed
                self._forget_waiting(record)
                self._triage(found, [], final=False, after="(its state changed during the run)")
            elif record.path:
                self._unrecorded[record.id] = found
                planned.append(self.engine.at(found, record.path))
            else:  # its path from the pause manifest was not usable: placed anew, as a new object would be
                self._unrecorded[record.id] = found
                planned.extend(self.engine.iter_plan([found], self.taken))
        for record in self.zips.copy_from_zip(fetched.job, fetched.zip_path, planned):
            self._take(record, final=False)

    # ------------------------------------------------------------------ manifest and end

    def _pause(self, pause: Pause) -> Pause:
        """
        Publish the manifest so far (with a ``waiting`` record per object waited for) and pause. Proof made
        so far is marked as made before a pause: copies can change while the run waits, so they are read
        back again before anything is deleted.
        """
        stale = (r for r in self.store.records(COPY_STATUSES) if r.evidence in PROOF)
        self.store.put_many(dataclasses.replace(r, evidence=Evidence.BEFORE_PAUSE) for r in stale)
        digest = hashlib.sha256()
        try:
            self._publish(self._waiting_records(), digest=digest)
        except Exception as err:  # nobody could resume this run: say what it did, in the task's error
            raise manifest_write_error(self._counts(), self._manifest_url(), err) from err
        self._pause_digest = digest.hexdigest()
        self.log.info("Pausing for %s; the manifest so far is %s.", pause.what, self._manifest_url())
        return pause

    def _waiting_records(self) -> Iterator[ManifestRecord]:
        """
        A ``waiting`` record per object restoring or pending (``extra["wait"]``: ``restore`` or ``pending``);
        objects in bulk jobs have theirs in the store already (``wait="bulk"``, their ``job`` and planned
        path). A resumed run reads them back, so the saved state stays small whatever the number of objects.
        """

        def waiting(object_id: str, region: str | None, why: str, **extra: Any) -> ManifestRecord:
            obj = self._unrecorded.get(object_id) or StoredObject(id=object_id, region=region)
            record = self.engine.not_copied_record(obj, Status.WAITING, why)
            record.extra.update(extra)
            return record

        for object_id, region in self.restoring:
            yield waiting(object_id, region, "restoring", wait="restore")
        for object_id, region in self.waiting:
            yield waiting(object_id, region, "not ready yet", wait="pending")

    def _counts(self) -> TransferSummary:
        """A summary counting the run's records so far."""
        summary = TransferSummary(destination=storage.url_of(self.engine.root), strategy=self.strategy)
        not_ready_fails = self.policy.on_not_ready != "report"
        for record in self.store.records():
            summary.count(record, not_ready_fails=not_ready_fails)
        return summary

    def _publish(self, extra: Iterable[ManifestRecord] = (), *, digest: Any = None) -> None:
        write_manifest(self.engine.root, self.manifest, itertools.chain(self.store.records(), extra), digest=digest)

    def _manifest_url(self) -> str:
        return storage.url_of(self.engine.root / MANIFEST_DIR / self.manifest)

    @property
    def manifest_url(self) -> str:
        """Where this run's manifest is (or will be) published."""
        return self._manifest_url()

    def _close_phase(self) -> None:
        """Add the time, requests and retries since the phase began (calling it again adds nothing)."""
        now = time.monotonic()
        requests, retries = self.engine.hook.stats.requests, self.engine.hook.stats.retries
        self._elapsed += now - self._phase_started
        self._requests += requests - self._stats_at_phase[0]
        self._retries += retries - self._stats_at_phase[1]
        self._phase_started, self._stats_at_phase = now, (requests, retries)

    def _abort(self, err: BaseException) -> None:
        """The run failed: record every object seen but not yet recorded, and publish the manifest anyway."""
        reason = f"not attempted: the run stopped ({type(err).__name__}: {err})"
        if self._failed_manifest:  # the error names what the run did; nothing more can be written
            return
        if self.store.closed:  # the run had finished (manifest published) when the error came
            self.log.error("The run was interrupted after it published its manifest %s.", self._manifest_url())
            return
        if self.jobs:  # nobody will collect them: cancelled first, whatever recording the rest does
            try:
                self.cancel()
            except Exception as cancel_error:
                self.log.warning("Could not cancel the bulk jobs: %s", cancel_error)
        try:
            for record in self.engine.stop_copies():  # copies that were running: their own fate
                self._add(record)
            for obj in list(self._unrecorded.values()):
                self._add(self.engine.failed_record(obj.id, None, reason, obj=obj))
            self._unwait(reason)
            self._record_missing()
            self._publish()
            self.log.error("The run failed; the manifest of what it did is %s.", self._manifest_url())
        except Exception as publish_error:  # the original error matters more
            self.log.error("Could not write the manifest after the run failed: %s", publish_error)
        finally:
            self.close()

    def _unwait(self, reason: str) -> None:
        """Objects still waiting in the store (in bulk jobs nobody will collect) fail, for ``reason``."""
        self.store.put_many(  # put_many writes a chunk at a time, as the walk reads them
            self.engine.failed_record(
                r.id, None, reason, obj=StoredObject(id=r.id, region=r.region, type=r.type, name=r.name)
            )
            for r in self.store.records([Status.WAITING])
        )

    def _finish(self) -> TransferSummary:
        """Delete what was proved (if asked), publish the manifest and build the summary."""
        for obj in list(self._unrecorded.values()):  # defensive: every object seen gets a fate
            self._add(self.engine.failed_record(obj.id, None, "no outcome was recorded (internal error)", obj=obj))
        self._unwait("no outcome was recorded (internal error)")
        summary = self._counts()
        try:
            if self.policy.delete_after_transfer and self._unchecked:
                deletes.Deleter(self.engine).refuse(
                    summary,
                    "not deleted: this run resumed from a saved state of an older release, whose pause manifest "
                    "cannot be checked; a later run deletes it once it proves the copy",
                )
            elif self.policy.delete_after_transfer:
                deleter = deletes.Deleter(self.engine)
                if deleter.mark_proved(summary):
                    self._publish()  # the manifest names what is about to be deleted before any delete call
                    deleter.delete_marked(summary)
        finally:
            self.engine.remove_stale_parts()
            try:
                self._publish()
            except Exception as err:  # the run's outcome must still reach the task, in its error
                self._failed_manifest = True
                self.close()
                raise manifest_write_error(summary, self._manifest_url(), err) from err
            self.close()
        self._close_phase()
        summary.manifest = self._manifest_url()
        summary.manifest_path = self.engine.root / MANIFEST_DIR / self.manifest
        summary.seconds = self._elapsed
        summary.requests = self._requests
        summary.retries = self._retries
        report.log_summary(self.log, summary)
        if summary.archived and self.policy.on_archived == "skip":
            self.log.warning(
                "%d ARCHIVED object(s) were not copied (on_archived='skip'; each is named in the manifest with "
                "status 'archived'). on_archived='restore' restores and then copies them.",
                summary.archived,
            )
        return summary
