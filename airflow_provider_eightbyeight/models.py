"""Typed views of what the 8x8 Cloud Storage Service returns. Pure code: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from airflow_provider_eightbyeight.timeutil import parse_api_time

_PLAIN_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


class ObjectState(str, Enum):
    """Lifecycle states of a stored object (contract section 4.2)."""

    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    ARCHIVED = "ARCHIVED"
    REVOKED = "REVOKED"
    DELETED = "DELETED"
    FAILED = "FAILED"


class BulkJobStatus(str, Enum):
    """Statuses of a bulk (zip) download job (contract section 9)."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    PARTIAL_DONE = "PARTIAL_DONE"

    @property
    def is_terminal(self) -> bool:
        """Whether the job will not change any more."""
        return self in _TERMINAL

    @property
    def has_zip(self) -> bool:
        """Whether a zip can be downloaded for a job in this status."""
        return self in (BulkJobStatus.DONE, BulkJobStatus.PARTIAL_DONE)


_TERMINAL = frozenset({BulkJobStatus.DONE, BulkJobStatus.PARTIAL_DONE, BulkJobStatus.FAILED, BulkJobStatus.CANCELLED})


def is_plain_md5(checksum: str | None) -> bool:
    """Whether ``checksum`` is a plain 32-hex MD5 (not a multipart ``<hex>-<n>`` tag)."""
    return bool(checksum) and bool(_PLAIN_MD5.match(checksum or ""))


def _to_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def _lenient_time(value: Any) -> datetime | None:
    try:
        return parse_api_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _tags(value: Any) -> dict[str, str]:
    """Tags arrive as ``[{key, value, id?}]``; a dict is accepted too. Values are kept as strings."""
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    tags: dict[str, str] = {}
    for item in value or ():
        if isinstance(item, Mapping) and "key" in item:
            raw = item.get("value")
            tags[str(item["key"])] = "" if raw is None else str(raw)
    return tags


@dataclass(frozen=True)
class StoredObject:
    """
    One object in 8x8 Cloud Storage (a recording, transcript, voicemail...).

    Built leniently from the API's ObjectResponse: ``storedBytes`` as number or string, times as ISO
    (without zone = UTC) or epoch, tags as a list of ``{key, value}``. Unknown fields stay in ``raw``.
    """

    id: str
    type: str | None = None
    name: str | None = None
    mime_type: str | None = None
    state: str | None = None
    size: int | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    bucket_id: str | None = None
    user_id: str | None = None
    customer_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    shared: bool | None = None
    region: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], region: str | None = None) -> StoredObject:
        """
        Build from one ObjectResponse dict.

        :param data: the JSON object as 8x8 sent it.
        :param region: the region it was read from (8x8 does not repeat it in the object).
        :raises ValueError: when ``data`` is not an object or has no ``id``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object description, got {type(data).__name__}")
        object_id = data.get("id") or data.get("objectId")
        if not object_id:
            raise ValueError("object description without an 'id'")
        shared = data.get("shared")
        return cls(
            id=str(object_id),
            type=data.get("type"),
            name=data.get("objectName") or data.get("name"),
            mime_type=data.get("mimeType"),
            state=data.get("objectState"),
            size=_to_int(data.get("storedBytes")),
            checksum=data.get("checksum") or None,
            checksum_type=data.get("checksumType"),
            created=_lenient_time(data.get("createdTime")),
            updated=_lenient_time(data.get("updatedTime")),
            bucket_id=data.get("bucketId"),
            user_id=data.get("userId"),
            customer_id=data.get("customerId"),
            tags=_tags(data.get("tags")),
            shared=shared if isinstance(shared, bool) else None,
            region=region,
            raw=dict(data),
        )

    @property
    def md5(self) -> str | None:
        """The checksum as lower-case hex when it is a plain MD5 of the content, else ``None``."""
        if (self.checksum_type or "MD5").upper() == "MD5" and is_plain_md5(self.checksum):
            return (self.checksum or "").lower()
        return None

    @property
    def is_available(self) -> bool:
        """Whether the content can be downloaded now (only AVAILABLE objects can)."""
        return self.state == ObjectState.AVAILABLE.value

    def to_summary(self) -> dict[str, Any]:
        """A small JSON-serialisable summary, fit for XCom."""
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "size": self.size,
            "checksum": self.checksum,
            "state": self.state,
            "created": self.created.isoformat() if self.created else None,
            "region": self.region,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class DownloadResult:
    """What a download wrote: the byte count, the MD5 of those bytes, and whether it was verified."""

    object_id: str
    size: int
    md5: str | None
    verified: bool
    attempts: int = 1


@dataclass(frozen=True)
class BulkJob:
    """A bulk (zip) download job as 8x8 reports it."""

    zip_name: str
    status: BulkJobStatus | str
    content: tuple[str, ...] = ()
    url: str | None = None
    region: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], region: str | None = None) -> BulkJob:
        """Build from a status object; unknown status strings are kept as strings."""
        if not isinstance(data, Mapping) or not data.get("zipName"):
            raise ValueError(f"not a bulk download status object: {str(data)[:200]!r}")
        raw_status = str(data.get("status") or "").upper()
        status: BulkJobStatus | str
        try:
            status = BulkJobStatus(raw_status)
        except ValueError:
            status = raw_status
        content = data.get("content") or ()
        return cls(
            zip_name=str(data["zipName"]),
            status=status,
            content=tuple(str(c) for c in content) if isinstance(content, list | tuple) else (str(content),),
            url=data.get("url") or None,
            region=region,
            raw=dict(data),
        )

    @property
    def is_terminal(self) -> bool:
        """Whether the job has finished (successfully or not)."""
        return isinstance(self.status, BulkJobStatus) and self.status.is_terminal

    @property
    def has_zip(self) -> bool:
        """Whether a zip is ready for download."""
        return isinstance(self.status, BulkJobStatus) and self.status.has_zip
