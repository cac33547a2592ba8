"""
The working state of one transfer run, kept on local disk so memory stays flat in the number of objects.

A run of a million objects must not hold a million records, paths or ids in memory. :class:`RunStore` keeps
them in a SQLite file in a temporary folder (a few MB of page cache, whatever the number of objects):

- the run's records, in the order they were made (the manifest is written from them as a stream);
- the ids the run has seen (a search that repeats an object gives it one fate) and the destination paths
  it has taken (two objects never share a path);
- what earlier manifests say about the destination (which object each path belongs to, and the latest
  verified copy of each object), read once, only when a destination file is found where a copy would go.

The store is private to one process; what travels across a deferral is the published manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_eightbyeight.local_files import process_alive
from airflow_provider_eightbyeight.transfer.manifest import COPY_STATUSES, ManifestRecord, iter_manifest_records

#: Store folders are named ``8x8-run-<pid>-<random>`` so a later run can tell a killed process's leftovers.
PREFIX = "8x8-run-"
#: Records read from the store at a time when it is walked (memory per walk is bounded by this).
CHUNK = 1000


class RunStore:
    """
    Records, seen ids, taken paths and earlier copies of one run (see the module docs). Thread-safe.

    :param folder: Optional. Where to make the temporary folder (default: the system's temp folder).
    """

    def __init__(self, folder: str | None = None) -> None:
        remove_stale_stores(folder)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self._dir / "run.db", check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE", "cache_size=-4096"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(
            """
            CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
                                  status TEXT NOT NULL, tag TEXT, data TEXT NOT NULL);
            CREATE INDEX records_by_tag ON records (tag, seq) WHERE tag IS NOT NULL;
            CREATE TABLE seen (id TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE taken (path TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE owners (path TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE copies (id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
            """
        )
        self.history_loaded = False
        self.closed = False

    @property
    def folder(self) -> Path:
        """
        The run's own temporary folder: every temporary file of the run (the store, bulk zips and their
        ``.part`` files) lives here, removed by :meth:`close` and, after a kill, by the next run.
        """
        return self._dir

    # ------------------------------------------------------------------ records

    def put(self, record: ManifestRecord) -> None:
        """Add a record, or replace the record of the same id (keeping its place in the order)."""
        self._put_batch([_row(record)])

    def put_many(self, records: Iterable[ManifestRecord]) -> None:
        """:meth:`put` for many records (one transaction per chunk)."""
        batch: list[tuple[str, str, str | None, str]] = []
        for record in records:
            batch.append(_row(record))
            if len(batch) >= CHUNK:
                self._put_batch(batch)
                batch = []
        if batch:
            self._put_batch(batch)

    def _put_batch(self, batch: list[tuple[str, str, str | None, str]]) -> None:
        if not batch:
            return
        sql = (
            "INSERT INTO records (id, status, tag, data) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
            "SET status = excluded.status, tag = excluded.tag, data = excluded.data"
        )
        with self._lock:
            if len(batch) == 1:  # one statement is atomic on its own
                self._db.execute(sql, batch[0])
                return
            self._transaction(sql, batch)

    def _transaction(self, *statements: Any) -> None:
        """Run ``(sql, rows)`` pairs in one transaction; on any error roll it back and raise (never left open)."""
        self._db.execute("BEGIN")
        try:
            for sql, rows in zip(statements[::2], statements[1::2], strict=True):
                self._db.executemany(sql, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def delete(self, object_id: str) -> None:
        """Forget the record of ``object_id`` (its fate is decided again)."""
        with self._lock:
            self._db.execute("DELETE FROM records WHERE id = ?", (object_id,))

    def records(self, statuses: Iterable[str] | None = None, *, tag: str | None = None) -> Iterator[ManifestRecord]:
        """
        The records in the order they were first made, read :data:`CHUNK` at a time.

        :param statuses: Optional. Only records of these statuses.
        :param tag: Optional. Only ``waiting`` records of this bulk job (``extra["job"]``).
        """
        wanted = sorted(set(statuses)) if statuses is not None else None
        where = f" AND status IN ({','.join('?' * len(wanted))})" if wanted else ""
        params: tuple[Any, ...] = tuple(wanted or ())
        if tag is not None:
            where += " AND tag = ?"
            params += (tag,)
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT seq, data FROM records WHERE seq > ?{where} ORDER BY seq LIMIT {CHUNK}",
                    (last, *params),
                ).fetchall()
            if not rows:
                return
            for seq, data in rows:
                last = seq
                yield _load(data)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def has_record(self, object_id: str) -> bool:
        """Whether the run recorded a fate for ``object_id``."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM records WHERE id = ?", (object_id,)).fetchone() is not None

    # ------------------------------------------------------------------ ids seen and paths taken

    def first_sight(self, object_id: str) -> bool:
        """``True`` the first time ``object_id`` is seen by the run, ``False`` after."""
        with self._lock:
            return self._db.execute("INSERT OR IGNORE INTO seen (id) VALUES (?)", (object_id,)).rowcount == 1

    @property
    def taken(self) -> TakenPaths:
        """The destination paths (casefolded) the run has taken."""
        return TakenPaths(self)

    # ------------------------------------------------------------------ earlier copies

    def load_history(self, root: Any) -> None:
        """Read every manifest under ``root`` into the store (replacing what was read before)."""
        with self._lock:
            self._db.execute("DELETE FROM owners")
            self._db.execute("DELETE FROM copies")
            batch: list[ManifestRecord] = []
            for record in iter_manifest_records(root):
                batch.append(record)
                if len(batch) >= CHUNK:
                    self._remember_batch(batch)
                    batch = []
            self._remember_batch(batch)
            self.history_loaded = True

    def forget_history(self) -> None:
        """Drop what earlier manifests said (it is read again when next needed)."""
        with self._lock:
            self.history_loaded = False

    def remember(self, record: ManifestRecord) -> None:
        """Take one copy record into account (later records win), if the history was read."""
        if not self.history_loaded:  # the common case (a first run): no lock taken per object
            return
        with self._lock:
            if self.history_loaded:
                self._remember_batch([record])

    def _remember_batch(self, records: list[ManifestRecord]) -> None:
        copies = [  # a hand-edited line without a proper id or path says nothing about ownership
            r
            for r in records
            if r.status in COPY_STATUSES and isinstance(r.id, str) and r.id and isinstance(r.path, str) and r.path
        ]
        if not copies:
            return
        self._transaction(
            "INSERT OR REPLACE INTO copies (id, data) VALUES (?, ?)",
            [(r.id, _dump(r)) for r in copies if isinstance(r.md5, str)],
            "INSERT OR REPLACE INTO owners (path, id) VALUES (?, ?)",
            [(r.path.casefold(), r.id) for r in copies],
        )

    def owner(self, relative_path: str) -> str | None:
        """The id of the object a manifest recorded at ``relative_path``, if any."""
        with self._lock:
            row = self._db.execute("SELECT id FROM owners WHERE path = ?", (relative_path.casefold(),)).fetchone()
        return row[0] if row else None

    def copy_of(self, object_id: str) -> ManifestRecord | None:
        """The latest record of a verified copy of ``object_id``, if a manifest has one."""
        with self._lock:
            row = self._db.execute("SELECT data FROM copies WHERE id = ?", (object_id,)).fetchone()
        return _load(row[0]) if row else None

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """Close and remove the store (calling it again does nothing)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __del__(self) -> None:  # a store never closed (a killed task) still leaves no file behind
        with contextlib.suppress(Exception):
            self.close()


def remove_stale_stores(folder: str | None = None) -> list[Path]:
    """
    Remove store folders that killed processes left behind (SIGKILL, out of memory: no clean-up ran), in
    ``folder`` (default: the system's temp folder); folders of processes still alive are kept.
    """
    removed = []
    base = Path(folder or tempfile.gettempdir())
    for path in base.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


class TakenPaths:
    """The set-like view of a run's taken paths (``in``, ``add``, ``update``, ``discard``); paths casefolded."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    def __contains__(self, path: object) -> bool:
        store = self._store
        with store._lock:
            return store._db.execute("SELECT 1 FROM taken WHERE path = ?", (path,)).fetchone() is not None

    def add(self, path: str) -> None:
        store = self._store
        with store._lock:
            store._db.execute("INSERT OR IGNORE INTO taken (path) VALUES (?)", (path,))

    def update(self, paths: Iterable[str]) -> None:
        store = self._store
        with store._lock:
            store._db.executemany("INSERT OR IGNORE INTO taken (path) VALUES (?)", [(p,) for p in paths])

    def discard(self, path: str) -> None:
        store = self._store
        with store._lock:
            store._db.execute("DELETE FROM taken WHERE path = ?", (path,))


def _row(record: ManifestRecord) -> tuple[str, str, str | None, str]:
    job = record.extra.get("job") if record.status == "waiting" else None
    return record.id, record.status, job if isinstance(job, str) else None, _dump(record)


def _dump(record: ManifestRecord) -> str:
    return record.to_json()


def _load(data: str) -> ManifestRecord:
    record = ManifestRecord.from_json(data)
    if not isinstance(record.extra, dict):
        record.extra = {}
    return record
