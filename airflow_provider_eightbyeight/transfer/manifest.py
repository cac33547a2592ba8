"""
Run manifests: one JSON Lines file per transfer run under ``<destination>/_manifests/``.

Each line records one object: id, source, destination path, size, md5, status. Earlier manifests tell
a re-run which objects are already present and verified, so it copies only the rest.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from airflow_provider_eightbyeight.transfer.storage import sink_factory

log = logging.getLogger(__name__)

MANIFEST_DIR = "_manifests"
#: A copy's metadata sidecar is ``<file>.meta.json`` (``rec.mp3.meta.json``, ``x-transcript.json.meta.json``).
SIDECAR_SUFFIX = ".meta.json"
#: Sidecars of release 0.1 (``<file>.json``: ``x-transcript.json.json``), still read as evidence, never written.
LEGACY_SIDECAR_SUFFIX = ".json"


class Status:
    """Outcome of one object in a run."""

    COPIED = "copied"
    #: Copied after 8x8 restored it from the archive in this run.
    RESTORED = "restored"
    SKIPPED = "skipped"
    ARCHIVED = "archived"
    FAILED = "failed"
    #: PENDING (still processing, or restoring) or another state that is neither AVAILABLE nor ARCHIVED.
    NOT_READY = "not_ready"
    #: Waiting at a pause point of the run (a bulk job, a restore); only in manifests published at a pause.
    WAITING = "waiting"


#: Statuses whose record says a verified copy of the object is at ``path``.
COPY_STATUSES = frozenset({Status.COPIED, Status.RESTORED, Status.SKIPPED})


class Evidence:
    """Why a run believes the destination holds an object's exact bytes."""

    #: Written and verified (size, MD5) by this run.
    WRITTEN = "written"
    #: Read back from the destination and hashed by this run.
    READ_BACK = "read_back"
    #: An earlier run's manifest record for the same path and size (not read back).
    MANIFEST = "manifest"
    #: The copy's metadata sidecar (not read back).
    SIDECAR = "sidecar"
    #: Written or read back by this run, but before a pause (a deferral, a wait): the copy may have
    #: changed since, so it is read back again before the object is deleted at 8x8.
    BEFORE_PAUSE = "before_pause"


#: Evidence that licenses deleting the object at 8x8: only what this run proved itself.
PROOF = frozenset({Evidence.WRITTEN, Evidence.READ_BACK})


@dataclass
class ManifestRecord:
    """One line of a manifest."""

    id: str
    region: str | None
    source: str
    destination: str
    path: str
    size: int | None
    md5: str | None
    status: str
    verified: bool = False
    type: str | None = None
    name: str | None = None
    created: str | None = None
    checksum: str | None = None
    reason: str | None = None
    attempts: int = 0
    deleted_at_source: bool = False
    #: The object's state at 8x8 when this run last saw it.
    state: str | None = None
    #: How the copy was checked (see :class:`Evidence`); ``None`` when there is no copy.
    evidence: str | None = None
    #: ``"requested"`` in a manifest written just before the delete call, then ``"deleted"``,
    #: ``"already_deleted"`` (8x8 showed it REVOKED/DELETED before this run's call: another run deleted it),
    #: ``"failed"`` or ``"not_found"``; ``None`` when no delete was attempted.
    delete: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One compact JSON line."""
        data = {name: getattr(self, name) for name in _FIELDS}  # asdict() deep-copies: slow per object
        for key in ("extra", "state", "evidence", "delete"):
            if not data[key]:
                del data[key]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> ManifestRecord:
        """Parse one line (unknown keys are ignored, so older and newer manifests both read)."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError(f"a manifest line is a JSON object, not {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


_FIELDS = tuple(f.name for f in fields(ManifestRecord))


def manifest_name(run_label: str, now: datetime | None = None) -> str:
    """A file name for a run's manifest: UTC timestamp first, so names sort by time."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_label).strip("._")[:120] or "run"
    return f"{stamp}_{label}.jsonl"


def write_manifest(root: Any, name: str, records: Iterable[ManifestRecord], *, digest: Any = None) -> Any:
    """
    Write a manifest under ``root/_manifests/`` as a stream of lines (memory does not grow with the number
    of records); it appears whole or not at all (a rename on local disk, one upload to object stores).
    Returns its path.

    :param digest: Optional. A ``hashlib`` object fed every byte written (a paused run keeps the SHA-256 of
        its pause manifest in its saved state, so the resumed run can tell whether the file was changed).
    """
    target = root / MANIFEST_DIR / name
    buffer: list[str] = []
    size = 0

    def write(handle: Any, text: str) -> None:
        data = text.encode("utf-8")
        if digest is not None:
            digest.update(data)
        handle.write(data)

    with sink_factory(target)() as handle:
        for record in records:
            line = record.to_json() + "\n"
            buffer.append(line)
            size += len(line)
            if size >= 1024 * 1024:
                write(handle, "".join(buffer))
                buffer, size = [], 0
        write(handle, "".join(buffer))
    return target


def read_manifest(path: Any, *, digest: Any = None) -> Iterator[ManifestRecord]:
    """
    The records of one manifest; unreadable lines are skipped with a warning.

    :param digest: Optional. A ``hashlib`` object fed every byte read (see :func:`write_manifest`).
    """
    with path.open("rb") as handle:
        # readline, not iteration: Airflow 3.0's file wrapper is not iterable
        for number, raw in enumerate(iter(handle.readline, b""), 1):
            if digest is not None:
                digest.update(raw)
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                record = ManifestRecord.from_json(line)
            except (ValueError, TypeError, RecursionError) as err:  # e.g. a line nested too deep to parse
                log.warning("Ignoring line %d of manifest %s: %s", number, path, type(err).__name__)
                continue
            if not isinstance(record.id, str) or not isinstance(record.status, str):
                log.warning("Ignoring line %d of manifest %s: no id or status", number, path)
                continue
            if not isinstance(record.extra, dict):
                record.extra = {}
            yield record


def iter_manifest_records(root: Any) -> Iterator[ManifestRecord]:
    """
    Every record of every manifest under ``root`` in the order the manifests were published (last modified;
    the name, i.e. the run's start, breaks ties), so what the run that published last says wins; unreadable
    lines are skipped.
    """
    folder = root / MANIFEST_DIR
    try:
        if not folder.exists():
            return
        names = published_order(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        path = folder / name
        try:
            yield from read_manifest(path)
        except OSError as err:
            log.warning("Could not read manifest %s: %s", path, err)


def published_order(folder: Any) -> list[str]:
    """
    The names of the manifests in ``folder``, oldest publication first: one listing (``scandir`` on local
    disk, ``ls`` on an object store), ordered by modification time, then name.
    """
    if str(getattr(folder, "protocol", "file") or "file") in ("file", "local", ""):
        with os.scandir(folder.path) as entries:
            found = [(e.stat().st_mtime, e.name) for e in entries if e.name.endswith(".jsonl") and e.is_file()]
    else:
        found = []
        for entry in folder.fs.ls(folder.path, detail=True, refresh=True):
            name = str(entry.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(".jsonl") and entry.get("type", "file") == "file":
                found.append((_modified(entry), name))
    return [name for _, name in sorted(found)]


def _modified(entry: dict[str, Any]) -> float:
    """An object store listing entry's modification time as epoch seconds (0 when it gives none)."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = entry.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0
