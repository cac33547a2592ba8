"""
Triggers that wait, in the triggerer, for 8x8: objects to appear, bulk zip jobs to finish, restores.

Each trigger is a thin shell over a wait of :mod:`airflow_provider_eightbyeight.waits` (what is waited
for, its check and the one polling loop, which calls :class:`EightByEightHook` in a worker thread so the
event loop is never blocked): it serialises the wait's keyword arguments (JSON only, never a secret) and runs
:func:`~airflow_provider_eightbyeight.waits.poll`. A transfer that waits in its worker runs the same loop on
the same wait; :func:`trigger_for` builds the trigger of a wait for a task that defers. Events are small:
``{"status": "success" | "timeout" | "error", ...}``.

In the triggerer, no trigger sends its first event before ``not_before`` (when it was created plus
:func:`first_event_delay`): a trigger that fired at once could resume its task before the scheduler has
drained the executor's report of the worker that deferred, and Airflow 3.3 then fails the resumed task
(see :func:`first_event_delay`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from airflow_provider_eightbyeight import waits
from airflow_provider_eightbyeight.compat import BaseTrigger, TriggerEvent, conf
from airflow_provider_eightbyeight.errors import (  # noqa: F401 (re-exported: imported from here before)
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RegionError,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import usable  # noqa: F401 (re-exported: imported from here before)
from airflow_provider_eightbyeight.waits import (  # noqa: F401 (re-exported: their home was here)
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    FINAL_ERRORS,
    BulkJobsWait,
    ObjectsWait,
    RestoreWait,
    Wait,
)

_MODULE = "airflow_provider_eightbyeight.triggers.eightbyeight"
W = TypeVar("W", bound=Wait)


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


class _PollingTrigger(BaseTrigger, Generic[W]):
    """
    Runs :func:`waits.poll <airflow_provider_eightbyeight.waits.poll>` on its :attr:`wait` with a hook of its
    connection, after holding its first event until ``not_before`` in the triggerer.

    Failed polls, final errors, ``max_consecutive_failures`` and ``timeout_at`` behave as the wait's loop
    describes; the trigger adds only its connection and ``not_before``.

    :param eightbyeight_conn_id: the 8x8 connection (the triggerer builds its own hook from it).
    :param wait: what is waited for (its fields are the trigger's other serialised keyword arguments).
    :param not_before: Optional. Epoch seconds before which the triggerer sends no event (its first poll waits
        until then); ``None`` (a new trigger, or one stored before this argument existed) is now plus
        :func:`first_event_delay`. Serialised, so a trigger the triggerer builds again keeps the original time.
        Only the triggerer waits (it sets ``trigger_id``): under ``dag.test()`` and in a worker no executor
        report can race the event. The wait is never longer than :func:`first_event_delay` (a clock skew
        between worker and triggerer cannot stall the trigger).
    """

    def __init__(self, *, eightbyeight_conn_id: str, wait: W, not_before: float | None = None) -> None:
        super().__init__()
        self.eightbyeight_conn_id = eightbyeight_conn_id
        self.wait = wait
        self.not_before = time.time() + first_event_delay() if not_before is None else float(not_before)

    @property
    def poll_interval(self) -> float:
        return self.wait.poll_interval

    @property
    def timeout_at(self) -> float | None:
        return self.wait.timeout_at

    @property
    def max_consecutive_failures(self) -> int:
        return self.wait.max_consecutive_failures

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
        return self.wait.check(hook)

    def event_now(self, hook: EightByEightHook) -> dict[str, Any] | None:
        """
        One :meth:`check` in the worker, right before deferring: the event the trigger would send at its first
        poll if the wait is already over, else ``None`` (also when the check fails: the task then defers).
        """
        return waits.event_now(self.wait, hook)

    def timeout_event(self, hook: EightByEightHook) -> dict[str, Any]:
        """The payload when ``timeout_at`` passes; never raises."""
        return self.wait.timeout_event(hook)

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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await self._hold_first_event()
        hook = EightByEightHook(self.eightbyeight_conn_id)
        try:
            async for payload in waits.poll(self.wait, hook):
                yield TriggerEvent(payload)
                return
        finally:
            await asyncio.to_thread(hook.close)


class EightByEightObjectsTrigger(_PollingTrigger[ObjectsWait]):
    """
    Fires when at least ``min_count`` objects match a FIQL filter (see :class:`~.waits.ObjectsWait`).

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
        wait = ObjectsWait(
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            filter=filter,
            region=region,
            all_regions=all_regions,
            min_count=min_count,
        )
        super().__init__(eightbyeight_conn_id=eightbyeight_conn_id, wait=wait, not_before=not_before)

    filter = property(lambda self: self.wait.filter)
    region = property(lambda self: self.wait.region)
    all_regions = property(lambda self: self.wait.all_regions)
    min_count = property(lambda self: self.wait.min_count)

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
        return self.wait.count(hook)


class EightByEightBulkJobTrigger(_PollingTrigger[BulkJobsWait]):
    """
    Fires when every bulk (zip) job has finished (see :class:`~.waits.BulkJobsWait`).

    A job 8x8 does not know (HTTP 404: never started, or expired) ends the wait at once with an error event
    naming its zip; failed polls are retried as :func:`~.waits.poll` describes.

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
        wait = BulkJobsWait(
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            jobs=jobs,
        )
        super().__init__(eightbyeight_conn_id=eightbyeight_conn_id, wait=wait, not_before=not_before)

    jobs = property(lambda self: self.wait.jobs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{_MODULE}.{type(self).__name__}", {**self._kwargs(), "jobs": self.jobs})

    def statuses(self, hook: EightByEightHook) -> dict[str, str]:
        """
        Current status of each job by zip name.

        :raises NotFoundError: naming the zip, when 8x8 knows no such job in its region.
        """
        return self.wait.statuses(hook)


class EightByEightRestoreTrigger(_PollingTrigger[RestoreWait]):
    """
    Fires when every restored object is AVAILABLE again (see :class:`~.waits.RestoreWait`).

    An id 8x8 does not know in its region ends the wait at once with an error event naming the id; failed
    polls are retried as :func:`~.waits.poll` describes, so a wait of a day rides out an outage.

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
        wait = RestoreWait(
            poll_interval=poll_interval,
            timeout_at=timeout_at,
            max_consecutive_failures=max_consecutive_failures,
            objects=objects,
        )
        super().__init__(eightbyeight_conn_id=eightbyeight_conn_id, wait=wait, not_before=not_before)

    objects = property(lambda self: self.wait.objects)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{_MODULE}.{type(self).__name__}", {**self._kwargs(), "objects": self.objects})

    def pending(self, hook: EightByEightHook) -> list[str]:
        """
        Ids not AVAILABLE yet (read by id; an id the search does not return is read on its own).

        :raises NotFoundError: naming the id, when 8x8 does not know it in its region.
        """
        return self.wait.pending(hook)


def trigger_for(
    wait: Wait, eightbyeight_conn_id: str
) -> EightByEightObjectsTrigger | EightByEightBulkJobTrigger | EightByEightRestoreTrigger:
    """
    The trigger that waits for ``wait`` in the triggerer (for a task that defers on a run's pause).

    :param wait: a wait of :mod:`airflow_provider_eightbyeight.waits`.
    :param eightbyeight_conn_id: the connection the triggerer polls with.
    :raises TypeError: for a kind of wait no trigger runs.
    """
    common: dict[str, Any] = {
        "eightbyeight_conn_id": eightbyeight_conn_id,
        "poll_interval": wait.poll_interval,
        "timeout_at": wait.timeout_at,
        "max_consecutive_failures": wait.max_consecutive_failures,
    }
    if isinstance(wait, BulkJobsWait):
        return EightByEightBulkJobTrigger(jobs=wait.jobs, **common)
    if isinstance(wait, RestoreWait):
        return EightByEightRestoreTrigger(objects=wait.objects, **common)
    if isinstance(wait, ObjectsWait):
        return EightByEightObjectsTrigger(
            filter=wait.filter, region=wait.region, all_regions=wait.all_regions, min_count=wait.min_count, **common
        )
    raise TypeError(f"no trigger waits for a {type(wait).__name__}")
