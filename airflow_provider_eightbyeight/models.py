"""Typed views of what the 8x8 Cloud Storage Service returns. Pure code: no I/O."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from airflow_provider_eightbyeight.timeutil import parse_api_time

_PLAIN_MD5 = re.compile(r"[0-9a-fA-F]{32}")
#: A multipart-upload style checksum (contract 4.1 and 13.9): ``<32 hex>-<n>``; kept, never verifiable.
_MULTIPART_MD5 = re.compile(r"[0-9a-fA-F]{32}-[0-9]{1,6}")
_DIGITS = re.compile(r"[0-9]+")
#: Largest ``storedBytes`` believed (int64, the schema's integer range); larger is a malformed value.
MAX_STORED_BYTES = 2**63 - 1
#: Unicode categories an id must not contain: controls, format characters (e.g. bidi overrides), line and
#: paragraph separators, surrogates.
_ID_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Start of the key that names a search result without a usable id (``<no id>/<region>/<digest>``): it holds
#: a path separator, so it can never be sent to 8x8 as an id.
UNNAMED_PREFIX = "<no id>/"


class ObjectState(str, Enum):
    """Lifecycle states of a stored object (contract section 4.2)."""

    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    ARCHIVED = "ARCHIVED"
    REVOKED = "REVOKED"
    DELETED = "DELETED"
    FAILED = "FAILED"


#: The one vocabulary of object states, as 8x8 spells them (tuples of strings: fields 8x8 sends are strings).
#: States of objects 8x8 no longer serves (deleted): nothing to copy, restore or delete.
GONE_STATES: tuple[str, ...] = (ObjectState.REVOKED.value, ObjectState.DELETED.value)
#: States after which a PENDING object never becomes AVAILABLE by itself (gone, archived or failed).
FINAL_STATES: tuple[str, ...] = (*GONE_STATES, ObjectState.ARCHIVED.value, ObjectState.FAILED.value)


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
#: The statuses of a bulk job that will not change any more, as 8x8 spells them.
TERMINAL_BULK_STATUSES: frozenset[str] = frozenset(s.value for s in _TERMINAL)
#: The statuses of a bulk job whose zip can be downloaded, as 8x8 spells them.
ZIP_BULK_STATUSES: frozenset[str] = frozenset(s.value for s in BulkJobStatus if s.has_zip)


def is_plain_md5(checksum: str | None) -> bool:
    """Whether ``checksum`` is exactly a plain 32-hex MD5 (not a multipart ``<hex>-<n>`` tag, nothing around it)."""
    return isinstance(checksum, str) and _PLAIN_MD5.fullmatch(checksum) is not None


def id_problem(value: Any) -> str | None:
    """
    Why ``value`` cannot be used, exactly as it is, as an id in a request to 8x8 (``None``: it can).

    Ids are opaque strings used exactly as 8x8 gives them. One with surrounding whitespace, control or
    format characters, or a path separator (or that is ``.`` or ``..``) is refused rather than altered:
    trimmed or normalised it could name another object, and in a URL path it could name another resource.

    :param value: the id.
    """
    if not isinstance(value, str):
        return f"it must be a non-empty string, not {type(value).__name__}"
    if not value:
        return "it must be a non-empty string"
    if value != value.strip():
        return "it has surrounding whitespace"
    bad = sorted({c for c in value if unicodedata.category(c) in _ID_FORBIDDEN_CATEGORIES})
    if bad:
        return f"it contains control characters ({', '.join(f'U+{ord(c):04X}' for c in bad[:3])})"
    if "/" in value or "\\" in value:
        return "it contains a path separator ('/' or '\\')"
    if value in (".", ".."):
        return "it is a relative path segment ('.' or '..')"
    return None


def usable(
    objects: Iterable[StoredObject], limit: int, on_skip: Callable[[StoredObject], None] | None = None
) -> Iterator[StoredObject]:
    """
    The first ``limit`` objects whose id can be used (:func:`id_problem`), in order; reading stops there.

    An object whose id cannot be used is no use to any later step (it can be neither read, copied nor
    deleted), so it is not counted and does not take a place within ``limit``; it is passed to ``on_skip``.

    :param objects: objects as a search yields them (read lazily).
    :param limit: how many usable objects are wanted at most.
    :param on_skip: Optional. Called with each object skipped for its id.
    """

    def keep(obj: StoredObject) -> bool:
        if id_problem(obj.id) is None:
            return True
        if on_skip is not None:
            on_skip(obj)
        return False

    return islice(filter(keep, objects), max(0, limit))


def _show(value: Any) -> str:
    """A short, safe quotation of a value 8x8 sent (for a problem's text)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Fields:
    """
    Reads one ObjectResponse's (or BucketResponse's) fields, each checked against the contract; ``problems`` says
    what was not.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []

    def bad(self, name: str, value: Any, expected: str) -> None:
        self.problems.append(f"{name} {_show(value)} is not {expected}")

    def text(self, *names: str) -> str | None:
        """The first of ``names`` present (not ``None``) as a string; anything else is a problem."""
        for name in names:
            value = self.data.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                return value
            self.bad(name, value, "a string")
            return None
        return None

    def size(self, name: str) -> int | None:
        """A byte count: a non-negative integer, as a number or a string of digits (contract 13.6)."""
        value = self.data.get(name)
        if value is None or value == "":
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and math.isfinite(value) and value.is_integer()) or (
            isinstance(value, str) and _DIGITS.fullmatch(value)
        ):
            number = int(value)
        if number is None or not 0 <= number <= MAX_STORED_BYTES:
            self.bad(name, value, "a number of bytes (a whole number from 0)")
            return None
        return number

    def time(self, name: str) -> datetime | None:
        """A time: ISO-8601 (no zone = UTC) or epoch seconds/ms, as a number or a string (contract 13.7)."""
        value = self.data.get(name)
        try:
            return parse_api_time(value)
        except (TypeError, ValueError, OverflowError, OSError):
            self.bad(name, value, "a time (ISO-8601 or epoch)")
            return None

    def checksum(self, checksum_type: str | None) -> str | None:
        """The checksum: for MD5 (or no type), exactly 32 hex digits or a multipart ``<hex>-<n>`` tag."""
        value = self.data.get("checksum")
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.bad("checksum", value, "a string")
            return None
        if (checksum_type or "MD5").upper() == "MD5" and not (
            _PLAIN_MD5.fullmatch(value) or _MULTIPART_MD5.fullmatch(value)
        ):
            self.bad("checksum", value, "an MD5 (exactly 32 hex digits) or a multipart '<hex>-<n>' tag")
            return None
        return value

    def tags(self) -> dict[str, str]:
        """Tags: ``[{key, value, id?}]`` (a mapping is accepted too); keys strings, values scalars (kept as strings)."""
        value = self.data.get("tags")
        if value is None:
            return {}
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, list):
            pairs = []
            for item in value:
                if not isinstance(item, Mapping) or "key" not in item:
                    self.bad("tags", item, "a tag ({key, value})")
                    continue
                pairs.append((item["key"], item.get("value")))
        else:
            self.bad("tags", value, "a list of {key, value}")
            return {}
        tags: dict[str, str] = {}
        for key, raw in pairs:
            if not isinstance(key, str):
                self.bad("tags key", key, "a string")
            elif isinstance(raw, Mapping | list | tuple):
                self.bad(f"tags[{key!r}] value", raw, "a string")
            else:
                tags[key] = "" if raw is None else str(raw)
        return tags

    def flag(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None or isinstance(value, bool):
            return value
        self.bad(name, value, "true or false")
        return None


def _object_id(data: Mapping[str, Any], names: tuple[str, ...] = ("id", "objectId"), what: str = "object") -> str:
    """
    The item's id (the first of ``names`` present: ``id``, else ``objectId``), exactly as sent; ``ValueError``
    when it has no usable one.
    """
    for name in names:
        value = data.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ValueError(f"its {name} {_show(value)} is not a string")
        return value
    article = "an" if names[0][:1].lower() in "aeiou" else "a"
    raise ValueError(f"{what} description without {article} {names[0]!r}")


def _digest(item: Any) -> str:
    """A stable digest of an item as 8x8 sent it (the same item read twice has the same one)."""
    try:
        text = json.dumps(item, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(item)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


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
    #: Why this object cannot be handled as 8x8 described it (a malformed field, an id that cannot be used
    #: exactly, no id at all), or ``None``. An object with a problem is never downloaded, deleted or
    #: restored; a transfer records it failed with this reason. The fields that were malformed are ``None``.
    problem: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], region: str | None = None) -> StoredObject:
        """
        Build from one ObjectResponse dict, checking every field once (contract section 4.1).

        Every reading the contract leaves open is accepted (``storedBytes`` as a number or a string of digits,
        times as ISO without zone or epoch, tags as ``[{key, value, id?}]`` or a mapping, no ``shared``);
        a value of another type or shape is not an error here: it is set to ``None`` and named in
        :attr:`problem`, so one malformed object is that object's failure, never its caller's.

        :param data: the JSON object as 8x8 sent it.
        :param region: the region it was read from (8x8 does not repeat it in the object).
        :raises ValueError: when ``data`` is not an object or has no usable id (none, or not a string);
            :meth:`unnamed` builds a stand-in for such an item.
        """
        return _read(cls, data, region, ("id", "objectId"), "an object")

    @classmethod
    def unnamed(cls, item: Any, region: str | None, reason: str) -> StoredObject:
        """
        A stand-in for a search result that has no usable id, so that it is reported rather than lost.

        Its :attr:`id` is the synthetic key ``<no id>/<region>/<digest of the item>`` (the same item read twice
        gets the same key; the ``/`` makes it unusable as an id), its :attr:`problem` says why; the other
        fields are read as :meth:`from_api` reads them when the item is an object.

        :param item: the item as 8x8 sent it.
        :param region: the region searched.
        :param reason: why it has no usable id.
        """
        return _stand_in(cls, item, region, f"an item without a usable id ({reason})")

    @classmethod
    def _parsed(cls, data: Mapping[str, Any], object_id: str, region: str | None) -> StoredObject:
        fields = _Fields(data)
        checksum_type = fields.text("checksumType")
        obj = cls(
            id=object_id,
            type=fields.text("type"),
            name=fields.text("objectName", "name"),
            mime_type=fields.text("mimeType"),
            state=fields.text("objectState"),
            size=fields.size("storedBytes"),
            checksum=fields.checksum(checksum_type),
            checksum_type=checksum_type,
            created=fields.time("createdTime"),
            updated=fields.time("updatedTime"),
            bucket_id=fields.text("bucketId"),
            user_id=fields.text("userId"),
            customer_id=fields.text("customerId"),
            tags=fields.tags(),
            shared=fields.flag("shared"),
            region=region,
            raw=dict(data),
        )
        return _checked(obj, fields)

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
        """A small JSON-serialisable summary, fit for XCom (with ``problem`` when the object has one)."""
        summary = {
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
        if self.problem:
            summary["problem"] = self.problem
        return summary


_WithProblem = TypeVar("_WithProblem", "StoredObject", "Bucket")


def _with_problem(obj: _WithProblem, problem: str) -> _WithProblem:
    """``obj`` (an object or a bucket) with ``problem`` added to any it has."""
    joined = f"{obj.problem}; {problem}" if obj.problem else problem
    return dataclasses.replace(obj, problem=joined)


def _read(cls: type[_WithProblem], data: Any, region: str | None, names: tuple[str, ...], what: str) -> _WithProblem:
    """
    One record of 8x8 (``what``: "an object", "a bucket") read by ``cls._parsed``, with its id's problem.

    :raises ValueError: when ``data`` is not a JSON object or has no usable id under any of ``names``.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected {what} description, got {type(data).__name__} {_show(data)}")
    record_id = _object_id(data, names, what.split(" ", 1)[1])
    record = cls._parsed(data, record_id, region)
    why = id_problem(record_id)
    if why is None:
        return record
    return _with_problem(record, f"its id {record_id!r} cannot be used exactly as 8x8 gave it: {why}")


def _stand_in(cls: type[_WithProblem], item: Any, region: str | None, listed: str) -> _WithProblem:
    """A record for a listed item without a usable id: key ``<no id>/<region>/<digest>``, the problem named."""
    key = f"{UNNAMED_PREFIX}{region or 'unknown'}/{_digest(item)}"
    problem = f"8x8 listed {listed}: {_show(item)}"
    if isinstance(item, Mapping):
        return _with_problem(cls._parsed(item, key, region), problem)
    return cls(id=key, region=region, problem=problem)


def _checked(record: _WithProblem, fields: _Fields) -> _WithProblem:
    """``record`` with the malformed fields its reader found named in its problem."""
    if not fields.problems:
        return record
    return _with_problem(record, "8x8 described it with malformed metadata: " + "; ".join(fields.problems))


class BucketMember(NamedTuple):
    """One object of a bucket as the bucket lists it: its id and its type (``None`` when 8x8 gives none)."""

    id: str
    type: str | None = None


@dataclass(frozen=True)
class Bucket:
    """
    One bucket of 8x8 Cloud Storage: the group of related objects (a call's recording and what was derived
    from it: transcripts, summaries...), contract section 8.

    Built leniently from the API's BucketResponse, as :class:`StoredObject` is from an ObjectResponse: times as
    ISO (without zone = UTC) or epoch, tags as a list of ``{key, value}``, ``objectList`` items as the 2026
    revision's ``{id, type}`` or the 3.1.6 spec's whole ObjectResponse (only the id and type are kept).
    Unknown fields stay in ``raw``.
    """

    id: str
    customer_id: str | None = None
    user_id: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: The bucket's objects as ``(id, type)`` pairs, in 8x8's order; an item without a usable id is left out, a
    #: malformed type is ``None`` (both named in :attr:`problem`).
    objects: tuple[BucketMember, ...] = ()
    region: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Why this bucket is not as 8x8 described it (a malformed field or ``objectList`` item, an id that cannot be
    #: used exactly, no id at all), or ``None``. The fields that were malformed are ``None`` (or left out).
    problem: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], region: str | None = None) -> Bucket:
        """
        Build from one BucketResponse dict, checking every field once (contract section 8).

        The id is ``bucketId`` (else ``id``, the name 8x8's bucket filter uses). A value of the wrong type or
        shape is not an error here: it is set to ``None`` (an ``objectList`` item without a usable id: left out)
        and named in :attr:`problem`, so one malformed bucket is that bucket's failure, never its caller's.

        :param data: the JSON object as 8x8 sent it.
        :param region: the region it was read from (8x8 does not repeat it in the bucket).
        :raises ValueError: when ``data`` is not an object or has no usable id (none, or not a string);
            :meth:`unnamed` builds a stand-in for such an item.
        """
        return _read(cls, data, region, ("bucketId", "id"), "a bucket")

    @classmethod
    def unnamed(cls, item: Any, region: str | None, reason: str) -> Bucket:
        """
        A stand-in for a listed bucket that has no usable id, so that it is reported rather than lost.

        Its :attr:`id` is the synthetic key ``<no id>/<region>/<digest of the item>`` (as
        :meth:`StoredObject.unnamed` makes them), its :attr:`problem` says why.

        :param item: the item as 8x8 sent it.
        :param region: the region searched.
        :param reason: why it has no usable id.
        """
        return _stand_in(cls, item, region, f"a bucket without a usable id ({reason})")

    @classmethod
    def _parsed(cls, data: Mapping[str, Any], bucket_id: str, region: str | None) -> Bucket:
        fields = _Fields(data)
        bucket = cls(
            id=bucket_id,
            customer_id=fields.text("customerId"),
            user_id=fields.text("userId"),
            created=fields.time("createdTime"),
            updated=fields.time("updatedTime"),
            tags=fields.tags(),
            objects=_members(fields),
            region=region,
            raw=dict(data),
        )
        return _checked(bucket, fields)

    @property
    def object_ids(self) -> tuple[str, ...]:
        """The ids of the bucket's objects, in 8x8's order."""
        return tuple(member.id for member in self.objects)

    def to_summary(self) -> dict[str, Any]:
        """A small JSON-serialisable summary, fit for XCom (with ``problem`` when the bucket has one)."""
        summary: dict[str, Any] = {
            "id": self.id,
            "user_id": self.user_id,
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "region": self.region,
            "tags": dict(self.tags),
            "objects": [{"id": m.id, "type": m.type} for m in self.objects],
        }
        if self.problem:
            summary["problem"] = self.problem
        return summary


def _members(fields: _Fields) -> tuple[BucketMember, ...]:
    """
    The ``objectList`` of a BucketResponse as ``(id, type)`` pairs. An item that is not an object or has no usable
    id is left out, one whose type is not a string is kept with type ``None``; each is named in ``fields.problems``.
    """
    value = fields.data.get("objectList")
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        fields.bad("objectList", value, "a list of objects ({id, type})")
        return ()
    members: list[BucketMember] = []
    for index, item in enumerate(value):
        where = f"objectList[{index}]"
        if not isinstance(item, Mapping):
            fields.bad(where, item, "an object ({id, type})")
            continue
        try:
            object_id = _object_id(item)
        except ValueError as err:
            fields.problems.append(f"{where}: {err}")
            continue
        why = id_problem(object_id)
        if why is not None:
            fields.problems.append(f"{where}: its id {object_id!r} cannot be used exactly as 8x8 gave it: {why}")
            continue
        item_fields = _Fields(item)
        object_type = item_fields.text("type")  # None when malformed: the id is still the bucket's object
        fields.problems.extend(f"{where}: {p}" for p in item_fields.problems)
        members.append(BucketMember(object_id, object_type))
    return tuple(members)


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
