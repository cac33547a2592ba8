"""Records held by the emulator (objects, buckets) and their wire (JSON) forms."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_eightbyeight.testing.content import ContentSource

UTC = timezone.utc

OBJECT_FIELDS = (
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
)
OBJECT_ALIASES = {"name": "objectName", "size": "storedBytes", "objectId": "id"}
BUCKET_FIELDS = ("bucketId", "customerId", "userId", "createdTime", "updatedTime")
BUCKET_ALIASES = {"id": "bucketId"}
TIME_FIELDS = frozenset({"createdTime", "updatedTime"})
NUMERIC_FIELDS = frozenset({"storedBytes", "createdTime", "updatedTime"})
#: ``wire_item`` not given (``None`` is a JSON value that can be served).
NO_ITEM: Any = object()
_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")


def iso(ms: int) -> str:
    """Epoch milliseconds to the CSS wire form ``YYYY-MM-DDTHH:MM:SS`` (UTC, no zone)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def to_ms(value: datetime | str | float) -> int:
    """Epoch ms from a datetime (naive = UTC), an ISO string or a number of epoch ms."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(dt.timestamp() * 1000)
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if _ISO_RE.fullmatch(text):
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
        return to_ms(dt)
    raise ValueError(f"not a timestamp (expected ISO-8601 or epoch ms): {value!r}")


def filter_time_value(selector: str, value: str) -> str:
    """FIQL value converter: ISO values for createdTime/updatedTime become epoch ms strings."""
    if selector in TIME_FIELDS and not re.fullmatch(r"-?\d+(\.\d+)?", value) and _ISO_RE.fullmatch(value):
        return str(to_ms(value))
    return value


def tag_list(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """Tags in wire form."""
    return [{"key": k, "value": v} for k, v in tags]


@dataclass
class ObjectRecord:
    """One stored object; ``content`` produces its bytes."""

    id: str
    region: str
    type: str
    mime_type: str
    object_name: str
    customer_id: str
    user_id: str
    size: int
    created_ms: int
    updated_ms: int
    state: str
    bucket_id: str
    tags: tuple[tuple[str, str], ...]
    content: ContentSource
    checksum_override: str | None = None
    shared: bool = False
    restore: RestoreInfo | None = None
    #: ``(item,)``: served verbatim instead of the wire form by search and get (any JSON, even not an
    #: object), to emulate a malformed answer; the record's own fields still drive filters and sorting.
    wire_item: tuple[Any] | None = None
    #: Fields set over the wire form (any JSON values, e.g. a numeric ``checksum``).
    wire_patch: dict[str, Any] | None = None
    #: Fields left out of the wire form.
    wire_drop: tuple[str, ...] = ()

    def checksum(self) -> str:
        """The checksum field: the real MD5, or the configured multipart-style value."""
        return self.checksum_override if self.checksum_override is not None else self.content.md5()

    def field_value(self, name: str) -> Any:
        """Typed value of a wire field (times as epoch ms), or ``None`` if not a field."""
        values: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "mimeType": self.mime_type,
            "objectName": self.object_name,
            "checksumType": "MD5",
            "customerId": self.customer_id,
            "userId": self.user_id,
            "storedBytes": self.size,
            "createdTime": self.created_ms,
            "updatedTime": self.updated_ms,
            "objectState": self.state,
            "bucketId": self.bucket_id,
            "shared": self.shared,
        }
        if name == "checksum":
            return self.checksum()
        return values.get(name)

    def values(self, selector: str) -> list[str] | None:
        """FIQL resolver: fields first (with aliases), then tag keys; ``None`` if absent."""
        name = OBJECT_ALIASES.get(selector, selector)
        if name in OBJECT_FIELDS:
            value = self.field_value(name)
            if isinstance(value, bool):
                return ["true" if value else "false"]
            return [str(value)]
        found = [v for k, v in self.tags if k == selector]
        return found or None

    def sort_value(self, selector: str) -> Any:
        """Value used for sorting by ``selector`` (field or tag), ``None`` if absent."""
        name = OBJECT_ALIASES.get(selector, selector)
        if name in OBJECT_FIELDS:
            return self.field_value(name)
        for key, value in self.tags:
            if key == selector:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        """ObjectResponse wire form (contract section 4.1)."""
        return {
            "id": self.id,
            "type": self.type,
            "mimeType": self.mime_type,
            "objectName": self.object_name,
            "checksumType": "MD5",
            "checksum": self.checksum(),
            "customerId": self.customer_id,
            "userId": self.user_id,
            "storedBytes": self.size,
            "createdTime": iso(self.created_ms),
            "updatedTime": iso(self.updated_ms),
            "objectState": self.state,
            "bucketId": self.bucket_id,
            "tags": tag_list(self.tags),
            "shared": self.shared,
        }

    def wire(self) -> Any:
        """What search and get send for this object: :meth:`to_dict`, unless a malformed form was injected."""
        if self.wire_item is not None:
            return copy.deepcopy(self.wire_item[0])
        item = self.to_dict()
        if self.wire_patch:
            item.update(copy.deepcopy(self.wire_patch))
        for name in self.wire_drop:
            item.pop(name, None)
        return item


@dataclass
class RestoreInfo:
    """A pending or active restore of an archived object (times on the emulated clock, seconds)."""

    expiration_days: int
    requested_at: float
    available_at: float
    expires_at: float


@dataclass
class BucketRecord:
    """A bucket grouping related objects (e.g. a call's recording and its transcript)."""

    bucket_id: str
    region: str
    customer_id: str
    user_id: str
    tags: tuple[tuple[str, str], ...]
    object_ids: list[str] = field(default_factory=list)


@dataclass
class BucketView:
    """A bucket joined with copies of its objects, for filtering, sorting and rendering."""

    bucket: BucketRecord
    objects: list[ObjectRecord]

    @property
    def id(self) -> str:
        return self.bucket.bucket_id

    def created_ms(self) -> int:
        return min((o.created_ms for o in self.objects), default=0)

    def updated_ms(self) -> int:
        return max((o.updated_ms for o in self.objects), default=0)

    def field_value(self, name: str) -> Any:
        values: dict[str, Any] = {
            "bucketId": self.bucket.bucket_id,
            "customerId": self.bucket.customer_id,
            "userId": self.bucket.user_id,
        }
        if name == "createdTime":
            return self.created_ms()
        if name == "updatedTime":
            return self.updated_ms()
        return values.get(name)

    def values(self, selector: str) -> list[str] | None:
        name = BUCKET_ALIASES.get(selector, selector)
        if name in BUCKET_FIELDS:
            return [str(self.field_value(name))]
        found = [v for k, v in self.bucket.tags if k == selector]
        return found or None

    def sort_value(self, selector: str) -> Any:
        name = BUCKET_ALIASES.get(selector, selector)
        if name in BUCKET_FIELDS:
            return self.field_value(name)
        for key, value in self.bucket.tags:
            if key == selector:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        """BucketResponse wire form (contract section 8)."""
        return {
            "bucketId": self.bucket.bucket_id,
            "customerId": self.bucket.customer_id,
            "userId": self.bucket.user_id,
            "createdTime": iso(self.created_ms()),
            "updatedTime": iso(self.updated_ms()),
            "tags": tag_list(self.bucket.tags),
            "objectList": [o.to_dict() for o in self.objects],
        }
