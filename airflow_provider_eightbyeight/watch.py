"""
Where a watcher of new 8x8 objects stands (pure: no I/O).

A watcher emits every object that becomes AVAILABLE after it started (or after ``start_from``) exactly
once, across polls and triggerer restarts, as long as its cursor is stored after each batch of events:

- **Watermark** ``W``: the newest ``createdTime`` seen (never later than the poll's own clock). Each poll
  reads every AVAILABLE or PENDING object created at or after ``W - overlap``; ``overlap`` covers objects
  that show up in 8x8's search later than their ``createdTime`` says (indexing lag, clock skew).
- **Seen ids**: the ids already emitted whose ``createdTime`` is within the overlap. An object is emitted
  when it is AVAILABLE and not seen. Once ``W - overlap`` passes its ``createdTime``, no search can
  return it again, so its id is dropped: the set is bounded by the objects of one overlap window.
- **Pending ids**: objects seen PENDING (still being written, or restoring). They are read by id at
  every poll until they are AVAILABLE (then emitted, however old their ``createdTime``), gone, or older
  than ``pending_max_age``.

Delivery is at least once: a cursor is stored only after the events derived from it were persisted
(Airflow 3.3's ack mode), so a crash in between repeats that batch at the next start and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_eightbyeight.models import FINAL_STATES, id_problem

#: The ``source`` of every event payload a watcher emits (how consumers recognise one).
EVENT_SOURCE = "eightbyeight.new_objects"
#: States a watcher's search reads: AVAILABLE ones are emitted, PENDING ones remembered until they are.
WATCHED_STATES = ("AVAILABLE", "PENDING")
CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class SeenObject:
    """What a poll saw of one object (small: a poll may hold many)."""

    id: str
    region: str | None
    type: str | None
    state: str | None
    created_ms: int
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """
    One poll's view of 8x8.

    :param poll: a number that grows with each poll of one stream.
    :param floor_ms: every AVAILABLE or PENDING object created at or after this time (of ``types``, in the
        polled regions) is in ``window``, up to ``upto_ms``.
    :param upto_ms: ``None`` when the read was complete; else the ``createdTime`` where it stopped (objects
        created later were not read this time).
    :param polled_at_ms: the poll's clock when it started.
    :param types: the object types read, or ``None`` for every type.
    :param window: the objects of the window, oldest first.
    :param by_id: pending ids read by id, with their current state.
    :param gone: pending ids 8x8 no longer knows.
    :param tags: tag equality the search applied (only objects with these tags were read).
    :param stream: which poll loop made it (poll numbers start again with each loop).
    """

    poll: int
    floor_ms: int
    upto_ms: int | None
    polled_at_ms: int
    types: frozenset[str] | None
    window: Sequence[SeenObject]
    by_id: Mapping[str, SeenObject] = field(default_factory=dict)
    gone: frozenset[str] = frozenset()
    tags: Mapping[str, str] = field(default_factory=dict)
    stream: int = 0


@dataclass(frozen=True, slots=True)
class Matcher:
    """Which objects a watcher wants: types (empty: all) and tag equality."""

    types: frozenset[str] = frozenset()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, obj: SeenObject) -> bool:
        return self.wants_type(obj) and all(obj.tags.get(key) == value for key, value in self.tags.items())

    def wants_type(self, obj: SeenObject) -> bool:
        return not self.types or obj.type in self.types

    def covered_by(self, types: frozenset[str] | None, tags: Mapping[str, str]) -> bool:
        """Whether a search of ``types`` (``None``: all) with ``tags`` read every object this matcher wants."""
        if types is not None and (not self.types or not self.types <= types):
            return False
        return all(self.tags.get(key) == value for key, value in tags.items())

    def digest(self) -> str:
        text = json.dumps({"types": sorted(self.types), "tags": dict(sorted(self.tags.items()))})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class WatchCursor:
    """
    A watcher's position (see the module docstring). Immutable: :func:`apply` returns a new one.

    :param watermark_ms: the newest ``createdTime`` accounted for.
    :param seen: emitted (or baseline) ids within the overlap, with their ``createdTime``.
    :param pending: ids seen PENDING: ``id -> (region, createdTime ms, first seen ms)``.
    :param baseline: the next snapshot only marks what it finds AVAILABLE and created by ``watermark_ms`` (the
        first start) as seen: a watcher's first start without ``start_from``, objects already there are not new.
    :param filter: the digest of the filter of the watcher that stored it (``None``: unknown).
    """

    watermark_ms: int
    seen: Mapping[str, int] = field(default_factory=dict)
    pending: Mapping[str, tuple[str | None, int, int]] = field(default_factory=dict)
    baseline: bool = False
    filter: str | None = None

    def floor_ms(self, overlap_ms: int) -> int:
        """The oldest ``createdTime`` the next search must read."""
        return self.watermark_ms - overlap_ms

    def to_json(self, matcher: Matcher | None = None) -> dict[str, Any]:
        """A JSON value for Airflow's asset state store (ids and times only; never a credential)."""
        value: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "watermark_ms": self.watermark_ms,
            "watermark": iso_from_ms(self.watermark_ms),
            "seen": dict(self.seen),
            "pending": {i: list(p) for i, p in self.pending.items()},
            "baseline": self.baseline,
        }
        digest = matcher.digest() if matcher is not None else self.filter
        if digest is not None:
            value["filter"] = digest
        return value

    @classmethod
    def from_json(cls, value: Any) -> WatchCursor:
        """
        The cursor stored by :meth:`to_json`.

        :raises ValueError: naming what is wrong, when ``value`` is not such a cursor.
        """
        if not isinstance(value, Mapping) or not isinstance(value.get("watermark_ms"), int):
            raise ValueError(f"not a watcher cursor (no integer 'watermark_ms'): {str(value)[:200]!r}")
        if value.get("v") != CURSOR_VERSION:
            raise ValueError(f"watcher cursor version {value.get('v')!r} is not {CURSOR_VERSION}")
        seen = value.get("seen") or {}
        pending = value.get("pending") or {}
        if not isinstance(seen, Mapping) or not isinstance(pending, Mapping):
            raise ValueError("watcher cursor: 'seen' and 'pending' must be objects")
        return cls(
            watermark_ms=value["watermark_ms"],
            seen={str(i): int(ms) for i, ms in seen.items()},
            pending={str(i): (p[0], int(p[1]), int(p[2])) for i, p in pending.items()},
            baseline=bool(value.get("baseline", False)),
            filter=value.get("filter") if isinstance(value.get("filter"), str) else None,
        )


def merge(cursors: Iterable[WatchCursor]) -> WatchCursor | None:
    """
    One cursor from several stored ones (a watcher of several assets): the oldest watermark, every seen and
    pending id. Loses nothing; may repeat what only the newer one had emitted.
    """
    found = list(cursors)
    if not found:
        return None
    seen: dict[str, int] = {}
    pending: dict[str, tuple[str | None, int, int]] = {}
    for cursor in found:
        seen.update(cursor.seen)
        pending.update(cursor.pending)
    return WatchCursor(
        watermark_ms=min(c.watermark_ms for c in found),
        seen=seen,
        pending={i: p for i, p in pending.items() if i not in seen},
        baseline=all(c.baseline for c in found),
        filter=found[0].filter if len({c.filter for c in found}) == 1 else None,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply` made of a snapshot."""

    cursor: WatchCursor
    new: list[SeenObject]
    dropped: list[tuple[str, str]]  # pending ids given up, and why
    covered: bool  # False: the snapshot did not cover this watcher's window (nothing changed)


def apply(
    cursor: WatchCursor,
    snapshot: Snapshot,
    matcher: Matcher,
    *,
    overlap_ms: int,
    pending_max_age_ms: int,
    max_pending: int,
) -> Applied:
    """
    The objects of ``snapshot`` new to ``cursor`` (oldest first) and the cursor after them.

    A snapshot that does not cover the cursor's window (it started later, or read other types or tags)
    changes nothing: the next one will.
    """
    floor = cursor.floor_ms(overlap_ms)
    if snapshot.floor_ms > floor or not matcher.covered_by(snapshot.types, snapshot.tags):
        return Applied(cursor, [], [], covered=False)
    seen = dict(cursor.seen)
    pending = dict(cursor.pending)
    new: list[SeenObject] = []
    dropped: list[tuple[str, str]] = []

    def consider(obj: SeenObject) -> None:
        if obj.id in seen:
            pending.pop(obj.id, None)
            return
        if obj.state == "AVAILABLE":
            if not matcher(obj):  # followed while PENDING for its type; its tags, final now, do not match
                if pending.pop(obj.id, None) is not None:
                    dropped.append((obj.id, "it is AVAILABLE now and its tags do not match the watcher's"))
                return
            seen[obj.id] = obj.created_ms
            there_before = cursor.baseline and obj.created_ms <= cursor.watermark_ms
            if pending.pop(obj.id, None) is not None or not there_before:
                new.append(obj)
        elif obj.state in FINAL_STATES:
            if pending.pop(obj.id, None) is not None:
                dropped.append((obj.id, f"it became {obj.state} before it was AVAILABLE"))
        elif obj.id not in pending:
            # followed by type only: 8x8 may tag an object once it is written
            pending[obj.id] = (obj.region, obj.created_ms, snapshot.polled_at_ms)

    top: int | None = None
    for obj in snapshot.window:
        top = obj.created_ms if top is None else max(top, obj.created_ms)
        if (obj.created_ms >= floor or obj.id in pending) and matcher.wants_type(obj):
            consider(obj)
    for object_id in list(pending):
        if object_id in snapshot.by_id:
            consider(snapshot.by_id[object_id])
        elif object_id in snapshot.gone:
            del pending[object_id]
            dropped.append((object_id, "8x8 no longer knows it"))
    watermark = cursor.watermark_ms
    if snapshot.upto_ms is not None:
        top = snapshot.upto_ms if top is None else min(top, snapshot.upto_ms)
    if top is not None:
        watermark = max(watermark, min(top, snapshot.polled_at_ms))
    keep_from = watermark - overlap_ms
    seen = {i: ms for i, ms in seen.items() if ms >= keep_from}
    too_old = snapshot.polled_at_ms - pending_max_age_ms
    for object_id, (_, _, first) in list(pending.items()):
        if first < too_old:
            del pending[object_id]
            dropped.append((object_id, f"still not AVAILABLE {pending_max_age_ms // 3_600_000} h after it was seen"))
    if len(pending) > max_pending:
        for object_id, _ in sorted(pending.items(), key=lambda item: item[1][2])[: len(pending) - max_pending]:
            del pending[object_id]
            dropped.append((object_id, f"more than {max_pending} objects are pending; the oldest are given up"))
    new.sort(key=lambda o: (o.created_ms, o.id))
    return Applied(
        WatchCursor(watermark_ms=watermark, seen=seen, pending=pending, filter=cursor.filter),
        new,
        dropped,
        covered=True,
    )


def event_payloads(
    new: Sequence[SeenObject], *, max_ids: int, connection: str, matcher: Matcher
) -> Iterator[dict[str, Any]]:
    """
    The payloads of the events for ``new`` objects: one per ``max_ids`` objects, each naming all of its ids
    (by region, for a downstream copy) and the ``createdTime`` bounds; never a credential.
    """
    for start in range(0, len(new), max_ids):
        chunk = new[start : start + max_ids]
        by_region: dict[str, list[str]] = {}
        for obj in chunk:
            by_region.setdefault(obj.region or "", []).append(obj.id)
        yield {
            "source": EVENT_SOURCE,
            "connection": connection,
            "count": len(chunk),
            "ids": [o.id for o in chunk],
            "by_region": by_region,
            "regions": sorted(by_region),
            "types": sorted({o.type for o in chunk if o.type}),
            "created_from": iso_from_ms(min(o.created_ms for o in chunk)),
            "created_to": iso_from_ms(max(o.created_ms for o in chunk)),
            "filter": {"types": sorted(matcher.types), "tags": dict(matcher.tags)},
        }


def ids_from_event(extra: Mapping[str, Any] | None) -> dict[str | None, list[str]] | None:
    """
    The object ids one watcher event names, by region (``None``: no region given), from an asset event's
    ``extra``; ``None`` for an event of another source.

    :raises ValueError: naming the field, when a watcher payload is malformed (ids must be strings usable exactly,
        ``by_region`` a mapping of region names to lists of them).
    """
    payload = extra.get("payload") if isinstance(extra, Mapping) else None
    if not isinstance(payload, Mapping) or payload.get("source") != EVENT_SOURCE:
        return None
    by_region = payload.get("by_region")
    if by_region is None:
        by_region = {"": payload.get("ids")}
    if not isinstance(by_region, Mapping):
        raise ValueError(f"'by_region' must map region names to lists of ids, got {type(by_region).__name__}")
    found: dict[str | None, list[str]] = {}
    for region, ids in by_region.items():
        if not isinstance(ids, list):
            raise ValueError(f"'by_region'[{region!r}] must be a list of ids, got {type(ids).__name__}")
        bad = [i for i in ids if id_problem(i) is not None]  # ids are used exactly, never trimmed
        if bad:
            raise ValueError(f"'by_region'[{region!r}] holds {len(bad)} value(s) that are not object ids: {bad[:5]!r}")
        name = region.strip() if isinstance(region, str) and region.strip() not in ("", "null", "None") else None
        found.setdefault(name, []).extend(ids)
    return found


def ids_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str | None, list[str]]:
    """
    Every object id the watcher events among ``events`` (asset event ``extra`` dicts) name, by region
    (``None``: unknown), each once, in event order. Events of other sources are ignored.

    :raises ValueError: as :func:`ids_from_event`.
    """
    found: dict[str | None, dict[str, None]] = {}
    for extra in events:
        for region, ids in (ids_from_event(extra) or {}).items():
            found.setdefault(region, {}).update(dict.fromkeys(ids))
    return {region: list(ids) for region, ids in found.items()}


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC time (``...Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
