"""Request/response types and routing helpers shared by the emulator's API and HTTP server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from airflow_provider_eightbyeight.testing.config import Account

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
STREAMED_ROUTES = frozenset({"content", "presigned", "bulk_download"})
BOOL_TRUE = frozenset({"true", "1", "yes"})
BOOL_FALSE = frozenset({"false", "0", "no", ""})


class ApiError(Exception):
    """An error answer: ``status`` with a JSON body (``{"message": ...}`` unless ``body`` given)."""

    def __init__(
        self,
        status: int,
        message: str,
        body: Any = None,
        content_type: str = JSON,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body if body is not None else {"message": message}
        self.content_type = content_type
        self.headers = headers or []


@dataclass
class Reply:
    """A response to write. ``body`` is bytes or an iterable of bytes; ``length`` None = chunked."""

    status: int
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    length: int | None = -1

    def __post_init__(self) -> None:
        if isinstance(self.body, bytes | bytearray) and self.length == -1:
            self.length = len(self.body)


def json_reply(
    status: int, payload: Any, content_type: str = JSON, headers: list[tuple[str, str]] | None = None
) -> Reply:
    """A JSON reply."""
    return Reply(status, json.dumps(payload).encode(), content_type, headers or [])


def error_reply(exc: ApiError) -> Reply:
    """The reply for an :class:`ApiError`."""
    if isinstance(exc.body, bytes | str):
        raw = exc.body.encode() if isinstance(exc.body, str) else exc.body
        return Reply(exc.status, raw, exc.content_type, list(exc.headers))
    return json_reply(exc.status, exc.body, exc.content_type, list(exc.headers))


@dataclass
class Request:
    """A parsed request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def arg(self, name: str) -> str | None:
        """First value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON (400 if malformed)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"Malformed JSON body: {exc}") from exc
        except RecursionError as exc:
            raise ApiError(400, "Malformed JSON body: nested too deeply") from exc


@dataclass
class Context:
    """Per-request context for a routed CSS handler."""

    request: Request
    params: dict[str, str]
    region: str = ""
    version: str = ""
    account: Account | None = None
    #: Object ids a ``zip_drop`` fault removes from this request's zip.
    drop_entries: frozenset[str] | None = None
    #: A ``keep`` fault: these ids (empty: the batch's first) survive a delete answered as done.
    keep_ids: frozenset[str] | None = None

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account


Handler = Callable[[Context], Reply]


@dataclass(frozen=True)
class Route:
    """A path pattern (``{name}`` segments are parameters) and its handlers per method."""

    pattern: tuple[str, ...]
    methods: dict[str, tuple[str, Handler]]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


@dataclass
class Resolved:
    """The result of routing: a route name + handler + context, or an error reply."""

    route: str
    handler: Handler | None
    context: Context | None
    error: ApiError | None = None
    kind: str = "css"


def parse_bool(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in BOOL_TRUE:
        return True
    if lowered in BOOL_FALSE:
        return False
    raise ApiError(400, f"Query parameter '{name}' must be true or false, got {value!r}")


def parse_int(name: str, value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
        raise ApiError(400, f"Query parameter '{name}' must be an integer, got {value!r}")
    return int(value)


def id_list(request: Request, what: str) -> list[str]:
    data = request.json()
    if not isinstance(data, list) or not data or not all(isinstance(i, str) and i for i in data):
        raise ApiError(400, f"The {what} body must be a non-empty JSON array of object id strings")
    return list(data)


def match_route(routes: list[Route], method: str, segments: list[str]) -> tuple[str, Handler, dict[str, str]]:
    for route in routes:
        params = route.match(segments)
        if params is None:
            continue
        lookup = "GET" if method == "HEAD" else method
        if lookup not in route.methods:
            allowed = ", ".join(sorted(route.methods))
            raise ApiError(
                405,
                f"Method {method} is not allowed here; allowed: {allowed}",
                headers=[("Allow", allowed)],
            )
        name, handler = route.methods[lookup]
        return name, handler, params
    raise ApiError(404, "No such resource: /" + "/".join(segments))
