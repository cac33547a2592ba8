"""
A FIQL filter builder for 8x8 object searches. Pure code: no I/O.

8x8 filters are FIQL: ``selector<op>value`` joined with ``;`` (AND) and ``,`` (OR), grouped with
parentheses. Times are epoch milliseconds. Tag keys are selectors of their own
(``direction==INBOUND``). Values with reserved characters are quoted.

    >>> ObjectFilter(object_types=["callrecording"], tags={"direction": "INBOUND"}).to_fiql()
    'type==callrecording;direction==INBOUND'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_provider_eightbyeight.models import ObjectState
from airflow_provider_eightbyeight.timeutil import TimeLike, to_epoch_ms

OPERATORS = ("==", "!=", "=gt=", "=ge=", "=lt=", "=le=")
_SELECTOR = re.compile(r"^[A-Za-z0-9_.\-]+$")
_NEEDS_QUOTES = re.compile(r"""[;,()=!<>'"\s~*]""")

#: Object fields that FIQL resolves before tag keys; a tag with one of these names cannot be filtered by tag.
OBJECT_FIELDS = frozenset(
    {
        "id",
        "type",
        "mimeType",
        "objectName",
        "checksum",
        "checksumType",
        "customerId",
        "userId",
        "storedBytes",
        "createdTime",
        "updatedTime",
        "objectState",
        "bucketId",
        "shared",
    }
)


def quote_value(value: object) -> str:
    """
    Render one FIQL value, quoting it when it holds a reserved character.

    :raises ValueError: for a value that holds both quote characters (FIQL has no escape for that).
    """
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise ValueError(
        f"Filter value {text!r} contains both ' and \" quotes, which FIQL cannot express; "
        "filter on another field or match it after listing."
    )


def comparison(selector: str, operator: str, value: object) -> str:
    """
    One FIQL comparison, e.g. ``comparison("createdTime", "=ge=", 1767225600000)``.

    :raises ValueError: for an unknown operator or a selector with characters FIQL does not allow.
    """
    if operator not in OPERATORS:
        raise ValueError(f"Unknown FIQL operator {operator!r}; use one of {', '.join(OPERATORS)}.")
    if not _SELECTOR.match(selector or ""):
        raise ValueError(
            f"Invalid filter field {selector!r}: use letters, digits, '_', '-' or '.' "
            "(an object field such as 'type', or a tag key such as 'callId')."
        )
    return f"{selector}{operator}{quote_value(value)}"


def _group(part: str) -> str:
    """Parenthesise a part unless it is a single comparison or already one group."""
    if not any(sep in _unquoted(part) for sep in ",;"):
        return part
    if part.startswith("(") and part.endswith(")") and _balanced_outer(part):
        return part
    return f"({part})"


def _unquoted(text: str) -> str:
    """``text`` with quoted values blanked, so separators inside quotes are ignored."""
    return re.sub(r"\"[^\"]*\"|'[^']*'", "", text)


def _balanced_outer(text: str) -> bool:
    depth = 0
    for index, char in enumerate(_unquoted(text)):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and index < len(_unquoted(text)) - 1:
            return False
    return True


def all_of(*parts: str | None) -> str | None:
    """AND the non-empty parts (``;``), parenthesising OR groups. ``None`` when there are none."""
    present = [p.strip() for p in parts if p and p.strip()]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return ";".join(_group(p) if "," in _unquoted(p) else p for p in present)


def any_of(*parts: str | None) -> str | None:
    """OR the non-empty parts (``,``), parenthesising AND groups. ``None`` when there are none."""
    present = [p.strip() for p in parts if p and p.strip()]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return ",".join(_group(p) for p in present)


def _as_list(value: str | Iterable[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    cleaned = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"Each {what} must be a non-empty string, got {item!r}.")
        cleaned.append(item.strip())
    return cleaned


@dataclass(frozen=True)
class ObjectFilter:
    """
    Structured search criteria that render to FIQL.

    :param object_types: Optional. Object types to include (``callrecording``, ``transcription``...).
    :param created_after: Optional. Inclusive lower bound on the creation time
        (datetime, ISO-8601 string or epoch ms).
    :param created_before: Optional. Exclusive upper bound on the creation time.
    :param updated_after: Optional. Inclusive lower bound on the last update time.
    :param updated_before: Optional. Exclusive upper bound on the last update time.
    :param states: Optional. Object states (``AVAILABLE``, ``ARCHIVED``...). 8x8 returns only AVAILABLE
        objects unless a state is named.
    :param tags: Optional. Tag equality, e.g. ``{"direction": "INBOUND"}``.
    :param raw: Optional. Extra FIQL ANDed with the rest, for anything else.
    """

    object_types: tuple[str, ...] = ()
    created_after: TimeLike | None = None
    created_before: TimeLike | None = None
    updated_after: TimeLike | None = None
    updated_before: TimeLike | None = None
    states: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    raw: str | None = None

    def __init__(
        self,
        *,
        object_types: str | Iterable[str] | None = None,
        created_after: TimeLike | None = None,
        created_before: TimeLike | None = None,
        updated_after: TimeLike | None = None,
        updated_before: TimeLike | None = None,
        states: str | Iterable[str] | None = None,
        tags: Mapping[str, object] | None = None,
        raw: str | None = None,
    ) -> None:
        state_list = [s.upper() for s in _as_list(states, "state")]
        known = {s.value for s in ObjectState}
        unknown = [s for s in state_list if s not in known]
        if unknown:
            raise ValueError(f"Unknown object state(s) {unknown}; use one of {sorted(known)}.")
        tag_map: dict[str, str] = {}
        for key, value in (tags or {}).items():
            if key in OBJECT_FIELDS:
                raise ValueError(
                    f"Tag key {key!r} is also an object field, and 8x8 resolves it as the field; "
                    f"use filter='{key}==...' if you meant the field."
                )
            comparison(key, "==", value)  # validates the key and value early
            tag_map[key] = "" if value is None else str(value)
        if raw is not None and not isinstance(raw, str):
            raise ValueError(f"raw FIQL must be a string, got {type(raw).__name__}.")
        object.__setattr__(self, "object_types", tuple(_as_list(object_types, "object type")))
        object.__setattr__(self, "states", tuple(state_list))
        object.__setattr__(self, "tags", tag_map)
        object.__setattr__(self, "raw", raw.strip() if raw and raw.strip() else None)
        for name, value in (
            ("created_after", created_after),
            ("created_before", created_before),
            ("updated_after", updated_after),
            ("updated_before", updated_before),
        ):
            if value is not None and value != "":
                try:
                    to_epoch_ms(value)
                except ValueError as err:
                    raise ValueError(f"{name}: {err}") from None
                object.__setattr__(self, name, value)
            else:
                object.__setattr__(self, name, None)
        self._check_window("created")
        self._check_window("updated")

    def _check_window(self, prefix: str) -> None:
        after, before = getattr(self, f"{prefix}_after"), getattr(self, f"{prefix}_before")
        if after is None or before is None:
            return
        if to_epoch_ms(after) == to_epoch_ms(before):
            raise ValueError(
                f"{prefix}_after and {prefix}_before are both {after}: an empty window. In Airflow 3 a cron "
                "schedule gives zero-length data intervals unless the DAG uses CronDataIntervalTimetable "
                "(or [scheduler] create_cron_data_intervals=True); manual runs of such DAGs have them too."
            )
        if to_epoch_ms(after) > to_epoch_ms(before):
            raise ValueError(
                f"{prefix}_after ({after}) must be earlier than {prefix}_before ({before}); "
                "the window would match nothing."
            )

    def to_fiql(self) -> str | None:
        """The FIQL expression, or ``None`` when no criterion is set (match everything)."""
        parts: list[str | None] = [
            any_of(*(comparison("type", "==", t) for t in self.object_types)),
            any_of(*(comparison("objectState", "==", s) for s in self.states)),
        ]
        for selector, after, before in (
            ("createdTime", self.created_after, self.created_before),
            ("updatedTime", self.updated_after, self.updated_before),
        ):
            if after is not None:
                parts.append(comparison(selector, "=ge=", to_epoch_ms(after)))
            if before is not None:
                parts.append(comparison(selector, "=lt=", to_epoch_ms(before)))
        parts.extend(comparison(key, "==", value) for key, value in self.tags.items())
        if self.raw:
            parts.append(_group(self.raw))
        return all_of(*parts)

    def __str__(self) -> str:
        return self.to_fiql() or ""


FilterLike = ObjectFilter | str | None


def to_fiql(value: FilterLike) -> str | None:
    """Normalise a filter argument (FIQL string, :class:`ObjectFilter` or ``None``) to FIQL or ``None``."""
    if value is None:
        return None
    if isinstance(value, ObjectFilter):
        return value.to_fiql()
    if isinstance(value, str):
        return value.strip() or None
    raise ValueError(f"A filter must be a FIQL string or an ObjectFilter, got {type(value).__name__}.")


def mentions_state(fiql: str | None) -> bool:
    """Whether a FIQL expression already constrains ``objectState`` (8x8 then drops its AVAILABLE default)."""
    return bool(fiql) and "objectState" in _unquoted(fiql or "")
