"""
What a task waits for at 8x8 (objects to match, bulk jobs to finish, restores), and the one polling loop.

A wait is a small specification: :meth:`Wait.check` is one poll through the hook (an event payload when the
wait is over, else ``None``), :meth:`Wait.timeout_event` the payload when time runs out, and :func:`poll`
calls ``check`` every ``poll_interval`` seconds in a thread until one of them gives an event. The triggers run
:func:`poll` in the triggerer; a transfer that waits in its worker runs the very same loop, so both end the
same way. No Airflow import: the triggers (and the operators that defer) build on this module.

Events are small JSON: ``{"status": "success" | "timeout" | "error", ...}``; an error event carries the
error's class name (``error_type``, read back through :func:`errors.error_from_event`) and a message that
never holds a secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_eightbyeight.errors import (
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RegionError,
)
from airflow_provider_eightbyeight.models import TERMINAL_BULK_STATUSES, usable

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

#: What a wait polls through: an :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`
#: (this layer is below the hooks, so it names no class of theirs).
Client = Any


@dataclass
class Wait:
    """
    One wait: how often to poll, until when, and how many failed polls in a row end it.

    :param poll_interval: seconds between polls.
    :param timeout_at: Optional. Epoch seconds after which the wait ends with a ``timeout`` event.
    :param max_consecutive_failures: failed polls in a row (each after the hook's own retries) before the wait
        ends with an error event naming the count and the last error; at least 1.
    """

    poll_interval: float
    timeout_at: float | None
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES

    def __post_init__(self) -> None:
        self.poll_interval = float(self.poll_interval)
        self.max_consecutive_failures = max(1, int(self.max_consecutive_failures))

    #: What is waited for, in the user's terms (the fallback timeout message names it).
    label = "the wait"

    def check(self, client: Client) -> dict[str, Any] | None:
        """One poll (runs in a thread); an event payload when done, else ``None``."""
        raise NotImplementedError

    def timeout_event(self, client: Client) -> dict[str, Any]:
        """The payload when ``timeout_at`` passes; never raises (see :meth:`_timeout_payload`)."""
        return {"status": "timeout", "message": f"{self.label} timed out"}

    @staticmethod
    def _timeout_payload(read: Callable[[], dict[str, Any]], fallback: dict[str, Any], message: str) -> dict[str, Any]:
        """
        A timeout event with live data from ``read()``; if that read fails, with ``fallback`` (what the last
        good poll saw) and the reason in the message. Never raises (``CancelledError`` still passes).
        """
        try:
            data = read()
        except Exception as err:
            return {**fallback, "status": "timeout", "message": f"{message} (the last check failed: {describe(err)})"}
        return {**data, "status": "timeout", "message": message}


@dataclass
class ObjectsWait(Wait):
    """
    Over when at least ``min_count`` usable objects match a FIQL filter.

    :param filter: FIQL filter (already rendered) or ``None`` for all objects.
    :param region: region name(s), or ``None`` (resolved as the hook does).
    :param all_regions: search every region of the account.
    :param min_count: how many matching objects are enough.
    """

    filter: str | None = None
    region: str | list[str] | None = None
    all_regions: bool = False
    min_count: int = 1
    last_count: int | None = field(default=None, init=False, compare=False, repr=False)

    label = "the wait for matching objects"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.min_count = int(self.min_count)

    def count(self, client: Client) -> int:
        """Matching objects whose id can be used, counted up to ``min_count``."""
        found = client.iter_objects(self.filter, region=self.region, all_regions=self.all_regions)
        self.last_count = sum(1 for _ in usable(found, self.min_count))
        return self.last_count

    def check(self, client: Client) -> dict[str, Any] | None:
        found = self.count(client)
        client.log.info("%d of the %d wanted object(s) match so far.", found, self.min_count)
        return {"status": "success", "count": found} if found >= self.min_count else None

    def timeout_event(self, client: Client) -> dict[str, Any]:
        return self._timeout_payload(
            lambda: {"count": self.count(client)},
            {} if self.last_count is None else {"count": self.last_count},
            f"fewer than {self.min_count} matching object(s) before the timeout",
        )


@dataclass
class BulkJobsWait(Wait):
    """
    Over when every bulk (zip) job has finished (DONE, PARTIAL_DONE, FAILED or CANCELLED).

    A job 8x8 does not know (HTTP 404: never started, or expired) ends the wait at once with an error event
    naming its zip.

    :param jobs: ``[{"zip_name": ..., "region": ...}, ...]``.
    """

    jobs: list[dict[str, Any]] = field(default_factory=list)
    last_statuses: dict[str, str] | None = field(default=None, init=False, compare=False, repr=False)

    label = "the wait for bulk jobs"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.jobs = [{"zip_name": j["zip_name"], "region": j.get("region")} for j in self.jobs]

    def statuses(self, client: Client) -> dict[str, str]:
        """
        Current status of each job by zip name.

        :raises NotFoundError: naming the zip, when 8x8 knows no such job in its region (final: an unknown job
            never finishes).
        """
        result = {}
        for job in self.jobs:
            try:
                status = client.get_bulk_job(job["zip_name"], region=job["region"]).status
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
        self.last_statuses = result
        return result

    def check(self, client: Client) -> dict[str, Any] | None:
        statuses = self.statuses(client)
        if all(s in TERMINAL_BULK_STATUSES for s in statuses.values()):
            return {"status": "success", "jobs": statuses}
        return None

    def timeout_event(self, client: Client) -> dict[str, Any]:
        return self._timeout_payload(
            lambda: {"jobs": self.statuses(client)},
            {} if self.last_statuses is None else {"jobs": self.last_statuses},
            "bulk jobs did not finish in time",
        )


@dataclass
class RestoreWait(Wait):
    """
    Over when every object named is AVAILABLE (restored, or no longer PENDING).

    An id 8x8 does not know in its region ends the wait at once with an error event naming the id.

    :param objects: ``[{"id": ..., "region": ...}, ...]``.
    """

    objects: list[dict[str, Any]] = field(default_factory=list)
    last_pending: list[str] | None = field(default=None, init=False, compare=False, repr=False)

    label = "the wait for restores"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.objects = [{"id": o["id"], "region": o.get("region")} for o in self.objects]

    def pending(self, client: Client) -> list[str]:
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
            found.update(client.get_objects(ids, region=region))
            for object_id in ids:
                if object_id not in found:
                    found[object_id] = _read_one(client, object_id, region)
        pending = [o["id"] for o in self.objects if not found[o["id"]].is_available]
        self.last_pending = pending
        return pending

    def check(self, client: Client) -> dict[str, Any] | None:
        pending = self.pending(client)
        client.log.info("%d of %d restored object(s) still not available.", len(pending), len(self.objects))
        return None if pending else {"status": "success", "pending": []}

    def timeout_event(self, client: Client) -> dict[str, Any]:
        try:
            pending = self.pending(client)
        except Exception as err:
            # Not confirmed AVAILABLE: what the last good poll saw, or every id if no poll succeeded.
            last = self.last_pending if self.last_pending is not None else [o["id"] for o in self.objects]
            return {
                "status": "timeout",
                "pending": last,
                "message": f"{len(last)} object(s) still not available (the last check failed: {describe(err)})",
            }
        return {"status": "timeout", "pending": pending, "message": f"{len(pending)} object(s) still not available"}


def _read_one(client: Client, object_id: str, region: str | None) -> Any:
    try:
        return client.get_object(object_id, region=region)
    except NotFoundError as err:
        raise NotFoundError(
            f"8x8 does not know object {object_id!r} (region {region or 'default'}); it cannot be restored",
            status=err.status,
            method=err.method,
            path=err.path,
            server_message=err.server_message,
            hint="Check the id and its region (objects are region-scoped)",
        ) from None


def event_now(wait: Wait, client: Client) -> dict[str, Any] | None:
    """
    One :meth:`Wait.check` right before deferring: the event the trigger would send at its first poll if the
    wait is already over, else ``None``. A check that fails also gives ``None``: the task then defers, and the
    trigger polls (and reports errors) as it always does.
    """
    try:
        return wait.check(client)
    except Exception as err:
        client.log.info("Checking before deferring failed (%s); deferring.", describe(err))
        return None


async def poll(wait: Wait, client: Client) -> AsyncIterator[dict[str, Any]]:
    """
    Poll until the wait is over; yields exactly one event payload.

    A poll that fails after the hook's retries (an outage, 5xx, 429, timeouts) is logged and tried again at the
    next poll, so a wait of hours rides out an outage of minutes. The wait ends with an error event only on an
    error waiting cannot cure (:data:`FINAL_ERRORS`; an :class:`AuthenticationError` comes after the hook has
    read the connection again, so a rotated secret is picked up first) or after ``max_consecutive_failures``
    failed polls in a row. ``timeout_at`` applies whatever the polls do: the timeout event is sent even when
    the last poll failed (it then carries the data of the last good poll).
    """
    failures = 0
    while True:
        event: dict[str, Any] | None = None
        try:
            event = await asyncio.to_thread(wait.check, client)
            failures = 0
        except FINAL_ERRORS as err:
            yield error_event(err)
            return
        except Exception as err:  # CancelledError is a BaseException and passes through
            failures += 1
            if failures >= wait.max_consecutive_failures:
                yield error_event(err, f"{failures} polls in a row failed; the last: ")
                return
            client.log.warning(
                "Poll %d failed (%s); trying again in %g s (giving up after %d failures in a row).",
                failures,
                describe(err),
                wait.poll_interval,
                wait.max_consecutive_failures,
            )
        if event is not None:
            yield event
            return
        if wait.timeout_at is not None and time.time() + wait.poll_interval > wait.timeout_at:
            try:
                timeout = await asyncio.to_thread(wait.timeout_event, client)
            except Exception as err:
                timeout = {"status": "timeout", "message": f"{wait.label} timed out ({err})"}
            yield timeout
            return
        await asyncio.sleep(wait.poll_interval)


def describe(err: BaseException) -> str:
    """An error in one line: provider errors speak for themselves (and never hold a secret)."""
    return str(err) if isinstance(err, EightByEightError) else f"{type(err).__name__}: {err}"


def error_event(err: BaseException, prefix: str = "") -> dict[str, Any]:
    """The event of a wait that ended with ``err``."""
    return {"status": "error", "message": prefix + describe(err), "error_type": type(err).__name__}
