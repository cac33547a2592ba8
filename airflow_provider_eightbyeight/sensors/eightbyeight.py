"""EightByEightObjectsSensor: wait until enough 8x8 objects match a search (poke, reschedule or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_eightbyeight.connection import DEFAULT_CONN_ID
from airflow_provider_eightbyeight.errors import EightByEightError
from airflow_provider_eightbyeight.operators._criteria import CRITERIA_TEMPLATE_FIELDS, ObjectCriteriaMixin
from airflow_provider_eightbyeight.triggers.eightbyeight import EightByEightObjectsTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class EightByEightObjectsSensor(ObjectCriteriaMixin, BaseSensorOperator):
    """
    Wait until at least ``min_count`` 8x8 objects match a search; push their ids to XCom.

    Typical use: wait for the data interval's recordings before copying them
    (``created_after="{{ data_interval_start }}"``, ``created_before="{{ data_interval_end }}"``).

    :param min_count: How many matching objects are enough (default 1).
    :param max_ids: Push at most this many ids.
    :param deferrable: Wait in the triggerer (default from ``[operators] default_deferrable``).
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
        max_ids: int = 100_000,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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

    def matching_ids(self) -> list[str]:
        """Ids of the objects matching now (at most ``max_ids``)."""
        return [
            o.id
            for o in self.hook.iter_objects(self.object_filter(), max_objects=self.max_ids, **self.search_regions())
        ]

    def poke(self, context: Context) -> PokeReturnValue:
        ids = self.matching_ids()
        wanted = self._min_count()
        self.log.info("%d object(s) match; waiting for %d.", len(ids), wanted)
        return PokeReturnValue(is_done=len(ids) >= wanted, xcom_value=ids if len(ids) >= wanted else None)

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
            raise EightByEightError(f"Waiting for 8x8 objects failed: {event.get('message')}")
        if status == "timeout":
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(
                f"Only {event.get('count', 0)} of {self._min_count()} wanted object(s) appeared before the timeout"
            )
        self.log.info("%s object(s) matched in the triggerer.", event.get("count"))
        return self.matching_ids()
