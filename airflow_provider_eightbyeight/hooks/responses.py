"""
What 8x8's answers mean, without I/O: JSON bodies, the human message of an error, the error an HTTP status
is, bulk job records, the product list of a token answer and per-id delete statuses.

Every function takes what the wire gave (any type, any shape: the bodies are untrusted) and never raises for
a malformed one, except :func:`read_jobs`, whose caller asked for a job and gets an :class:`ApiError` naming
the call when there is none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegionError,
)
from airflow_provider_eightbyeight.models import BulkJob

#: Failures while reading a response's body: the connection broke, timed out, or sent an undecodable body.
TRANSIENT_BODY_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ContentDecodingError,
)
_TAGS = re.compile(r"<[^>]+>")


def json_or_none(resp: requests.Response) -> Any:
    """The JSON value of a response's body; ``None`` for an empty body or one that is not JSON."""
    try:
        return resp.json() if resp.content and resp.content.strip() else None
    except ValueError:
        return None


def strip_html(text: str) -> str:
    """``text`` without HTML tags, its whitespace collapsed (a proxy's error page as one line)."""
    return " ".join(_TAGS.sub(" ", text).split())


def server_message(resp: requests.Response, body: Any) -> str | None:
    """The most useful human message in an error response (JSON fields, else the text without HTML)."""
    if isinstance(body, dict):
        parts = []
        for key in ("ErrorCode", "error", "Error", "message", "detail", "error_description", "errors"):
            value = body.get(key)
            if value:
                parts.append(value if isinstance(value, str) else str(value))
        if parts:
            return ": ".join(dict.fromkeys(parts))
    if isinstance(body, str) and body:
        return body
    text = (resp.text or "").strip()
    return strip_html(text)[:300] or None


def error_class(status: int) -> type[EightByEightError]:
    """The error of a failed call whose status has no meaning of its own: rate limited (429), else an API error."""
    return RateLimitError if status == 429 else ApiError


def error_for(
    status: int,
    message: str | None,
    *,
    method: str,
    path: str,
    region: str,
    retries: int,
    account_regions: list[str] | None = None,
) -> EightByEightError:
    """
    The error a refused or failed API call is, by its HTTP status.

    :param message: 8x8's own message (:func:`server_message`), or ``None``.
    :param retries: how many times the call was retried (named in the message of a 429 or 5xx).
    :param account_regions: for a 404, the account's regions when ``region`` is not one of them (the region,
        not the id, is what 8x8 does not know); ``None`` otherwise.
    """
    suffix = f" after {retries} retries" if retries else ""
    where: dict[str, Any] = {"status": status, "method": method, "path": path, "server_message": message}
    if status == 401:
        return AuthenticationError(
            "8x8 rejected a freshly issued access token",
            **where,
            hint="The key may have been revoked or lost the Storage API permission; check it in 8x8 "
            "Admin Console > API Keys",
        )
    if status == 403:
        return PermissionDeniedError(
            "8x8 refused access",
            **where,
            hint="The key needs the 'Call Recordings & Storage' product, and restoring or deleting needs "
            "a key allowed to edit objects; check it in 8x8 Admin Console > API Keys",
        )
    if status == 404:
        if account_regions is not None:
            return RegionError(
                f"Region {region!r} is not one of this account's regions ({', '.join(account_regions) or 'none'})",
                **where,
                hint="Set region= (or the connection's region extra) to one of them",
            )
        return NotFoundError(
            f"Not found in region {region!r}",
            **where,
            hint="Check the id, and that the object lives in this region (objects are region-scoped)",
        )
    if status in (400, 405, 422):
        return InvalidRequestError(
            "8x8 rejected the request",
            **where,
            hint="Check the filter (FIQL syntax, field names, epoch-ms times) and the other arguments",
        )
    if status == 429:
        return RateLimitError(
            f"8x8 kept rate-limiting the request{suffix}",
            **where,
            hint="Lower the number of parallel tasks or workers, or raise max_retries",
        )
    return ApiError(
        f"8x8 failed to answer{suffix}",
        **where,
        hint="8x8 may be having trouble; retry later, and contact 8x8 support if it persists",
    )


def products(body: dict) -> list[str] | None:
    """The API products a token answer lists (JSON list, list, or ``"[a, b]"`` text); ``None`` if it lists none."""
    listed = body.get("api_product_list_json")
    if isinstance(listed, list):
        return [str(p).strip() for p in listed]
    text = body.get("api_product_list")
    if isinstance(text, list):
        return [str(p).strip() for p in text]
    if isinstance(text, str) and text.strip():
        return [p.strip() for p in text.strip().strip("[]").split(",") if p.strip()]
    return None


def read_jobs(body: Any, region: str, method: str, url: str, *, allow_empty: bool = False) -> list[BulkJob]:
    """
    The bulk jobs in an answer (one record or a list); malformed members are left out.

    :raises ApiError: naming the call, when no job is readable and ``allow_empty`` is false.
    """
    items = body if isinstance(body, list) else ([body] if body else [])
    jobs = []
    for item in items:
        try:
            jobs.append(BulkJob.from_api(item, region))
        except ValueError:
            continue
    if not jobs and not allow_empty:
        raise ApiError(
            "8x8 answered a bulk download call without a job status",
            method=method,
            path=urlsplit(url).path,
            server_message=str(body)[:200],
        )
    return jobs


def json_of_text(text: str | None) -> Any:
    """The JSON value in an error's server message, if it is one (else ``None``)."""
    if not text or text.strip()[:1] not in ("[", "{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def per_id_statuses(body: Any, ids: Sequence[str]) -> dict[str, str]:
    """
    Per-id statuses in an answer to ``DELETE /bulk``, if 8x8 sent any (the body is undocumented): a list of
    ``{"id"|"objectId": ..., "status"|"message"|...: ...}`` or of ``"<id>:<status>"`` strings, such a list
    under ``content``/``results``/``items``/``objects``/``statuses``, or a mapping of id to status. Only the
    ``ids`` sent count, so an ordinary message body is never read as a status.
    """
    wanted = set(ids)
    if isinstance(body, dict):
        for key in ("content", "results", "items", "objects", "statuses"):
            if isinstance(body.get(key), list):
                return per_id_statuses(body[key], ids)
        return {k: str(v) for k, v in body.items() if k in wanted and isinstance(v, str | int | float | bool)}
    statuses: dict[str, str] = {}
    for item in body if isinstance(body, list) else ():
        if isinstance(item, str):
            object_id, colon, status = item.partition(":")
            if colon and object_id.strip() in wanted:
                statuses[object_id.strip()] = status.strip()
        elif isinstance(item, dict):
            object_id = str(item.get("id") or item.get("objectId") or item.get("object_id") or "")
            parts = [
                str(item[k])
                for k in ("status", "objectState", "result", "error", "reason", "message")
                if item.get(k) not in (None, "")
            ]
            if object_id in wanted and parts:
                statuses[object_id] = ": ".join(dict.fromkeys(parts))
    return statuses
