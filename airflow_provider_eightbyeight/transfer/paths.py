"""
Where each object lands: render a path template from an object's fields and make it safe. Pure code.

Templates use ``str.format`` syntax over a fixed set of fields, e.g. the default
``{type}/{created:%Y/%m/%d}/{id}_{name}``. Available fields: ``id``, ``type``, ``name``, ``stem``,
``ext``, ``region``, ``mime_type``, ``size``, ``state``, ``bucket_id``, ``user_id``, ``customer_id``,
``created`` and ``updated`` (datetimes, take a strftime format after ``:``), ``tags[<key>]``, and any
tag key by its own name (``{callId}``, ``{agentName}``, ``{direction}``). Attribute access and
anything else is refused. Every rendered segment is sanitised and the result is always relative and
inside the destination.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_eightbyeight.models import StoredObject

DEFAULT_PATH_TEMPLATE = "{type}/{created:%Y/%m/%d}/{id}_{name}"
MISSING = "unknown"
#: Longest file or folder name written (bytes of UTF-8); most file systems and S3 keys allow 255.
MAX_SEGMENT_BYTES = 200
_WINDOWS_RESERVED = (
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{p}{i}" for p in ("COM", "LPT") for i in range(10)}  # COM0 and LPT0 included
    | {f"{p}{d}" for p in ("COM", "LPT") for d in "¹²³"}  # Windows reserves these too
)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\\x00-\x1f\x7f]')


class PathTemplateError(ValueError):
    """The path template is invalid (unknown field, attribute access, bad syntax)."""


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if "." in field_name or "(" in field_name:
            raise PathTemplateError(f"Path template field {{{field_name}}}: attribute access is not allowed")
        match = re.fullmatch(r"([A-Za-z_][\w-]*)(?:\[([^\]]+)\])?", field_name)
        if not match:
            raise PathTemplateError(f"Path template field {{{field_name}}} is not a field name")
        base, key = match.groups()
        if key is not None:
            if base != "tags":
                raise PathTemplateError(f"Path template field {{{field_name}}}: only tags[...] can be indexed")
            return kwargs["tags"].get(key, MISSING), field_name
        if base in kwargs:
            return kwargs[base], field_name
        if base in kwargs["tags"]:
            return kwargs["tags"][base], field_name
        return _MissingTag(base), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _MissingTag):
            return MISSING
        if value is None:
            return MISSING
        if isinstance(value, datetime):
            return value.strftime(format_spec) if format_spec else value.strftime("%Y-%m-%dT%H%M%SZ")
        # A value is one name: its own slashes must not create folders (only the template's may).
        return re.sub(r"[/\\]", "_", super().format_field(value, format_spec))


class _MissingTag(str):
    """A field that is neither an object field nor a tag of this object."""


_FORMATTER = _SafeFormatter()


def validate_template(template: str) -> None:
    """
    Check a template's syntax and field names before any object is copied.

    Unknown names are allowed only if they look like tag keys (they render as ``unknown`` when absent).

    :raises PathTemplateError: naming the problem.
    """
    if not isinstance(template, str) or not template.strip():
        raise PathTemplateError("path_template must be a non-empty string such as " + DEFAULT_PATH_TEMPLATE)
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as err:
        raise PathTemplateError(f"path_template {template!r} is not a valid format string: {err}") from None
    names = [field for _, field, _, _ in parsed if field is not None]
    if any(field == "" or field.isdigit() for field in names):
        raise PathTemplateError(f"path_template {template!r} has an empty or positional field; name every field")
    sample = StoredObject(id="x", name="y", created=datetime(2026, 1, 1), updated=datetime(2026, 1, 1))
    try:
        render_path(template, sample)
    except PathTemplateError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise PathTemplateError(f"path_template {template!r} cannot be rendered: {err}") from None
    if not {"id", "name", "stem"} & {n.split("[")[0] for n in names}:
        raise PathTemplateError(
            f"path_template {template!r} uses none of {{id}}, {{name}}, {{stem}}, so objects would "
            "overwrite each other; end it with e.g. {id}_{name}"
        )


def template_fields(obj: StoredObject) -> dict[str, Any]:
    """The values a template can use for ``obj``."""
    name = obj.name or obj.id
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    return {
        "id": obj.id,
        "type": obj.type,
        "name": name,
        "stem": stem,
        "ext": ext,
        "region": obj.region,
        "mime_type": obj.mime_type,
        "size": obj.size,
        "state": obj.state,
        "bucket_id": obj.bucket_id,
        "user_id": obj.user_id,
        "customer_id": obj.customer_id,
        "created": obj.created,
        "updated": obj.updated,
        "tags": dict(obj.tags),
    }


def render_path(template: str, obj: StoredObject) -> str:
    """
    The relative destination path of ``obj``: the template rendered, then each segment sanitised.

    :raises PathTemplateError: when the template is invalid or renders to nothing.
    """
    raw = _FORMATTER.vformat(template, (), template_fields(obj))
    return sanitize_relative_path(raw, fallback=obj.id)


def sanitize_segment(segment: str) -> str:
    """
    One safe file or folder name.

    Removes control characters and NUL, replaces characters that are unsafe on common file systems
    (``<>:"|?*\\``) with ``_``, normalises Unicode to NFC, turns ``.``/``..`` and Windows-reserved names
    (``CON``, ``NUL``, ``COM1``...) into harmless ones, trims dots and spaces at the ends, and shortens
    long names to :data:`MAX_SEGMENT_BYTES` bytes (keeping the extension and adding a short hash so
    shortened names stay distinct). Returns ``""`` for a segment with nothing left.
    """
    text = unicodedata.normalize("NFC", segment)
    text = _UNSAFE_CHARS.sub("_", text)
    if not text.isprintable():  # printable text has no character of category C (a fast check)
        text = "".join(c if unicodedata.category(c)[0] != "C" else "_" for c in text)
    text = text.strip(" .")
    if not text:
        return ""
    if text.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:  # "CON .mp3" is CON on Windows too
        text = "_" + text
    if len(text.encode("utf-8")) > MAX_SEGMENT_BYTES:
        text = _shorten(text, segment)
    return text


def _shorten(text: str, original: str) -> str:
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext.encode("utf-8")) > 20:
        stem, ext = text, ""
    suffix = f"~{digest}" + (f".{ext}" if ext else "")
    budget = MAX_SEGMENT_BYTES - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")[:budget]
    return encoded.decode("utf-8", "ignore").rstrip(" .") + suffix


def sanitize_relative_path(path: str, *, fallback: str = MISSING) -> str:
    """
    A relative path made of sanitised segments: never absolute, never with ``..``, never empty.

    Backslashes count as separators (a Windows-style name cannot smuggle in folders either way).
    """
    segments = [sanitize_segment(s) for s in re.split(r"[/\\]+", path)]
    if segments and not segments[-1]:  # a file name that is nothing once made safe (e.g. ".."): use the id
        segments[-1] = sanitize_segment(fallback) or MISSING
    cleaned = [s for s in segments if s]
    if not cleaned:
        cleaned = [sanitize_segment(fallback) or MISSING]
    result = "/".join(cleaned)
    if result.startswith("/") or any(s in (".", "..") for s in cleaned):  # pragma: no cover - defence in depth
        raise PathTemplateError(f"unsafe path {path!r}")
    return result


def is_safe_relative(path: Any) -> bool:
    """
    Whether ``path`` (read back from a manifest or a saved state: untrusted) is a path this provider could
    have written: a non-empty string of sanitised segments, relative, without ``.``/``..``, that stays under
    the destination. A path that is not is never read, written or deleted for.
    """
    if not isinstance(path, str) or not path:
        return False
    try:
        return sanitize_relative_path(path) == path
    except PathTemplateError:
        return False


def disambiguate(relative: str, object_id: str, taken: Mapping[str, str] | set[str]) -> str:
    """
    ``relative`` if it is free, else the same path with ``~<id prefix>`` before the extension.

    Used when two objects render to the same path (e.g. equal names after sanitising). Paths that differ
    only in case are the same path (``casefold``): on a case-insensitive file system (Windows, macOS)
    ``Rec.mp3`` and ``rec.mp3`` are one file. ``taken`` may hold paths as rendered or casefolded.
    """
    folded = {path.casefold() for path in taken}
    if relative.casefold() not in folded:
        return relative
    folder, _, name = relative.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    tag = sanitize_segment(object_id)[:12] or hashlib.sha256(object_id.encode()).hexdigest()[:12]
    candidate_name = f"{stem}~{tag}" + (f".{ext}" if ext else "")
    candidate = f"{folder}/{candidate_name}" if folder else candidate_name
    counter = 1
    while candidate.casefold() in folded:
        counter += 1
        candidate_name = f"{stem}~{tag}-{counter}" + (f".{ext}" if ext else "")
        candidate = f"{folder}/{candidate_name}" if folder else candidate_name
    return candidate
