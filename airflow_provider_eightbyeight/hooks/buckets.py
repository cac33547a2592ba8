"""
Buckets (contract section 8): the groups 8x8 keeps a call's objects in (its recording, transcript, summary...).

``GET /buckets`` is read as the 2026 revision's page of BucketResponse items (FIQL ``filter``, ``pageKey``,
``limit``, ``sortField``, ``sortDirection``) or as the 3.1.6 spec's single BucketResponse body; ``GET
/buckets/{bucketId}`` as one BucketResponse (or a list holding it). :class:`~..hooks.eightbyeight.EightByEightHook`
exposes both as :meth:`iter_buckets` and :meth:`get_bucket`; this module holds how pages are followed and read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.errors import ApiError, ConfigurationError
from airflow_provider_eightbyeight.filters import FilterLike, to_fiql
from airflow_provider_eightbyeight.hooks.wire import check_id, follow_pages
from airflow_provider_eightbyeight.models import Bucket

#: The most buckets 8x8 returns in one page (``limit`` 1..100).
MAX_BUCKET_PAGE = 100
#: Fields of a BucketResponse a single-bucket body is recognised by (the 3.1.6 spec's ``GET /buckets``).
_BUCKET_KEYS = frozenset({"bucketId", "objectList"})


class _Requests(Protocol):
    """What the bucket verbs need of the hook."""

    @property
    def log(self) -> Any: ...  # a logging.Logger (Airflow's own type on 3.x)

    def _request_json(self, method: str, region: str, path: str, **kwargs: Any) -> Any: ...

    def resolve_regions(self, region: str | Sequence[str] | None = None, *, all_regions: bool = False) -> list[str]: ...

    def resolve_region(self, region: str | None = None) -> str: ...


def iter_buckets(
    hook: _Requests,
    filter: FilterLike = None,
    *,
    region: str | Sequence[str] | None = None,
    all_regions: bool = False,
    sort_field: str = "createdTime",
    sort_direction: str = "ASC",
    page_size: int = MAX_BUCKET_PAGE,
    max_buckets: int | None = None,
) -> Iterator[Bucket]:
    """Every matching bucket of each region, page by page (see ``EightByEightHook.iter_buckets``)."""
    direction = arguments.sort_direction("sort_direction", sort_direction)
    if not isinstance(sort_field, str) or not sort_field.strip():
        raise ConfigurationError(f"sort_field must be a bucket field or tag key, got {sort_field!r}")
    arguments.whole_number("page_size", page_size, 1, MAX_BUCKET_PAGE)
    if max_buckets is not None:
        arguments.whole_number("max_buckets", max_buckets, 0)
    fiql = to_fiql(filter)
    yielded = 0
    for name in hook.resolve_regions(region, all_regions=all_regions):
        for bucket in _iter_region(hook, name, fiql, sort_field.strip(), direction, page_size):
            if max_buckets is not None and yielded >= max_buckets:
                return
            yielded += 1
            yield bucket


def _iter_region(
    hook: _Requests, region: str, fiql: str | None, sort_field: str, direction: str, page_size: int
) -> Iterator[Bucket]:
    """One region's buckets (:func:`~.wire.follow_pages`); the 3.1.6 spec's single body is one bucket."""
    params: dict[str, Any] = {"sortField": sort_field, "sortDirection": direction}
    if fiql:
        params["filter"] = fiql
    yield from follow_pages(
        lambda query: hook._request_json("GET", region, "buckets", params=query),
        params,
        page_size,
        lambda item: bucket_of(hook, item, region),
        lambda bucket: bucket.id,
        what="8x8 bucket pagination",
        log=hook.log,
        whole=_is_one_bucket,
    )


def _is_one_bucket(body: Any) -> bool:
    return isinstance(body, Mapping) and "content" not in body and bool(_BUCKET_KEYS & set(body))


def bucket_of(hook: _Requests, item: Any, region: str) -> Bucket:
    """
    One listed bucket, every field checked (:meth:`Bucket.from_api`); one without a usable id becomes a stand-in
    (``<no id>/...`` with its ``problem``) rather than being dropped, and a bucket with a problem is logged.
    """
    try:
        bucket = Bucket.from_api(item, region)
    except ValueError as err:
        bucket = Bucket.unnamed(item, region, str(err))
    if bucket.problem:
        hook.log.warning("8x8 listed bucket %r in %s that cannot be read whole: %s", bucket.id, region, bucket.problem)
    return bucket


def get_bucket(hook: _Requests, bucket_id: str, *, region: str | None = None) -> Bucket:
    """One bucket (see ``EightByEightHook.get_bucket``)."""
    bucket_id = check_id(bucket_id, "bucket id")
    name = hook.resolve_region(region)
    path = f"buckets/{quote(bucket_id, safe='')}"
    body = hook._request_json("GET", name, path)
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    try:
        bucket = Bucket.from_api(body, name)
    except ValueError as err:
        raise ApiError(f"8x8 answered bucket {bucket_id} with something unreadable: {err}", method="GET") from None
    if bucket.id != bucket_id:
        raise ApiError(f"8x8 answered bucket {bucket_id} with bucket {bucket.id!r}", method="GET")
    return bucket
