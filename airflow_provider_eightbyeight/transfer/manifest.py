"""
Run manifests: one JSON Lines file per transfer run under ``<destination>/_manifests/``.

Each line records one object: id, source, destination path, size, md5, status. Earlier manifests tell
a re-run which objects are already present and verified, so it copies only the rest.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_eightbyeight.transfer.storage import write_bytes_atomically

log = logging.getLogger(__name__)

MANIFEST_DIR = "_manifests"
SIDECAR_SUFFIX = ".json"


class Status:
    """Outcome of one object in a run."""

    COPIED = "copied"
    SKIPPED = "skipped"
    ARCHIVED = "archived"
    FAILED = "failed"


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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One compact JSON line."""
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> ManifestRecord:
        """Parse one line (unknown keys are ignored, so older and newer manifests both read)."""
        data = json.loads(line)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def manifest_name(run_label: str, now: datetime | None = None) -> str:
    """A file name for a run's manifest: UTC timestamp first, so names sort by time."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_label).strip("._")[:120] or "run"
    return f"{stamp}_{label}.jsonl"


def write_manifest(root: Any, name: str, records: Iterable[ManifestRecord]) -> Any:
    """Write a manifest under ``root/_manifests/`` (atomically on local disk). Returns its path."""
    target = root / MANIFEST_DIR / name
    payload = "".join(r.to_json() + "\n" for r in records).encode("utf-8")
    write_bytes_atomically(target, payload)
    return target


def iter_manifest_records(root: Any) -> Iterator[ManifestRecord]:
    """Every record of every manifest under ``root``, oldest manifest first; unreadable lines are skipped."""
    folder = root / MANIFEST_DIR
    try:
        if not folder.exists():
            return
        paths = sorted((p for p in folder.iterdir() if p.name.endswith(".jsonl")), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for path in paths:
        try:
            with path.open("r", encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        yield ManifestRecord.from_json(line)
                    except (ValueError, TypeError) as err:
                        log.warning("Ignoring line %d of manifest %s: %s", number, path, err)
        except OSError as err:
            log.warning("Could not read manifest %s: %s", path, err)


def verified_copies(root: Any) -> dict[str, ManifestRecord]:
    """The latest record per object id that says a verified copy exists (copied or skipped)."""
    index: dict[str, ManifestRecord] = {}
    for record in iter_manifest_records(root):
        if record.status in (Status.COPIED, Status.SKIPPED) and record.md5:
            index[record.id] = record
    return index
