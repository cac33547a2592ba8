"""
Searching 8x8: FIQL across pages and regions, objects by id, buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.errors import (
    ApiError,
    ConfigurationError,
)
from airflow_provider_eightbyeight.filters import FilterLike, all_of, any_of, comparison, to_fiql
from airflow_provider_eightbyeight.hooks import buckets
from airflow_provider_eightbyeight.hooks.client import (
    MAX_FLAGGED,
    MAX_PAGE_SIZE,
    EightByEightClient,
)
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.hooks.wire import follow_pages as _follow_pages
from airflow_provider_eightbyeight.hooks.wire import read_page as _read_page
from airflow_provider_eightbyeight.models import Bucket, ObjectState, StoredObject


class SearchVerbs(EightByEightClient):
    """
    Searching 8x8: FIQL across pages and regions, objects by id, buckets.

    A part of :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`, which is
    how to use it.
    """

    # ------------------------------------------------------------------ search

    def iter_objects(
        self,
        filter: FilterLike = None,
        *,
        region: str | Sequence[str] | None = None,
        all_regions: bool = False,
        states: str | Iterable[str] | None = None,
        sort_field: str = "createdTime",
        sort_direction: str = "ASC",
        page_size: int = MAX_PAGE_SIZE,
        max_objects: int | None = None,
    ) -> Iterator[StoredObject]:
        """
        Every object matching ``filter``, page by page (memory bounded by one page).

        Follows the returned ``pageKey`` until ``lastPage``; accepts a page object or the older list of
        page objects. Objects repeated across adjacent pages (when objects are added while paging) are
        yielded once.

        :param filter: FIQL string or :class:`~airflow_provider_eightbyeight.filters.ObjectFilter`.
        :param region: region(s) to search; see :meth:`resolve_regions`.
        :param all_regions: search every region of the account.
        :param states: Optional. Object states to include; 8x8 returns only AVAILABLE objects otherwise.
        :param sort_field: object field or tag key to sort by.
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: objects per request, 1..100 (larger values are lowered to 100).
        :param max_objects: Optional. Stop after this many objects.
        """
        fiql = self._search_filter(filter, states)
        direction = arguments.sort_direction("sort_direction", sort_direction)
        arguments.whole_number("page_size", page_size, 1)
        if page_size > MAX_PAGE_SIZE:
            self.log.warning("page_size %d is above 8x8's maximum; using %d.", page_size, MAX_PAGE_SIZE)
            page_size = MAX_PAGE_SIZE
        if max_objects is not None and max_objects < 0:
            raise ConfigurationError(f"max_objects must be 0 or more, got {max_objects!r}")
        yielded = 0
        for name in self.resolve_regions(region, all_regions=all_regions):
            if sort_field == "createdTime":
                found = self._iter_by_created(name, fiql, direction, page_size)
            else:  # offset paging: objects with equal values may be missed or repeated if 8x8 reorders ties
                found = self._iter_region(name, fiql, sort_field, direction, page_size)
            for obj in found:
                if max_objects is not None and yielded >= max_objects:
                    return
                yielded += 1
                yield obj

    def list_objects(self, filter: FilterLike = None, **kwargs: Any) -> list[StoredObject]:
        """All matching objects as a list (see :meth:`iter_objects` for the arguments)."""
        return list(self.iter_objects(filter, **kwargs))

    @staticmethod
    def _search_filter(filter: FilterLike, states: str | Iterable[str] | None) -> str | None:
        fiql = to_fiql(filter)
        if states is None:
            return fiql
        names = [states] if isinstance(states, str) else list(states)
        known = {s.value for s in ObjectState}
        cleaned = [str(s).strip().upper() for s in names if str(s).strip()]
        unknown = [s for s in cleaned if s not in known]
        if unknown:
            raise ConfigurationError(f"Unknown object state(s) {unknown}; use one of {sorted(known)}")
        return all_of(fiql, any_of(*(comparison("objectState", "==", s) for s in cleaned)))

    def _iter_by_created(self, region: str, fiql: str | None, direction: str, page_size: int) -> Iterator[StoredObject]:
        """
        Every match, by ``createdTime``, each exactly once whatever order 8x8 gives objects created in the
        same second (the order of ties is not documented, and may differ from one request to the next).

        Keyset paging: each request asks for the first page at or after the last ``createdTime`` seen
        (``=ge=`` for ASC, ``=le=`` for DESC) and skips the ids already yielded at that time. When a whole
        page shares one ``createdTime`` (more objects in one second than a page holds), that second is read
        alone, sorted by ``id`` (unique, so offset paging is stable) with the usual offset paging. Objects
        added while paging with a later ``createdTime`` are found too; memory holds the ids of one second.
        Objects without a readable ``createdTime`` (a malformed one, an item without id) are yielded once (their
        ids are kept) and do not move the keyset; only a page with no readable time at all falls back to offset
        paging for the rest.
        """
        ascending = direction == "ASC"
        bound: int | None = None
        seen_at_bound: set[str] = set()
        timeless: set[str] = set()
        while True:
            keyset = None if bound is None else comparison("createdTime", "=ge=" if ascending else "=le=", bound)
            query = all_of(fiql, keyset)
            params: dict[str, Any] = {
                "pageKey": 0,
                "limit": page_size,
                "sortField": "createdTime",
                "sortDirection": direction,
            }
            if query:
                params["filter"] = query
            content, _, last_page = _read_page(self._request_json("GET", region, "objects", params=params))
            page = [self._object_of(item, region) for item in content]
            stamps = [_created_ms(o) for o in page]
            times = [t for t in stamps if t is not None]
            if page and not times:  # no createdTime to page by: offset paging for the rest
                yield from (o for o in page if o.id not in seen_at_bound and o.id not in timeless)
                yield from self._iter_region(region, query, "createdTime", direction, page_size, skip_first_page=True)
                return
            for obj, stamp in zip(page, stamps, strict=True):
                if obj.id in seen_at_bound or obj.id in timeless:
                    continue
                if stamp is None:  # read again while its neighbours are: yielded once
                    timeless.add(obj.id)
                yield obj
            if len(content) < page_size or last_page is True or not page:
                return
            edge = times[-1]
            if all(t == edge for t in times):  # a whole page in one second: read that second by id
                done = seen_at_bound | {o.id for o in page} | timeless
                yield from self._iter_one_second(region, fiql, edge, ascending, done, page_size)
                bound = edge + (1000 if ascending else -1000)
                seen_at_bound = set()
                continue
            if edge != bound:
                seen_at_bound = set()
            bound = edge
            seen_at_bound.update(o.id for o, t in zip(page, stamps, strict=True) if t == edge)

    def _iter_one_second(
        self, region: str, fiql: str | None, edge_ms: int, ascending: bool, already: set[str], page_size: int
    ) -> Iterator[StoredObject]:
        """
        The objects of the second that starts (ASC) or ends (DESC) at ``edge_ms``, by id, minus ``already``:
        ``[edge, edge + 1000)`` or ``(edge - 1000, edge]``, the span the next keyset step jumps over.
        """
        if ascending:
            span = (comparison("createdTime", "=ge=", edge_ms), comparison("createdTime", "=lt=", edge_ms + 1000))
        else:
            span = (comparison("createdTime", "=gt=", edge_ms - 1000), comparison("createdTime", "=le=", edge_ms))
        window = all_of(fiql, *span)
        for obj in self._iter_region(region, window, "id", "ASC", page_size):
            if obj.id not in already:
                yield obj

    def _object_of(self, item: Any, region: str) -> StoredObject:
        """
        One search result, every field checked (:meth:`StoredObject.from_api`). An item with no usable id is
        not dropped: it becomes a stand-in (``<no id>/...``, with its ``problem``), counted once in
        ``stats.unnamed_items``, so a transfer names it failed in its manifest.
        """
        try:
            obj = StoredObject.from_api(item, region)
        except ValueError as err:
            obj = StoredObject.unnamed(item, region, str(err))
            if self._first_warning(obj.id):
                self.stats.add(unnamed_items=1)
        if obj.problem and self._first_warning(obj.id):
            self.log.warning("8x8 listed object %r in %s that cannot be handled: %s", obj.id, region, obj.problem)
        return obj

    def _first_warning(self, key: str) -> bool:
        """Whether ``key`` (an object with a problem) is met for the first time (pages can be read twice)."""
        with self._flagged_lock:
            if key in self._flagged:
                return False
            if len(self._flagged) < MAX_FLAGGED:  # beyond: warned (and counted) again if read again
                self._flagged.add(key)
            return True

    def _iter_region(
        self,
        region: str,
        fiql: str | None,
        sort_field: str,
        direction: str,
        page_size: int,
        *,
        skip_first_page: bool = False,
    ) -> Iterator[StoredObject]:
        params: dict[str, Any] = {"sortField": sort_field, "sortDirection": direction}
        if fiql:
            params["filter"] = fiql
        yield from _follow_pages(
            lambda query: self._request_json("GET", region, "objects", params=query),
            params,
            page_size,
            lambda item: self._object_of(item, region),
            lambda obj: obj.id,
            what="8x8 pagination",
            path=urlsplit(self._url(region, "objects")).path,
            log=self.log,
            skip_first_page=skip_first_page,
        )

    def get_object(self, object_id: str, *, region: str | None = None) -> StoredObject:
        """
        One object's metadata (any state).

        :raises NotFoundError: when the id is unknown in the region.
        """
        object_id = _check_id(object_id)
        name = self.resolve_region(region)
        body = self._request_json("GET", name, f"objects/{quote(object_id, safe='')}")
        if isinstance(body, list) and body:
            body = body[0]
        try:
            return StoredObject.from_api(body, name)
        except ValueError as err:
            raise ApiError(
                f"8x8 answered the metadata of {object_id} with something unreadable: {err}",
                method="GET",
                path=urlsplit(self._url(name, f"objects/{object_id}")).path,
            ) from None

    # ------------------------------------------------------------------ buckets

    def iter_buckets(
        self,
        filter: FilterLike = None,
        *,
        region: str | Sequence[str] | None = None,
        all_regions: bool = False,
        sort_field: str = "createdTime",
        sort_direction: str = "ASC",
        page_size: int = buckets.MAX_BUCKET_PAGE,
        max_buckets: int | None = None,
    ) -> Iterator[Bucket]:
        """
        Every bucket matching ``filter``, page by page (memory bounded by one page): the groups 8x8 keeps a
        call's objects in (recording, transcript, summary...), each as a :class:`~..models.Bucket` whose
        ``objects`` are ``(id, type)`` pairs.

        A bucket 8x8 describes with a malformed field is yielded with that field ``None`` and its ``problem``
        set (logged); one without a usable id as a ``<no id>/...`` stand-in. The 3.1.6 spec's answer (one
        BucketResponse, no paging) is read as one bucket.

        :param filter: FIQL over the bucket fields ``id``, ``userId``, ``name``, ``createdTime``, ``updatedTime``
            and bucket tag keys (a string, or a :class:`~..filters.ObjectFilter`-like object rendering FIQL).
        :param region: region(s) to search; see :meth:`resolve_regions`.
        :param all_regions: search every region of the account.
        :param sort_field: bucket field to sort by (``createdTime``, ``name``...).
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: buckets per request, 1..100.
        :param max_buckets: Optional. Stop after this many buckets.
        :raises ConfigurationError: for a bad argument (nothing is sent).
        """
        return buckets.iter_buckets(
            self,
            filter,
            region=region,
            all_regions=all_regions,
            sort_field=sort_field,
            sort_direction=sort_direction,
            page_size=page_size,
            max_buckets=max_buckets,
        )

    def get_bucket(self, bucket_id: str, *, region: str | None = None) -> Bucket:
        """
        One bucket and the ``(id, type)`` of each of its objects.

        :param bucket_id: the bucket's id (``bucketId``), exactly as 8x8 gives it; an object's ``bucket_id``.
        :param region: Optional. The region it is in; see :meth:`resolve_region`.
        :raises NotFoundError: when the bucket is unknown in the region.
        :raises ApiError: when 8x8 answers with something that is not that bucket.
        """
        return buckets.get_bucket(self, bucket_id, region=region)


def _created_ms(obj: StoredObject) -> int | None:
    """An object's ``createdTime`` in epoch ms (8x8 gives whole seconds), or ``None``."""
    return None if obj.created is None else round(obj.created.timestamp() * 1000)
