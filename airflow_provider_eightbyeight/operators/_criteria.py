"""The search arguments shared by the list and transfer operators and the sensor."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_eightbyeight.compat import BaseOperator
from airflow_provider_eightbyeight.connection_form import DEFAULT_CONN_ID
from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.filters import ObjectFilter, mentions_state
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import StoredObject

#: ``region=`` values that mean every region of the account.
ALL_REGIONS = ("all", "*")
#: Explicit ids looked up at a time (one ``id=in`` search per 100 of them and region).
LOCATE_CHUNK = 1000
CRITERIA_TEMPLATE_FIELDS = (
    "eightbyeight_conn_id",
    "region",
    "filter",
    "object_types",
    "created_after",
    "created_before",
    "states",
    "tags",
)


def _names(value: Any, what: str) -> list[str] | None:
    """
    A list of names from a list, a tuple, a comma-separated string or a JSON list string.

    The parts of a comma-separated string are trimmed; the entries of a list are used exactly (an entry with
    surrounding whitespace is refused, never trimmed: ``" X"`` trimmed would name another object ``X``).
    """
    if value is None or value in ("", []):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigurationError(f"{what} {text!r} looks like a JSON list but is not valid JSON") from None
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        names = [v if isinstance(v, str) else str(v) for v in value]
        padded = [n for n in names if n.strip() and n != n.strip()]
        if padded:
            raise ConfigurationError(
                f"{what} holds {padded[0]!r}, with surrounding whitespace; names are used exactly, never trimmed",
                hint=f"Remove the whitespace from the {what} entries (pass each exactly as 8x8 lists it)",
            )
        return [n for n in names if n.strip()]
    raise ConfigurationError(f"{what} must be a list of names or a comma-separated string, got {value!r}")


class ObjectCriteriaMixin:
    """
    Builds the search (filter and regions) from the operator's templated arguments, after rendering.

    Expects attributes ``eightbyeight_conn_id``, ``region``, ``all_regions``, ``filter``, ``object_types``,
    ``created_after``, ``created_before``, ``states``, ``tags``.
    """

    eightbyeight_conn_id: str
    region: str | list[str] | None
    all_regions: bool
    filter: str | None
    object_types: str | list[str] | None
    created_after: Any
    created_before: Any
    states: str | list[str] | None
    tags: Mapping[str, Any] | str | None

    def _init_criteria(
        self,
        *,
        eightbyeight_conn_id: str,
        region: str | list[str] | None,
        all_regions: bool,
        filter: str | None,
        object_types: str | list[str] | None,
        created_after: Any,
        created_before: Any,
        states: str | list[str] | None,
        tags: Mapping[str, Any] | str | None,
    ) -> None:
        self.eightbyeight_conn_id = eightbyeight_conn_id
        self.region = region
        self.all_regions = all_regions
        self.filter = filter
        self.object_types = object_types
        self.created_after = created_after
        self.created_before = created_before
        self.states = states
        self.tags = tags

    @cached_property
    def hook(self) -> EightByEightHook:
        """The hook (created on first use, so templated connection ids are rendered)."""
        return EightByEightHook(self.eightbyeight_conn_id)

    def object_filter(self, *, extra_states: Sequence[str] = ()) -> ObjectFilter:
        """The rendered arguments as an :class:`ObjectFilter` (raises a clear error naming a bad argument)."""
        tags = self.tags
        if isinstance(tags, str):
            try:
                tags = json.loads(tags) if tags.strip() else None
            except ValueError:
                raise ConfigurationError(
                    f"tags must be a dict such as {{'direction': 'INBOUND'}}, got {tags!r}"
                ) from None
        if tags is not None and not isinstance(tags, Mapping):
            raise ConfigurationError(f"tags must be a dict such as {{'direction': 'INBOUND'}}, got {tags!r}")
        states = _names(self.states, "states")
        if states and extra_states:
            states = list(dict.fromkeys([*states, *extra_states]))
        elif extra_states and not mentions_state(self.filter):
            states = list(dict.fromkeys(["AVAILABLE", *extra_states]))
        try:
            return ObjectFilter(
                object_types=_names(self.object_types, "object_types"),
                created_after=_none_if_blank(self.created_after),
                created_before=_none_if_blank(self.created_before),
                states=states,
                tags=tags,
                raw=self.filter,
            )
        except ValueError as err:
            if isinstance(err, ConfigurationError):
                raise
            raise ConfigurationError(f"Invalid search arguments: {err}") from None

    def locate_objects(self, ids: list[str]) -> tuple[list[StoredObject], dict[str, str]]:
        """
        Explicit ids' metadata, each looked up in its own region (the one given, the connection's, or every
        region of the account in turn: one ``id=in`` search per 100 ids and region). Returns the objects found
        and, for the others, why not.
        """
        missing: dict[str, str] = {}
        return list(self.iter_located(ids, missing)), missing

    def iter_located(self, ids: list[str], missing: dict[str, str]) -> Iterator[StoredObject]:
        """
        :meth:`locate_objects` as a stream, :data:`LOCATE_CHUNK` ids at a time (memory holds one chunk's
        metadata, whatever the number of ids); ids found nowhere are added to ``missing`` as they are known.
        """
        regions = self.search_regions()
        names = list(regions["region"] or [])
        if names and not regions["all_regions"]:
            candidates = names
        elif self.hook.settings.region and not regions["all_regions"]:
            candidates = [self.hook.settings.region]
        else:
            candidates = self.hook.get_regions()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), LOCATE_CHUNK):
            chunk = unique[start : start + LOCATE_CHUNK]
            found: dict[str, StoredObject] = {}
            remaining = chunk
            for region in candidates:
                if not remaining:
                    break
                got = self.hook.get_objects(remaining, region=region)
                found.update(got)
                remaining = [i for i in remaining if i not in got]
            for object_id in remaining:
                missing[object_id] = f"not found at 8x8 (region {', '.join(candidates)})"
            yield from (found[i] for i in chunk if i in found)

    def search_regions(self) -> dict[str, Any]:
        """Keyword arguments for the hook's ``iter_objects``: ``region`` and ``all_regions``."""
        region = self.region
        if isinstance(region, str) and region.strip().lower() in ALL_REGIONS:
            return {"region": None, "all_regions": True}
        names = _names(region, "region")
        if names:
            return {"region": names, "all_regions": bool(self.all_regions)}
        if self.all_regions or not (self.hook.region or self.hook.settings.region):
            # nothing names a region: every region of the account (one region: just that one)
            return {"region": None, "all_regions": True}
        return {"region": None, "all_regions": False}  # the connection's region


class EightByEightSearchBaseOperator(ObjectCriteriaMixin, BaseOperator):
    """
    Base of the operators that take the shared search arguments (list, transfer, delete, restore).

    :param eightbyeight_conn_id: The 8x8 connection. Templated.
    :param region: Optional. Region name(s), or ``"all"``. Default: the connection's region, or every region of
        the account when the connection names none. Templated.
    :param all_regions: Search every region of the account.
    :param filter: Optional. Raw FIQL ANDed with the other criteria. Templated.
    :param object_types: Optional. Object types, e.g. ``["callrecording", "transcription"]``. Templated.
    :param created_after: Optional. Inclusive start of the creation window (datetime, ISO-8601 string or epoch
        ms), e.g. ``"{{ data_interval_start }}"``. None: no lower bound. Templated.
    :param created_before: Optional. Exclusive end of the creation window, e.g. ``"{{ data_interval_end }}"``.
    :param states: Optional. Object states (8x8 returns only AVAILABLE objects otherwise). Templated.
    :param tags: Optional. Tag equality, e.g. ``{"direction": "INBOUND"}``. Templated.
    """

    template_fields: Sequence[str] = CRITERIA_TEMPLATE_FIELDS
    template_fields_renderers = {"tags": "json"}

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


def _none_if_blank(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    return value


def _seconds(value: Any, name: str) -> float:
    """A rendered templated number of seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value!r}")
    return seconds


#: XCom key prefix for state a deferred operator needs when it resumes.
_RESUME_KEY = "eightbyeight_resume_"


def stash_for_resume(context: Any, name: str, value: Any) -> None:
    """
    Keep JSON state for after a deferral, in XCom.

    ``defer(kwargs=...)`` would be the natural place, but ``dag.test()`` (Airflow 3.3) replaces those
    kwargs with the trigger event when it runs triggers inline; XCom works under both.
    """
    context["ti"].xcom_push(key=_RESUME_KEY + name, value=value)


def unstash_after_resume(context: Any, name: str, default: Any = None) -> Any:
    """The state :func:`stash_for_resume` kept for this task instance (and map index)."""
    ti = context["ti"]
    value = ti.xcom_pull(task_ids=ti.task_id, key=_RESUME_KEY + name, map_indexes=ti.map_index)
    return default if value is None else value
