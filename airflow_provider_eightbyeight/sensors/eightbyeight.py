"""EightByEightObjectsSensor: wait until enough 8x8 objects match a search (poke, reschedule or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.compat import BaseSensorOperator, PokeReturnValue, conf
from airflow_provider_eightbyeight.connection import DEFAULT_CONN_ID
from airflow_provider_eightbyeight.errors import error_from_event
from airflow_provider_eightbyeight.models import StoredObject, usable
from airflow_provider_eightbyeight.operators._criteria import CRITERIA_TEMPLATE_FIELDS, ObjectCriteriaMixin
from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightObjectsTrigger

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.compat import Context

#: Default XCom bound of the sensor: ids pushed (~40 B each, so ~40 KB).
MAX_SENSOR_IDS = 1_000


class EightByEightObjectsSensor(ObjectCriteriaMixin, BaseSensorOperator):
    """
    Wait until at least ``min_count`` 8x8 objects match a search; push their ids (at most ``max_ids``) to XCom.

    Typical use: wait for the data interval's recordings before copying them
    (``created_after="{{ data_interval_start }}"``, ``created_before="{{ data_interval_end }}"``), then copy
    with the same search arguments: the sensor is a signal, its ids are not meant as the work list.

    Each check reads at most ``max(min_count, max_ids + 1)`` objects (one page per 100), in the worker and
    when resuming after the trigger; the trigger itself counts only up to ``min_count``.

    :param min_count: How many matching objects are enough (default 1).
    :param max_ids: The XCom bound: push at most this many ids (default 1,000, :data:`MAX_SENSOR_IDS`;
        0 pushes an empty list). When more objects match, the first ``max_ids`` (oldest first) are pushed and a
        warning says the list is incomplete; to act on every match, give the transfer the same search arguments,
        or list them with ``EightByEightListObjectsOperator``.
    :param deferrable: Wait in the triggerer (default from ``[operators] default_deferrable``); the sensor pokes
        first and defers only when not enough objects match yet.
    (The search arguments are those of :class:`EightByEightListObjectsOperator`; ``poke_interval``,
    ``timeout``, ``mode`` and ``soft_fail`` are the usual sensor arguments.)
    """

    template_fields: Sequence[str] = (*CRITERIA_TEMPLATE_FIELDS, "min_count")
    template_fields_renderers = {"tags": "json"}
    ui_color = "#eaf7ea"

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str = DEFAULT_CONN_ID,
        region: str | list[str] | None = None,
        all_regions: bool = False,
        filter: str | None = None,
        object_types: str | list[str] | None = None,
        created_after: Any = None,
        created_before: Any = None,
        states: str | list[str] | None = None,
        tags: Mapping[str, Any] | None = None,
        min_count: int = 1,
        max_ids: int = MAX_SENSOR_IDS,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments.whole_number("max_ids", max_ids, 0)
        self._init_criteria(
            eightbyeight_conn_id=eightbyeight_conn_id,
            region=region,
            all_regions=all_regions,
            filter=filter,
            object_types=object_types,
            created_after=created_after,
            created_before=created_before,
            states=states,
            tags=tags,
        )
        self.min_count = min_count
        self.max_ids = max_ids
        self.deferrable = deferrable

    def _min_count(self) -> int:
        value = int(self.min_count)
        if value < 1:
            raise ValueError(f"min_count must be at least 1, got {self.min_count!r}")
        return value

    def _search(self) -> tuple[int, int, list[str]]:
        """
        ``(seen, limit, ids)``: objects seen (the search reads at most ``limit``, enough to count to
        ``min_count`` and to tell whether more than ``max_ids`` match) and the first ``max_ids`` ids.
        """
        limit = max(self._min_count(), self.max_ids + 1)
        seen = 0
        ids: list[str] = []
        found = self.hook.iter_objects(self.object_filter(), **self.search_regions())

        def skipped(obj: StoredObject) -> None:
            self.log.warning("Ignoring object %r, whose id cannot be used: %s", obj.id, obj.problem)

        for obj in usable(found, limit, skipped):  # no use to anyone downstream: not counted, not pushed
            seen += 1
            if len(ids) < self.max_ids:
                ids.append(obj.id)
        return seen, limit, ids

    def _bounded(self, seen: int, limit: int, ids: list[str]) -> list[str]:
        """The ids to push, with a warning when they are not every match."""
        if seen > len(ids):
            self.log.warning(
                "%s object(s) match; pushing only the first %d ids to XCom (max_ids=%d). This list is "
                "incomplete: give the transfer the same search arguments (or list them with "
                "EightByEightListObjectsOperator) rather than these ids.",
                _count(seen, limit),
                len(ids),
                self.max_ids,
            )
        return ids

    def matching_ids(self) -> list[str]:
        """Ids of the objects matching now (the first ``max_ids``; a warning is logged when there are more)."""
        return self._bounded(*self._search())

    def poke(self, context: Context) -> PokeReturnValue:
        seen, limit, ids = self._search()
        wanted = self._min_count()
        if seen < wanted:
            self.log.info("%s object(s) match; waiting until %d do.", _count(seen, limit), wanted)
            return PokeReturnValue(is_done=False)
        self.log.info("%s object(s) match (at least %d wanted): done.", _count(seen, limit), wanted)
        return PokeReturnValue(is_done=True, xcom_value=self._bounded(seen, limit, ids))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        self.defer(
            trigger=EightByEightObjectsTrigger(
                eightbyeight_conn_id=self.eightbyeight_conn_id,
                filter=self.object_filter().to_fiql(),
                min_count=self._min_count(),
                poll_interval=self.poke_interval,
                timeout_at=time.time() + self.timeout,
                **self.search_regions(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[str]:
        """Resume after the trigger: return the matching ids, or fail with the trigger's reason."""
        status = event.get("status")
        if status == "error":
            raise error_from_event(event, "Waiting for 8x8 objects failed")
        if status == "timeout":
            from airflow_provider_eightbyeight.compat import AirflowSensorTimeout

            raise AirflowSensorTimeout(
                f"Only {event.get('count', 0)} of {self._min_count()} wanted object(s) appeared before the timeout"
            )
        self.log.info("%s object(s) matched in the triggerer.", event.get("count"))
        return self.matching_ids()


def _count(seen: int, limit: int) -> str:
    """How many objects match, as far as a search that stopped at ``limit`` can tell."""
    return f"At least {seen:,}" if seen >= limit else f"{seen:,}"
