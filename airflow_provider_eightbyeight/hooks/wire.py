"""
Pure readers of what 8x8 sends and of the ids a caller gives: a page of search results (the page object or
the older list of page objects), page keys, ids used exactly as given. No I/O.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_eightbyeight.errors import ApiError, ConfigurationError
from airflow_provider_eightbyeight.models import id_problem


def check_id(value: Any, what: str = "object id") -> str:
    """``value`` unchanged, if it can be used exactly as it is (:func:`~..models.id_problem`); never altered."""
    why = id_problem(value)
    if why is not None:
        raise ConfigurationError(
            f"The {what} {value!r} cannot be used: {why}",
            hint=(
                f"Ids are used exactly as given, never trimmed: pass the {what} exactly as 8x8 lists it "
                "(without spaces, control characters or slashes around or in it)"
            ),
        )
    return value


def as_number(value: Any) -> float:
    """A page key as a number to compare (``-inf`` when it is none), so a key that does not advance is seen."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("-inf")


def read_page(body: Any) -> tuple[list[Any], Any, bool | None]:
    """``(content, next pageKey, lastPage)`` from a page object or the older list of page objects."""
    if body is None:
        return [], None, True
    pages = body if isinstance(body, list) else [body]
    if pages and not all(isinstance(p, dict) for p in pages):
        raise ApiError("8x8 answered a search with something that is not a page of objects")
    content: list[Any] = []
    next_key: Any = None
    last_page: bool | None = None
    for page in pages:
        items = page.get("content") or []
        if not isinstance(items, list):
            raise ApiError("8x8 answered a search with a page whose content is not a list")
        content.extend(items)
        next_key = page.get("pageKey", next_key)
        if "lastPage" in page:
            raw = page["lastPage"]
            last_page = raw if isinstance(raw, bool) else str(raw).strip().lower() == "true"
    return content, next_key, last_page
