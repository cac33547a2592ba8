"""
Pure readers of what 8x8 sends and of the ids a caller gives: a page of search results (the page object or
the older list of page objects), page keys, the one rule for following pages, ids used exactly as given. No I/O
of its own: :func:`follow_pages` calls the fetch function it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from airflow_provider_eightbyeight.errors import ApiError, ConfigurationError
from airflow_provider_eightbyeight.models import id_problem

T = TypeVar("T")


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


def follow_pages(
    fetch: Callable[[dict[str, Any]], Any],
    params: Mapping[str, Any],
    page_size: int,
    read: Callable[[Any], T],
    key: Callable[[T], str],
    *,
    what: str,
    path: str | None = None,
    log: Any = None,
    skip_first_page: bool = False,
    whole: Callable[[Any], bool] | None = None,
) -> Iterator[T]:
    """
    Every item of a paged 8x8 listing (objects, buckets), one page in memory at a time.

    Offset paging from ``pageKey`` 0: the next key is the one 8x8 sends, or the page number after this one when
    it sends none or one that does not advance (older servers number pages). An item repeated from the previous
    page (added at 8x8 while paging) is yielded once; the same page twice is an :class:`ApiError`; an empty page
    not marked last ends the listing (logged).

    :param fetch: ``params -> body`` of one request (the caller's I/O).
    :param params: the request's other query parameters (filter, sort); ``pageKey`` and ``limit`` are added.
    :param page_size: ``limit``; a page shorter than it is the last when 8x8 does not say.
    :param read: one listed item -> its record (never raises for a malformed item).
    :param key: a record's id, to see items repeated across pages.
    :param what: what is listed, for the error ("8x8 pagination", "8x8 bucket pagination").
    :param path: Optional. The listing's URL path, for the error.
    :param log: Optional. Where to warn about an empty page that was not marked last.
    :param skip_first_page: read the first page only to know its ids (it was yielded before).
    :param whole: Optional. ``body -> True`` when the answer is one item, not a page (yielded alone).
    """
    page_key: Any = 0
    previous: set[str] = set()
    while True:
        body = fetch({**params, "pageKey": page_key, "limit": page_size})
        if whole is not None and whole(body):
            yield read(body)
            return
        content, next_key, last_page = read_page(body)
        ids: set[str] = set()
        for item in content:
            record = read(item)
            ids.add(key(record))
            if not skip_first_page and key(record) not in previous:
                yield record
        skip_first_page = False
        if last_page is None:
            last_page = len(content) < page_size
        if last_page or not content:
            if not content and not last_page and log is not None:
                log.warning("8x8 sent an empty page that was not marked last; stopping here.")
            return
        if next_key is None or as_number(next_key) <= as_number(page_key):
            if ids and ids <= previous:
                raise ApiError(f"{what} did not advance (the same page came back twice)", method="GET", path=path)
            next_key = int(as_number(page_key) + 1)
        previous, page_key = ids, next_key
