"""Operators that change objects at 8x8: delete and restore."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.compat import conf
from airflow_provider_eightbyeight.errors import ConfigurationError, EightByEightError, NotFoundError, error_from_event
from airflow_provider_eightbyeight.models import ObjectState, StoredObject
from airflow_provider_eightbyeight.operators._criteria import (
    CRITERIA_TEMPLATE_FIELDS,
    EightByEightSearchBaseOperator,
    _names,
    _seconds,
    stash_for_resume,
    unstash_after_resume,
)
from airflow_provider_eightbyeight.operators.list_objects import XComBoundExceededError
from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightRestoreTrigger

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.compat import Context


#: The most ids the delete and restore operators name in XCom (about 0.4 MB of ids).
DEFAULT_MAX_XCOM_ITEMS = 10_000


def _bound(value: Any) -> int:
    return arguments.whole_number("max_xcom_items", value, 1)


class EightByEightDeleteObjectsOperator(EightByEightSearchBaseOperator):
    """
    Delete objects at 8x8 (they become REVOKED), by ids or by search.

    Deleting by search alone needs ``confirm_delete_by_filter=True``: an empty or mistyped filter would
    otherwise delete every recording of the account.

    :param object_ids: Optional. Ids to delete, used exactly (never trimmed). Templated. Objects 8x8 describes
        with malformed metadata (or an id that cannot be used exactly) are never deleted: they are ``failed``.
    :param confirm_delete_by_filter: Required to delete what a search (no ``object_ids``) finds.
    :param fail_on_error: Fail the task when some objects could not be deleted.
    :param batch_size: Ids per delete request.
    :param max_xcom_items: The most ids (and failures) each list of the XCom names (default 10,000, about
        0.4 MB); the counts are always whole and the log says when a list was cut.
    (Search arguments: see :class:`~airflow_provider_eightbyeight.operators._criteria.EightByEightSearchBaseOperator`.)
    :return: ``{"deleted": [...], "failed": {id: reason}, "not_found": [...], "deleted_count": n,
        "failed_count": n, "not_found_count": n}``; only deletions 8x8 confirms (the object reads REVOKED or
        DELETED afterwards) count as deleted.
    """

    template_fields: Sequence[str] = (*CRITERIA_TEMPLATE_FIELDS, "object_ids")
    ui_color = "#ffe3e3"

    def __init__(
        self,
        *,
        object_ids: list[str] | str | None = None,
        confirm_delete_by_filter: bool = False,
        fail_on_error: bool = True,
        batch_size: int = 100,
        max_xcom_items: int = DEFAULT_MAX_XCOM_ITEMS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_ids = object_ids
        self.confirm_delete_by_filter = confirm_delete_by_filter
        self.fail_on_error = fail_on_error
        self.batch_size = batch_size
        self.max_xcom_items = _bound(max_xcom_items)

    def execute(self, context: Context) -> dict[str, Any]:
        ids = _names(self.object_ids, "object_ids") if self.object_ids not in (None, "") else None
        by_region: dict[str | None, list[str]] = {}
        not_found: list[str] = []
        refused: dict[str, str] = {}  # objects 8x8 described with a problem: never deleted
        if ids is not None:
            by_region, not_found = self._regions_of(ids, refused)
        else:
            if not self.confirm_delete_by_filter:
                raise ConfigurationError(
                    "Deleting by search needs confirm_delete_by_filter=True",
                    hint="Pass object_ids, or set confirm_delete_by_filter=True after checking the filter",
                )
            for obj in self.hook.iter_objects(self.object_filter(), **self.search_regions()):
                _sort_out(obj, by_region, refused)
        deleted: list[str] = []
        already: list[str] = []
        failed: dict[str, str] = dict(refused)
        for region, group in by_region.items():
            result = self.hook.delete_objects(group, region=region, batch_size=self.batch_size)
            deleted.extend(result.deleted)
            already.extend(result.already_deleted)
            failed.update(result.failed)
            not_found.extend(result.not_found)
        self.log.info(
            "Deleted %d object(s) at 8x8 (confirmed); %d were deleted already; %d could not be deleted; %d not found.",
            len(deleted),
            len(already),
            len(failed),
            len(not_found),
        )
        if (failed or not_found) and self.fail_on_error:
            problems = [*(f"{k}: {v}" for k, v in failed.items()), *(f"{i}: not found at 8x8" for i in not_found)]
            raise EightByEightError(
                f"{len(failed) + len(not_found)} object(s) were not deleted: {'; '.join(problems[:20])}",
                hint="Check the ids and their region; fail_on_error=False only reports them",
            )
        bound = self.max_xcom_items
        if max(len(deleted), len(already), len(failed), len(not_found)) > bound:
            self.log.warning(
                "The XCom names at most %d ids per list (max_xcom_items); the counts are whole, the task log "
                "above and 8x8 itself have the rest.",
                bound,
            )
        return {
            "deleted": deleted[:bound],
            "already_deleted": already[:bound],
            "failed": dict(list(failed.items())[:bound]),
            "not_found": not_found[:bound],
            "deleted_count": len(deleted),
            "already_deleted_count": len(already),
            "failed_count": len(failed),
            "not_found_count": len(not_found),
        }

    def _regions_of(self, ids: list[str], refused: dict[str, str]) -> tuple[dict[str | None, list[str]], list[str]]:
        """
        Each id's region (see ``locate_objects``); ids found in no region are returned apart, and objects
        with a problem are added to ``refused``.
        """
        missing: dict[str, str] = {}
        by_region: dict[str | None, list[str]] = {}
        for obj in self.iter_located(ids, missing):  # one chunk's metadata at a time
            _sort_out(obj, by_region, refused)
        return by_region, list(missing)


def _sort_out(obj: StoredObject, by_region: dict[str | None, list[str]], refused: dict[str, str]) -> None:
    """An object to delete: by its region, or refused (with why) when 8x8 described it with a problem."""
    if obj.problem:
        refused[obj.id] = f"not deleted: {obj.problem}"
    else:
        by_region.setdefault(obj.region, []).append(obj.id)


class EightByEightRestoreObjectsOperator(EightByEightSearchBaseOperator):
    """
    Restore ARCHIVED objects, optionally waiting (deferrable) until they are AVAILABLE again.

    8x8 restores take hours (up to ~24 h); with ``deferrable=True`` the wait costs no worker slot.

    :param object_ids: Optional. Ids to restore, each in its own region (unknown ids, and objects 8x8 describes
        with malformed metadata, fail the task before anything is restored); without them, ARCHIVED objects
        matching the search (those with malformed metadata are left out, with a warning). Templated.
    :param expiration_days: Days (1..10) 8x8 keeps the restored copy.
    :param wait_for_completion: Wait until every object is AVAILABLE.
    :param deferrable: Wait in the triggerer (not when every object is AVAILABLE already: a wait that is over
        is never deferred; see the README, "Deferral and Airflow's stale-success race").
    :param poll_interval: Seconds between checks.
    :param max_xcom_items: The most objects one task restores (default 10,000): its XCom names every id
        restored, for a downstream transfer, so a larger set fails before anything is restored (split it
        with :func:`~airflow_provider_eightbyeight.partition.windows`, or let the transfer restore with
        ``on_archived="restore"``).
    :param timeout: Seconds to wait.
    (Search arguments: see :class:`~airflow_provider_eightbyeight.operators._criteria.EightByEightSearchBaseOperator`.)
    :return: the restored ids (for a downstream transfer's ``object_ids``).
    """

    template_fields: Sequence[str] = (*CRITERIA_TEMPLATE_FIELDS, "object_ids", "poll_interval")
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        object_ids: list[str] | str | None = None,
        expiration_days: int = 7,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = 600.0,
        timeout: float = 26 * 3600,
        max_xcom_items: int = DEFAULT_MAX_XCOM_ITEMS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("states", ["ARCHIVED"])
        self.max_xcom_items = _bound(max_xcom_items)
        super().__init__(**kwargs)
        arguments.restore_days("expiration_days", expiration_days)
        self.object_ids = object_ids
        self.expiration_days = expiration_days
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout

    def execute(self, context: Context) -> list[str]:
        poll_interval = _seconds(self.poll_interval, "poll_interval")
        ids = _names(self.object_ids, "object_ids") if self.object_ids not in (None, "") else None
        refs: list[dict[str, Any]] = []
        if ids is not None:
            # Each id in its own region (the one given, the connection's, or wherever it is found); unknown
            # ids fail the task before anything is restored.
            self._within_bound(len(ids))
            located, missing = self.locate_objects(ids)
            if missing:
                raise NotFoundError(
                    f"{len(missing)} object(s) to restore are not known at 8x8: "
                    + "; ".join(f"{i}: {why}" for i, why in list(missing.items())[:20]),
                    hint="Check the ids and their region; nothing was restored",
                )
            malformed = {o.id: o.problem for o in located if o.problem}
            if malformed:
                raise EightByEightError(
                    f"{len(malformed)} object(s) to restore cannot be handled as 8x8 describes them: "
                    + "; ".join(f"{i}: {why}" for i, why in list(malformed.items())[:20]),
                    hint="Nothing was restored; ask 8x8 support to correct their metadata, or leave them out",
                )
            for obj in located:
                if obj.state == ObjectState.ARCHIVED.value:
                    self.hook.restore_object(obj.id, self.expiration_days, region=obj.region)
                else:
                    self.log.info("Object %s is %s, not ARCHIVED: nothing to restore.", obj.id, obj.state)
                refs.append({"id": obj.id, "region": obj.region})
        else:
            # Ids first, then restores: restoring objects leave ARCHIVED (8x8 may show them PENDING), which
            # would shift the later pages of a search still being read.
            found: list[tuple[str, str | None]] = []
            for obj in self.hook.iter_objects(self.object_filter(), **self.search_regions()):
                if obj.problem:  # never restored: a transfer of the same search names it failed
                    self.log.warning("Not restoring object %r: %s", obj.id, obj.problem)
                elif obj.state == ObjectState.ARCHIVED.value:
                    found.append((obj.id, obj.region))
                    self._within_bound(len(found))  # stops reading at the bound plus one
            for object_id, region in found:
                self.hook.restore_object(object_id, self.expiration_days, region=region)
                refs.append({"id": object_id, "region": region})
        self.log.info("Asked 8x8 to restore %d object(s) for %d day(s).", len(refs), self.expiration_days)
        restored = [r["id"] for r in refs]
        if not refs or not self.wait_for_completion:
            return restored
        trigger = EightByEightRestoreTrigger(
            eightbyeight_conn_id=self.eightbyeight_conn_id,
            objects=refs,
            poll_interval=poll_interval,
            timeout_at=time.time() + self.timeout,
        )
        if self.deferrable:
            # Never defer on a wait that is over: a trigger firing at once races Airflow's executor events.
            event = trigger.event_now(self.hook)
            if event is not None:
                self.log.info("Every object is AVAILABLE already: completing without deferring.")
                return self.execute_complete(context, event, restored)
            stash_for_resume(context, "restored", restored)
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout + 3600),
            )
        deadline = time.monotonic() + self.timeout
        while pending := trigger.pending(self.hook):
            if time.monotonic() >= deadline:
                raise EightByEightError(
                    f"{len(pending)} object(s) still not AVAILABLE after {self.timeout:.0f} s: {pending[:20]}"
                )
            time.sleep(poll_interval)
        return restored

    def _within_bound(self, count: int) -> None:
        if count > self.max_xcom_items:
            raise XComBoundExceededError(
                f"More than {self.max_xcom_items:,} objects to restore, more than this task may name in XCom "
                "(max_xcom_items); nothing was restored",
                hint=(
                    "Split the period with airflow_provider_eightbyeight.partition.windows() and .expand_kwargs(), "
                    "let EightByEightTransferOperator restore and copy them (on_archived='restore'), or raise "
                    "max_xcom_items"
                ),
            )

    def execute_complete(self, context: Context, event: dict[str, Any], restored: list[str] | None = None) -> list[str]:
        """Resume after the restore trigger: fail on error or timeout, else return the restored ids."""
        if event.get("status") == "error":
            raise error_from_event(event, "Restore did not complete")
        if event.get("status") != "success":
            raise EightByEightError(
                f"Restore did not complete: {event.get('message')} ({event.get('pending', [])[:20]})"
            )
        ids = list(restored or unstash_after_resume(context, "restored", []))
        self.log.info("Restore complete: %d object(s) are AVAILABLE now (for the days 8x8 was asked).", len(ids))
        return ids
