"""
Triggers that wait, in the triggerer, for 8x8: objects to appear, bulk zip jobs to finish, restores.

Each trigger polls through :class:`EightByEightHook` (one synchronous client) in a worker thread
(``asyncio.to_thread``), so the event loop is never blocked and the connection lookup works both in
the triggerer and inline under ``dag.test()``. Keyword arguments are JSON only and never hold a
secret; events are small: ``{"status": "success" | "timeout" | "error", ...}``.

In the triggerer, no trigger sends its first event before ``not_before`` (when it was created plus
:func:`first_event_delay`): a trigger that fired at once could resume its task before the scheduler has
drained the executor's report of the worker that deferred, and Airflow 3.3 then fails the resumed task
(see :func:`first_event_delay`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from airflow_provider_eightbyeight.compat import BaseTrigger, TriggerEvent, conf
from airflow_provider_eightbyeight.errors import (
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RegionError,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import usable

_MODULE = "airflow_provider_eightbyeight.triggers.eightbyeight"


#: Errors after which waiting longer cannot help (credentials, permissions, configuration, a malformed
#: request, an unknown job): the wait ends at once with an error event.
FINAL_ERRORS = (
    AuthenticationError,
    PermissionDeniedError,
    ConfigurationError,
    RegionError,
    InvalidRequestError,
    NotFoundError,
)
#: How many polls in a row may fail (after the hook's own retries) before a wait gives up.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
#: Seconds added to what the worker's supervisor and the scheduler loop take (see :func:`first_event_delay`):
#: the task process's own exit, the supervisor's last API calls, and a scheduler loop that runs long.
FIRST_EVENT_MARGIN = 3.0


def first_event_delay() -> float:
    """
    Seconds after its creation before a trigger may send its first event in the triggerer (10 s by default).

    When a task defers, the worker process exits, and LocalExecutor reports "success" for that try only once
    the task's supervisor has seen the task process end (``supervise_task`` returning). The supervisor sometimes
    (one deferral in three to five in our end-to-end deployment) sees the process's sockets close a moment
    before the process itself has ended; it then waits in ``select()`` for ``[workers] min_heartbeat_interval``
    (5 s) before it looks again. The scheduler
    drains the report at its next loop (``[scheduler] scheduler_idle_sleep_time``, 1 s, after a loop that may
    take as long). If the trigger has fired by then and the resumed attempt is QUEUED or RUNNING, Airflow 3.3's
    ``process_executor_events`` takes the stale "success" for a task killed externally and fails the task
    (apache/airflow#72716). So the first event waits for ``min_heartbeat_interval + 2 *
    scheduler_idle_sleep_time`` plus :data:`FIRST_EVENT_MARGIN`, read from the Airflow configuration.
    """
    heartbeat = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)
    idle = conf.getfloat("scheduler", "scheduler_idle_sleep_time", fallback=1.0)
    return max(0.0, heartbeat) + 2 * max(0.0, idle) + FIRST_EVENT_MARGIN


class _PollingTrigger(BaseTrigger):
    """
    Calls :meth:`check` every ``poll_interval`` seconds in a thread until it returns an event or time runs out.

    A poll that fails after the hook's retries (an outage, 5xx, 429, timeouts) is logged and tried again at the
    next poll, so a wait of hours rides out an outage of minutes. The wait ends with an error event only on an
    error waiting cannot cure (:data:`FINAL_ERRORS`; an :class:`AuthenticationError` comes after the hook has
    read the connection again, so a rotated secret is picked up first) or after ``max_consecutive_failures``
    failed polls in a row. ``timeout_at`` applies whatever the polls do: the timeout event is sent even when
    the last poll failed (it then carries the data of the last good poll).

    :param max_consecutive_failures: failed polls in a row (each after the hook's own retries) before the wait
        ends with an error event naming the count and the last error; at least 1. Serialised with the other
        keyword arguments.
    :param not_before: Optional. Epoch seconds before which the triggerer sends no event (its first poll waits
        until then); ``None`` (a new trigger, or one stored before this argument existed) is now plus
        :func:`first_event_delay`. Serialised, so a trigger the triggerer builds again keeps the original time.
        Only the triggerer waits (it sets ``trigger_id``): under ``dag.test()`` and in a worker no executor
        report can race the event. The wait is never longer than :func:`first_event_delay` (a clock skew
        between worker and triggerer cannot stall the trigger).
    """

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str,
        poll_interval: float,
        timeout_at: float | None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.eightbyeight_conn_id = eightbyeight_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout_at = timeout_at
        self.max_consecutive_failures = max(1, int(max_consecutive_failures))
        self.not_before = time.time() + first_event_delay() if not_before is None else float(not_before)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "eightbyeight_conn_id": self.eightbyeight_conn_id,
            "poll_interval": self.poll_interval,
            "timeout_at": self.timeout_at,
            "max_consecutive_failures": self.max_consecutive_failures,
            "not_before": self.not_before,
        }

    def check(self, hook: EightByEightHook) -> dict[str, Any] | None:
        """One poll (runs in a thread); an event payload when done, else ``None``."""
        raise NotImplementedError

    def event_now(self, hook: EightByEightHook) -> dict[str, Any] | None:
        """
        One :meth:`check` in the worker, right before deferring: the event the trigger would send at its first
        poll if the wait is already over, else ``None``. A check that fails also gives ``None``: the task then
        defers, and the trigger polls (and reports errors) as it always does.
        """
        try:
            return self.check(hook)
        except Exception as err:
            hook.log.info("Checking before deferring failed (%s); deferring.", _describe(err))
            return None

    async def _hold_first_event(self) -> None:
        """In the triggerer, wait until ``not_before`` (at most :func:`first_event_delay`)."""
        if getattr(self, "trigger_id", None) is None:
            return  # not run by the triggerer: no executor report to race
        wait = min(self.not_before - time.time(), first_event_delay())
        if wait > 0:
            self.log.info(
                "Waiting %.1f s before the first poll, so that the scheduler has seen the deferring worker exit.",
                wait,
            )
            await asyncio.sleep(wait)

    def timeout_event(self, hook: EightByEightHook) -> dict[str, Any]:
        """The payload when ``timeout_at`` passes; never raises (see :meth:`_timeout_payload`)."""
        return {"status": "timeout", "message": f"{type(self).__name__} timed out"}

    def _timeout_payload(
        self, read: Callable[[], dict[str, Any]], fallback: dict[str, Any], message: str
    ) -> dict[str, Any]:
        """
        A timeout event with live data from ``read()``; if that read fails, with ``fallback`` (what the last
        good poll saw) and the reason in the message. Never raises (``CancelledError`` still passes).
        """
        try:
            data = read()
        except Exception as err:
            return {**fallback, "status": "timeout", "message": f"{message} (the last check failed: {_describe(err)})"}
        return {**data, "status": "timeout", "message": message}

    #: A hook to poll with instead of a new one (set by a run that waits in its worker, so the polls count
    #: in its own request and retry statistics); never serialised, and not closed by the trigger.
    hook: EightByEightHook | None = None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await self._hold_first_event()
        own = self.hook is None
        hook = EightByEightHook(self.eightbyeight_conn_id) if self.hook is None else self.hook
        failures = 0
        try:
            while True:
                event: dict[str, Any] | None = None
                try:
                    event = await asyncio.to_thread(self.check, hook)
                    failures = 0
                except FINAL_ERRORS as err:
                    yield TriggerEvent(_error_event(err))
                    return
                except Exception as err:  # CancelledError is a BaseException and passes through
                    failures += 1
                    if failures >= self.max_consecutive_failures:
                        yield TriggerEvent(_error_event(err, f"{failures} polls in a row failed; the last: "))
                        return
                    hook.log.warning(
                        "Poll %d failed (%s); trying again in %g s (giving up after %d failures in a row).",
                        failures,
                        _describe(err),
                        self.poll_interval,
                        self.max_consecutive_failures,
                    )
                if event is not None:
                    yield TriggerEvent(event)
                    return
                if self.timeout_at is not None and time.time() + self.poll_interval > self.timeout_at:
                    try:
                        timeout = await asyncio.to_thread(self.timeout_event, hook)
                    except Exception as err:
                        timeout = {"status": "timeout", "message": f"{type(self).__name__} timed out ({err})"}
                    yield TriggerEvent(timeout)
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            if own:
                await asyncio.to_thread(hook.close)


class EightByEightObjectsTrigger(_PollingTrigger):
    """
    Fires when at least ``min_count`` objects match a FIQL filter.

    :param eightbyeight_conn_id: the 8x8 connection.
    :param filter: FIQL filter (already rendered) or ``None`` for all objects.
    :param region: region name(s), or ``None`` (resolved as the hook does).
    :param all_regions: search every region of the account.
    :param min_count: how many matching objects are enough.
    :param poll_interval: seconds between searches.
    :param timeout_at: Optional. Epoch seconds after which the trigger fires a ``timeout`` event.
    :param max_consecutive_failures: failed polls in a row (each after the hook's retries) before the wait
        ends with an error event; a single failed poll is tried again at the next poll.
    :param not_before: Optional. Epoch seconds before which the triggerer sends no event (default: now plus
        :func:`first_event_delay`; see :class:`_PollingTrigger`).
    """

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str,
        filter: str | None,
        region: str | list[str] | None = None,
        all_regions: bool = False,
        min_count: int = 1,
        poll_interval: float = 60.0,
        timeout_at: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        not_before: float | None = None,
    ) -> None:
        super().__init__(
            eightbyeight_conn_id=eightbyeight_conn_id,
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            not_before=not_before,
        )
        self.filter = filter
        self.region = region
        self.all_regions = all_regions
        self.min_count = int(min_count)
        self._last_count: int | None = None  # what the last good poll counted (not serialised)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_MODULE}.{type(self).__name__}",
            {
                **self._kwargs(),
                "filter": self.filter,
                "region": self.region,
                "all_regions": self.all_regions,
                "min_count": self.min_count,
            },
        )

    def count(self, hook: EightByEightHook) -> int:
        """Matching objects whose id can be used, counted up to ``min_count``."""
        found = hook.iter_objects(self.filter, region=self.region, all_regions=self.all_regions)
        self._last_count = sum(1 for _ in usable(found, self.min_count))
        return self._last_count

    def check(self, hook: EightByEightHook) -> dict[str, Any] | None:
        found = self.count(hook)
        hook.log.info("%d of the %d wanted object(s) match so far.", found, self.min_count)
        return {"status": "success", "count": found} if found >= self.min_count else None

    def timeout_event(self, hook: EightByEightHook) -> dict[str, Any]:
        return self._timeout_payload(
            lambda: {"count": self.count(hook)},
            {} if self._last_count is None else {"count": self._last_count},
            f"fewer than {self.min_count} matching object(s) before the timeout",
        )


class EightByEightBulkJobTrigger(_PollingTrigger):
    """
    Fires when every bulk (zip) job has finished (DONE, PARTIAL_DONE, FAILED or CANCELLED).

    A job 8x8 does not know (HTTP 404: never started, or expired) ends the wait at once with an error event
    naming its zip; failed polls are retried as :class:`_PollingTrigger` describes.

    :param jobs: ``[{"zip_name": ..., "region": ...}, ...]``.
    :param poll_interval: seconds between status reads.
    :param timeout_at: Optional. Epoch seconds after which the trigger fires a ``timeout`` event.
    :param max_consecutive_failures: failed polls in a row (each after the hook's retries) before the wait
        ends with an error event; a single failed poll is tried again at the next poll.
    :param not_before: Optional. Epoch seconds before which the triggerer sends no event (default: now plus
        :func:`first_event_delay`; see :class:`_PollingTrigger`).
    """

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str,
        jobs: list[dict[str, Any]],
        poll_interval: float = 15.0,
        timeout_at: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        not_before: float | None = None,
    ) -> None:
        super().__init__(
            eightbyeight_conn_id=eightbyeight_conn_id,
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            not_before=not_before,
        )
        self.jobs = [{"zip_name": j["zip_name"], "region": j.get("region")} for j in jobs]
        self._last_statuses: dict[str, str] | None = None  # what the last good poll saw (not serialised)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{_MODULE}.{type(self).__name__}", {**self._kwargs(), "jobs": self.jobs})

    def statuses(self, hook: EightByEightHook) -> dict[str, str]:
        """
        Current status of each job by zip name.

        :raises NotFoundError: naming the zip, when 8x8 knows no such job in its region (final: an unknown job
            never finishes).
        """
        result = {}
        for job in self.jobs:
            try:
                status = hook.get_bulk_job(job["zip_name"], region=job["region"]).status
            except NotFoundError as err:
                raise NotFoundError(
                    f"8x8 knows no bulk job {job['zip_name']!r} (region {job['region'] or 'default'}); "
                    "it cannot finish",
                    status=err.status,
                    method=err.method,
                    path=err.path,
                    server_message=err.server_message,
                    hint="Bulk jobs are region-scoped and kept a limited time by 8x8; start the download again",
                ) from None
            result[job["zip_name"]] = getattr(status, "value", str(status))
        self._last_statuses = result
        return result

    def check(self, hook: EightByEightHook) -> dict[str, Any] | None:
        statuses = self.statuses(hook)
        if all(s in ("DONE", "PARTIAL_DONE", "FAILED", "CANCELLED") for s in statuses.values()):
            return {"status": "success", "jobs": statuses}
        return None

    def timeout_event(self, hook: EightByEightHook) -> dict[str, Any]:
        return self._timeout_payload(
            lambda: {"jobs": self.statuses(hook)},
            {} if self._last_statuses is None else {"jobs": self._last_statuses},
            "bulk jobs did not finish in time",
        )


class EightByEightRestoreTrigger(_PollingTrigger):
    """
    Fires when every restored object is AVAILABLE again.

    An id 8x8 does not know in its region ends the wait at once with an error event naming the id; failed
    polls are retried as :class:`_PollingTrigger` describes, so a wait of a day rides out an outage.

    :param objects: ``[{"id": ..., "region": ...}, ...]``.
    :param poll_interval: seconds between reads.
    :param timeout_at: Optional. Epoch seconds after which the trigger fires a ``timeout`` event (its
        ``pending`` ids are those of the last good poll if the final read fails).
    :param max_consecutive_failures: failed polls in a row (each after the hook's retries) before the wait
        ends with an error event; a single failed poll is tried again at the next poll.
    :param not_before: Optional. Epoch seconds before which the triggerer sends no event (default: now plus
        :func:`first_event_delay`; see :class:`_PollingTrigger`).
    """

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str,
        objects: list[dict[str, Any]],
        poll_interval: float = 600.0,
        timeout_at: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        not_before: float | None = None,
    ) -> None:
        super().__init__(
            eightbyeight_conn_id=eightbyeight_conn_id,
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            not_before=not_before,
        )
        self.objects = [{"id": o["id"], "region": o.get("region")} for o in objects]
        self._last_pending: list[str] | None = None  # what the last good poll saw (not serialised)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{_MODULE}.{type(self).__name__}", {**self._kwargs(), "objects": self.objects})

    def pending(self, hook: EightByEightHook) -> list[str]:
        """
        Ids not AVAILABLE yet (read by id: one search per region and 100 ids).

        An id the search does not return is read on its own (``GET /objects/{id}``), so a search that lags
        behind is not mistaken for an unknown id.

        :raises NotFoundError: naming the id, when 8x8 does not know it in its region (final: an unknown
            object never becomes AVAILABLE).
        """
        by_region: dict[str | None, list[str]] = {}
        for ref in self.objects:
            by_region.setdefault(ref["region"], []).append(ref["id"])
        found: dict[str, Any] = {}
        for region, ids in by_region.items():
            found.update(hook.get_objects(ids, region=region))
            for object_id in ids:
                if object_id not in found:
                    found[object_id] = self._read_one(hook, object_id, region)
        pending = [o["id"] for o in self.objects if not found[o["id"]].is_available]
        self._last_pending = pending
        return pending

    @staticmethod
    def _read_one(hook: EightByEightHook, object_id: str, region: str | None) -> Any:
        try:
            return hook.get_object(object_id, region=region)
        except NotFoundError as err:
            raise NotFoundError(
                f"8x8 does not know object {object_id!r} (region {region or 'default'}); it cannot be restored",
                status=err.status,
                method=err.method,
                path=err.path,
                server_message=err.server_message,
                hint="Check the id and its region (objects are region-scoped)",
            ) from None

    def check(self, hook: EightByEightHook) -> dict[str, Any] | None:
        pending = self.pending(hook)
        hook.log.info("%d of %d restored object(s) still not available.", len(pending), len(self.objects))
        return None if pending else {"status": "success", "pending": []}

    def timeout_event(self, hook: EightByEightHook) -> dict[str, Any]:
        try:
            pending = self.pending(hook)
        except Exception as err:
            # Not confirmed AVAILABLE: what the last good poll saw, or every id if no poll succeeded.
            last = self._last_pending if self._last_pending is not None else [o["id"] for o in self.objects]
            return {
                "status": "timeout",
                "pending": last,
                "message": f"{len(last)} object(s) still not available (the last check failed: {_describe(err)})",
            }
        return {"status": "timeout", "pending": pending, "message": f"{len(pending)} object(s) still not available"}


def _describe(err: BaseException) -> str:
    """An error in one line: provider errors speak for themselves (and never hold a secret)."""
    return str(err) if isinstance(err, EightByEightError) else f"{type(err).__name__}: {err}"


def _error_event(err: BaseException, prefix: str = "") -> dict[str, Any]:
    return {"status": "error", "message": prefix + _describe(err), "error_type": type(err).__name__}
