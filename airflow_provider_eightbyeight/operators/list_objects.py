"""EightByEightListObjectsOperator: search 8x8 objects and return JSON-serialisable summaries or ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight.operators._criteria import CRITERIA_TEMPLATE_FIELDS, EightByEightSearchBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class EightByEightListObjectsOperator(EightByEightSearchBaseOperator):
    """
    List 8x8 Cloud Storage objects matching a search; the result goes to XCom.

    :param eightbyeight_conn_id: The 8x8 connection. Templated.
    :param region: Optional. Region name(s), or ``"all"``. Templated.
    :param all_regions: Search every region of the account.
    :param filter: Optional. Raw FIQL ANDed with the other criteria. Templated.
    :param object_types: Optional. Object types, e.g. ``["callrecording"]``. Templated.
    :param created_after: Optional. Inclusive start of the creation window (datetime, ISO string or epoch
        ms), e.g. ``"{{ data_interval_start }}"``. None: no lower bound. Templated.
    :param created_before: Optional. Exclusive end of the window, e.g. ``"{{ data_interval_end }}"``. Templated.
    :param states: Optional. Object states (default: AVAILABLE only, as 8x8 does). Templated.
    :param tags: Optional. Tag equality, e.g. ``{"direction": "INBOUND"}``. Templated.
    :param sort_field: Field or tag to sort by. Default ``createdTime``.
    :param sort_direction: ``ASC`` (default) or ``DESC``.
    :param max_objects: Optional. Return at most this many objects. Templated.
    :param return_ids: Return ids only instead of summaries.
    :param batch_size: Optional. Return ids in lists of this size (for ``.expand()`` over batches);
        implies ``return_ids``.
    :return: summaries (id, type, name, size, checksum, state, created, region, tags), ids, or batches of ids.
    """

    template_fields: Sequence[str] = (*CRITERIA_TEMPLATE_FIELDS, "max_objects")
    template_fields_renderers = {"tags": "json"}
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        sort_field: str = "createdTime",
        sort_direction: str = "ASC",
        max_objects: int | None = None,
        return_ids: bool = False,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sort_direction.upper() not in ("ASC", "DESC"):
            raise ValueError(f"sort_direction must be 'ASC' or 'DESC', got {sort_direction!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
        self.sort_field = sort_field
        self.sort_direction = sort_direction.upper()
        self.max_objects = max_objects
        self.return_ids = return_ids or batch_size is not None
        self.batch_size = batch_size

    def execute(self, context: Context) -> list[Any]:
        max_objects = int(self.max_objects) if self.max_objects not in (None, "", "None") else None
        objects = self.hook.iter_objects(
            self.object_filter(),
            sort_field=self.sort_field,
            sort_direction=self.sort_direction,
            max_objects=max_objects,
            **self.search_regions(),
        )
        if not self.return_ids:
            result: list[Any] = [obj.to_summary() for obj in objects]
            self.log.info("Found %d object(s).", len(result))
            return result
        ids = [obj.id for obj in objects]
        self.log.info("Found %d object(s).", len(ids))
        if self.batch_size is None:
            return ids
        return [ids[i : i + self.batch_size] for i in range(0, len(ids), self.batch_size)]
