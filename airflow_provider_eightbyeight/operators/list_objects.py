"""EightByEightListObjectsOperator: search 8x8 objects and return JSON-serialisable summaries or ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.compat import AirflowFailException, conf
from airflow_provider_eightbyeight.errors import EightByEightError
from airflow_provider_eightbyeight.models import id_problem
from airflow_provider_eightbyeight.operators._criteria import CRITERIA_TEMPLATE_FIELDS, EightByEightSearchBaseOperator

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.compat import Context

#: Default XCom bound for summaries (~0.8 KB each, so ~8 MB) and for ids (~40 B each, so ~0.4 MB).
MAX_XCOM_ITEMS = 10_000
#: Default XCom bound with ``batch_size``: ids over all batches (~40 MB of XCom).
MAX_BATCHED_IDS = 1_000_000


class XComBoundExceededError(EightByEightError, AirflowFailException):
    """
    More objects match than the list operator may push to XCom; nothing was pushed.

    A retry would list the same objects again, so the task fails without retrying.
    """


class EightByEightListObjectsOperator(EightByEightSearchBaseOperator):
    """
    List 8x8 Cloud Storage objects matching a search; the result goes to XCom.

    The XCom is bounded (``max_xcom_items``). When more objects match than the bound, the task fails
    before pushing anything and names the ways out, so a downstream task never takes a cut list for the
    whole set; ``truncate=True`` returns the first ``max_xcom_items`` instead (with a warning). The search
    stops reading at the bound plus one, so memory and 8x8 requests stay bounded too.

    When a mapped task expands over this task's output, the list (or the list of batches) must also fit
    Airflow's ``[core] max_map_length`` (default 1024); the operator checks that here, with the same
    failure or truncation, instead of leaving Airflow to refuse the push after the listing.

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
    :param max_objects: Optional. Return at most this many objects (an explicit cut: never an error).
        Templated.
    :param return_ids: Return ids only instead of summaries.
    :param batch_size: Optional. Return ids in lists of this size (for ``.expand()`` over batches);
        implies ``return_ids``.
    :param max_xcom_items: Optional. The XCom bound: most objects this task may return. Default 10,000
        summaries or ids (:data:`MAX_XCOM_ITEMS`), or 1,000,000 ids over all batches with ``batch_size``
        (:data:`MAX_BATCHED_IDS`).
    :param truncate: When more objects match than the bound: ``False`` (default) fails the task with
        :class:`XComBoundExceededError` and pushes nothing; ``True`` returns the first ones (in sort order)
        and logs a warning that the list is incomplete.
    :return: summaries (id, type, name, size, checksum, state, created, region, tags), ids, or batches of ids.
    :raises XComBoundExceededError: more objects match than the bound and ``truncate`` is ``False``.
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
        max_xcom_items: int | None = None,
        truncate: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        direction = arguments.sort_direction("sort_direction", sort_direction)
        if batch_size is not None:
            arguments.whole_number("batch_size", batch_size, 1)
        if max_xcom_items is not None:
            arguments.whole_number("max_xcom_items", max_xcom_items, 1)
        self.sort_field = sort_field
        self.sort_direction = direction
        self.max_objects = max_objects
        self.return_ids = return_ids or batch_size is not None
        self.batch_size = batch_size
        self.max_xcom_items = max_xcom_items
        self.truncate = truncate

    @property
    def xcom_bound(self) -> int:
        """Most objects this task returns: ``max_xcom_items``, or the default for the mode."""
        if self.max_xcom_items is not None:
            return self.max_xcom_items
        return MAX_BATCHED_IDS if self.batch_size is not None else MAX_XCOM_ITEMS

    def execute(self, context: Context) -> list[Any]:
        max_objects = int(self.max_objects) if self.max_objects not in (None, "", "None") else None
        bound, why, fix = self.xcom_bound, f"max_xcom_items={self.xcom_bound:,}", "raise max_xcom_items"
        mapping = self._mapping_limit(context)
        if mapping is not None and mapping[0] < bound:
            bound, why, fix = mapping
        explicit_cut = max_objects is not None and max_objects <= bound
        objects = self.hook.iter_objects(
            self.object_filter(),
            sort_field=self.sort_field,
            sort_direction=self.sort_direction,
            max_objects=max_objects if explicit_cut else bound + 1,  # one more than the bound tells an overflow
            **self.search_regions(),
        )
        found: list[Any] = []
        for obj in objects:
            if self.return_ids and id_problem(obj.id):  # an id that cannot be used must not be handed on
                self.log.warning("Leaving out object %r, whose id cannot be used: %s", obj.id, obj.problem)
                continue
            found.append(obj.id if self.return_ids else obj.to_summary())  # a summary names any problem
        if len(found) > bound:
            found = self._overflow(found, bound, why, fix)
        else:
            self.log.info("Found %d object(s) (XCom bound %s).", len(found), why)
        if self.batch_size is None:
            return found
        return [found[i : i + self.batch_size] for i in range(0, len(found), self.batch_size)]

    def _overflow(self, found: list[Any], bound: int, why: str, fix: str) -> list[Any]:
        """More than ``bound`` objects match: truncate (when asked to) or fail, saying so either way."""
        what = "ids" if self.return_ids else "summaries"
        if self.truncate:
            self.log.warning(
                "More than %s objects match this search; returning only the first %s %s (%s, truncate=True, "
                "sorted by %s %s). The others are NOT in this XCom.",
                f"{bound:,}",
                f"{bound:,}",
                what,
                why,
                self.sort_field,
                self.sort_direction,
            )
            return found[:bound]
        self.log.error(
            "More than %s objects match this search; returning none (%s). The listing stopped at %s.",
            f"{bound:,}",
            why,
            f"{len(found):,}",
        )
        raise XComBoundExceededError(
            f"More than {bound:,} objects match this search, more than this task may push to XCom ({why}); "
            "nothing was returned, so no downstream task takes a partial list for the whole set",
            hint=(
                "Split the work: narrow the period with airflow_provider_eightbyeight.partition.windows(start, "
                "end, every) and .expand_kwargs() (one mapped task per window), list with batch_size=N and "
                f".expand() over the batches (up to {MAX_BATCHED_IDS:,} ids by default), or {fix}; "
                "set truncate=True only if the first ones are enough"
            ),
        )

    def _mapping_limit(self, context: Context) -> tuple[int, str, str] | None:
        """
        ``(limit, why, fix)`` when a mapped task expands over this (unmapped) task's output: the most objects
        Airflow's ``[core] max_map_length`` lets it expand over (items, or batches of ``batch_size``); else
        ``None``.
        """
        if getattr(context.get("ti"), "is_mapped", False) or not self.has_dag():
            return None
        try:
            if next(self.iter_mapped_dependants(), None) is None:
                return None
        except Exception:  # the DAG cannot be walked (e.g. a partially built one): Airflow checks at push
            return None
        length = conf.getint("core", "max_map_length", fallback=1024)
        if self.batch_size is None:
            return (
                length,
                f"a mapped task expands over it and [core] max_map_length={length:,}",
                "raise [core] max_map_length",
            )
        return (
            length * self.batch_size,
            f"a mapped task expands over its batches and [core] max_map_length={length:,} batches "
            f"x batch_size={self.batch_size:,}",
            "use a larger batch_size or raise [core] max_map_length",
        )
