"""
Event-driven scheduling on new 8x8 objects: :class:`EightByEightNewObjectsTrigger` for an ``AssetWatcher``.

Each event the trigger yields becomes an asset event and starts the DAGs scheduled on the asset. What
"new" means, and why nothing is lost or repeated, is in :mod:`airflow_provider_eightbyeight.watch`;
this module does the polling and keeps the cursor:

- **Shared poll** (Airflow 3.3+): watchers of one connection and region set with the same poll settings
  share one search per poll (``shared_stream_key``); each filters its own types and tags and keeps its own
  cursor. The stream runs in **ack mode**: a watcher's cursor is written to its asset's state store only
  after Airflow confirmed that the events of that poll are in the database.
- **Standalone** (Airflow 3.2, which has neither shared streams nor an asset state store): ``run()`` polls
  on its own and keeps the cursor in memory; a restarted triggerer starts again from ``start_from`` (or
  from "now": objects that arrived while it was down are then not emitted).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_eightbyeight.compat import BaseEventTrigger, TriggerEvent, require
from airflow_provider_eightbyeight.errors import (
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
)
from airflow_provider_eightbyeight.filters import ObjectFilter
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import StoredObject, id_problem
from airflow_provider_eightbyeight.timeutil import to_epoch_ms
from airflow_provider_eightbyeight.watch import (
    WATCHED_STATES,
    Matcher,
    SeenObject,
    Snapshot,
    WatchCursor,
    apply,
    event_payloads,
    iso_from_ms,
    merge,
)

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.compat import AdvanceItem, SharedStreamProducer

_MODULE = "airflow_provider_eightbyeight.triggers.new_objects"
#: The asset state store key of a watcher's cursor (``<prefix><cursor_name>``).
CURSOR_KEY_PREFIX = "eightbyeight.new_objects."
#: Errors that polling again cannot cure: the watcher stops with the error (a bad filter, a bad request).
STOPPING_ERRORS = (ConfigurationError, InvalidRequestError)
#: Seconds a standalone watcher waits after yielding events before it trusts them persisted.
PERSIST_GRACE = 5.0
#: Objects one poll reads per region before it may stop early (it reads on while they share the overlap).
DEFAULT_MAX_OBJECTS_PER_POLL = 10_000


class EightByEightNewObjectsTrigger(BaseEventTrigger):
    """
    Yields an event for each batch of 8x8 objects that became AVAILABLE since the last poll.

    Use it in an ``AssetWatcher``; a DAG scheduled on the asset runs for each batch, and
    ``EightByEightTransferOperator(from_triggering_events=True)`` copies exactly the batch's objects.
    Each event's payload: ``source`` (``"eightbyeight.new_objects"``), ``count``, ``ids``, ``by_region``, ``regions``
    (every id of the batch), ``types``, ``created_from``/``created_to`` and the watcher's ``filter``; never
    a credential.

    Delivery is at least once: on Airflow 3.3+ the cursor (in the asset's state store) moves only after the
    events are persisted, so a triggerer killed at any moment repeats at most the last batch and loses
    nothing. A restart between polls repeats nothing.

    :param eightbyeight_conn_id: The 8x8 connection.
    :param object_types: Optional. Object types to watch (e.g. ``["callrecording"]``); default all.
    :param tags: Optional. Tag equality the objects must match, e.g. ``{"direction": "INBOUND"}``.
    :param region: Optional. Region name(s). Default: the connection's region, or every region of the
        account when the connection names none.
    :param all_regions: Watch every region of the account.
    :param poll_interval: Seconds between polls (at least 1).
    :param overlap: Seconds each poll reads back before the newest ``createdTime`` seen, for objects that
        appear in 8x8's search later than their ``createdTime`` (default 1800). An object that appears later
        than this, and was never seen PENDING, is not emitted.
    :param start_from: Optional. On the watcher's first start (no stored cursor): emit the objects created
        since this time (ISO-8601, datetime or epoch ms), in batches. Default: only objects that become
        AVAILABLE after the first start.
    :param max_ids_per_event: Objects per event (1..10,000; default 500): a poll that finds more yields
        several events.
    :param cursor_name: The cursor's name in the asset's state store; give each watcher of one asset its
        own.
    :param pending_max_age: Seconds a PENDING object is followed before it is given up (default 7 days).
    :param max_pending: PENDING objects followed at most (default 10,000; the oldest are given up first).
    :param max_objects_per_poll: Objects a poll reads per region before it may stop early; the next poll,
        at once, reads on.
    """

    def __init__(
        self,
        *,
        eightbyeight_conn_id: str = EightByEightHook.default_conn_name,
        object_types: str | Sequence[str] | None = None,
        tags: Mapping[str, Any] | None = None,
        region: str | Sequence[str] | None = None,
        all_regions: bool = False,
        poll_interval: float = 60.0,
        overlap: float = 1800.0,
        start_from: str | datetime | int | None = None,
        max_ids_per_event: int = 500,
        cursor_name: str = "default",
        pending_max_age: float = 7 * 86400.0,
        max_pending: int = 10_000,
        max_objects_per_poll: int = DEFAULT_MAX_OBJECTS_PER_POLL,
    ) -> None:
        require("event-driven scheduling", type(self).__name__)
        super().__init__()
        if not isinstance(eightbyeight_conn_id, str) or not eightbyeight_conn_id.strip():
            raise ConfigurationError("eightbyeight_conn_id must name an 8x8 connection")
        self.eightbyeight_conn_id = eightbyeight_conn_id
        types = [object_types] if isinstance(object_types, str) else list(object_types or [])
        self.object_types = sorted({t.strip() for t in types if isinstance(t, str) and t.strip()})
        if len(self.object_types) != len(types):
            raise ConfigurationError(f"object_types must be names of object types, got {object_types!r}")
        self.tags = {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()}
        ObjectFilter(object_types=self.object_types or None, tags=self.tags)  # validates both
        names = [region] if isinstance(region, str) else list(region or [])
        self.region = sorted({n.strip() for n in names if isinstance(n, str) and n.strip()}) or None
        self.all_regions = bool(all_regions)
        self.poll_interval = _number(poll_interval, "poll_interval", minimum=1.0)
        self.overlap = _number(overlap, "overlap", minimum=0.0)
        if start_from is not None and start_from != "":
            try:
                self.start_from: int | None = to_epoch_ms(start_from)
            except ValueError as err:
                raise ConfigurationError(
                    f"start_from: {err}", hint="Use an ISO-8601 time, e.g. 2026-11-01T00:00:00Z"
                ) from None
        else:
            self.start_from = None
        self.max_ids_per_event = int(_number(max_ids_per_event, "max_ids_per_event", minimum=1, maximum=10_000))
        if not isinstance(cursor_name, str) or not cursor_name.strip():
            raise ConfigurationError("cursor_name must be a non-empty name")
        self.cursor_name = cursor_name.strip()
        self.pending_max_age = _number(pending_max_age, "pending_max_age", minimum=60.0)
        self.max_pending = int(_number(max_pending, "max_pending", minimum=1))
        self.max_objects_per_poll = int(_number(max_objects_per_poll, "max_objects_per_poll", minimum=100))
        self.matcher = Matcher(types=frozenset(self.object_types), tags=self.tags)
        #: Where the cursor is kept when the triggerer gives no asset state store (tests; Airflow 3.2).
        self.cursor_store: CursorStore | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_MODULE}.{type(self).__name__}",
            {
                "eightbyeight_conn_id": self.eightbyeight_conn_id,
                "object_types": self.object_types,
                "tags": self.tags,
                "region": self.region,
                "all_regions": self.all_regions,
                "poll_interval": self.poll_interval,
                "overlap": self.overlap,
                "start_from": self.start_from,
                "max_ids_per_event": self.max_ids_per_event,
                "cursor_name": self.cursor_name,
                "pending_max_age": self.pending_max_age,
                "max_pending": self.max_pending,
                "max_objects_per_poll": self.max_objects_per_poll,
            },
        )

    # ------------------------------------------------------------------ the cursor

    def _store(self) -> CursorStore:
        if self.cursor_store is None:
            accessors = getattr(self, "asset_state_store", None)
            if accessors is not None:
                self.cursor_store = AssetCursorStore(accessors, CURSOR_KEY_PREFIX + self.cursor_name)
            else:
                self.log.warning(
                    "This Airflow gives triggers no asset state store (it came in 3.3): the watcher keeps its "
                    "cursor in memory, so a restarted triggerer starts again from %s.",
                    "start_from" if self.start_from is not None else "the time it restarts",
                )
                self.cursor_store = MemoryCursorStore()
        return self.cursor_store

    async def _load_cursor(self, store: CursorStore) -> WatchCursor:
        stored = await store.load()
        if stored is not None and stored.filter not in (None, self.matcher.digest()):
            self.log.warning(
                "The stored cursor %r was written by a watcher with another filter (types or tags changed, or two "
                "watchers of this asset share the cursor_name). Continuing from it: objects this filter wants that "
                "were created since %s are emitted if not seen. Give each watcher of one asset its own cursor_name.",
                self.cursor_name,
                iso_from_ms(stored.floor_ms(self._overlap_ms)),
            )
        if stored is not None:
            self.log.info(
                "Resuming from the stored cursor: objects created since %s (watermark minus %g s of overlap), "
                "%d seen and %d pending id(s).",
                iso_from_ms(stored.floor_ms(self._overlap_ms)),
                self.overlap,
                len(stored.seen),
                len(stored.pending),
            )
            return stored
        if self.start_from is not None:
            self.log.info("No stored cursor: emitting the objects created since %s.", iso_from_ms(self.start_from))
            return WatchCursor(watermark_ms=self.start_from + self._overlap_ms)
        now = _now_ms()
        self.log.info(
            "No stored cursor: objects already AVAILABLE now (%s) are not new; those that become AVAILABLE from "
            "now on are.",
            iso_from_ms(now),
        )
        return WatchCursor(watermark_ms=now, baseline=True)

    @property
    def _overlap_ms(self) -> int:
        return int(self.overlap * 1000)

    def _apply(self, cursor: WatchCursor, snapshot: Snapshot) -> tuple[WatchCursor, list[TriggerEvent]]:
        applied = apply(
            cursor,
            snapshot,
            self.matcher,
            overlap_ms=self._overlap_ms,
            pending_max_age_ms=int(self.pending_max_age * 1000),
            max_pending=self.max_pending,
        )
        for object_id, why in applied.dropped[:20]:
            self.log.warning("Object %s is no longer followed: %s.", object_id, why)
        if len(applied.dropped) > 20:
            self.log.warning("%d more objects are no longer followed.", len(applied.dropped) - 20)
        events = [
            TriggerEvent(payload)
            for payload in event_payloads(
                applied.new, max_ids=self.max_ids_per_event, connection=self.eightbyeight_conn_id, matcher=self.matcher
            )
        ]
        if applied.covered:
            self.log.info(
                "Poll %d: %d new object(s) in %d event(s); %d pending.",
                snapshot.poll,
                len(applied.new),
                len(events),
                len(applied.cursor.pending),
            )
        return applied.cursor, events

    # ------------------------------------------------------------------ standalone (Airflow 3.2)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = self._store()
        cursor = await self._load_cursor(store)
        poller = _Poller(self.serialize()[1])
        self.log.info(
            "Polling 8x8 every %g s on its own (this Airflow runs no shared streams); the cursor is stored %g s "
            "after each batch of events.",
            self.poll_interval,
            PERSIST_GRACE,
        )
        try:
            poll = 0
            while True:
                poll += 1
                snapshot = await poller.poll(poll, [_Reader(cursor, self.matcher, self._overlap_ms)])
                if snapshot is not None:
                    cursor, events = self._apply(cursor, snapshot)
                    for event in events:
                        yield event
                    if events:
                        # Airflow persists the events within a second or two; store the cursor after that,
                        # so a crash in between repeats the batch rather than losing it.
                        await asyncio.sleep(PERSIST_GRACE)
                    await store.save(cursor.to_json(self.matcher))
                    if snapshot.upto_ms is not None:
                        continue  # read on at once
                await asyncio.sleep(self.poll_interval)
        finally:
            await poller.aclose()

    # ------------------------------------------------------------------ shared poll, ack mode (Airflow 3.3+)

    def shared_stream_key(self) -> Hashable | None:
        return _stream_key(self.serialize()[1])

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        return _make_producer(kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        store = self._store()
        cursor = await self._load_cursor(store)
        group = _group(_stream_key(self.serialize()[1]))
        reader = _Reader(cursor, self.matcher, self._overlap_ms)
        group.readers.add(reader)
        try:
            async for snapshot in shared_stream:
                cursor, events = self._apply(cursor, snapshot)
                reader.cursor = cursor
                reader.applied = (snapshot.stream, snapshot.poll)
                for event in events:
                    yield event
                # Written by the producer once the events above are persisted (ack mode).
                staged = group.staged.setdefault((snapshot.stream, snapshot.poll), [])
                staged.append((store, cursor.to_json(self.matcher)))
        finally:
            group.readers.discard(reader)


# ---------------------------------------------------------------------- cursor stores


class CursorStore:
    """Where a watcher's cursor lives between polls and triggerer restarts."""

    async def load(self) -> WatchCursor | None:
        raise NotImplementedError

    async def save(self, value: dict[str, Any]) -> None:
        raise NotImplementedError


class MemoryCursorStore(CursorStore):
    """A cursor in memory (lost with the process); tests read ``value``."""

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        self.value = value
        self.saves = 0

    async def load(self) -> WatchCursor | None:
        return None if self.value is None else WatchCursor.from_json(self.value)

    async def save(self, value: dict[str, Any]) -> None:
        self.value = value
        self.saves += 1


class AssetCursorStore(CursorStore):
    """
    The cursor in Airflow's asset state store of the watched asset(s) (Airflow 3.3+), under ``key``.

    A trigger that watches several assets keeps the cursor in each; on load the oldest wins (loses nothing).
    """

    def __init__(self, accessors: Any, key: str) -> None:
        self.accessors = accessors
        self.key = key

    def _each(self) -> list[Any]:
        by_name = getattr(self.accessors, "_by_name", None)
        by_uri = getattr(self.accessors, "_by_uri", None)
        if isinstance(by_name, dict) and isinstance(by_uri, dict):
            return [*by_name.values(), *by_uri.values()]
        return [self.accessors]

    async def load(self) -> WatchCursor | None:
        cursors = []
        for accessor in self._each():
            value = await accessor.aget(self.key, None)
            if value is None:
                continue
            try:
                cursors.append(WatchCursor.from_json(value))
            except ValueError as err:
                raise ConfigurationError(
                    f"The asset state store holds something else under {self.key!r}: {err}",
                    hint="Give this watcher another cursor_name, or clear that key of the asset's state",
                ) from None
        return merge(cursors)

    async def save(self, value: dict[str, Any]) -> None:
        for accessor in self._each():
            await accessor.aset(self.key, value)


# ---------------------------------------------------------------------- polling


@dataclass(eq=False)
class _Reader:
    """One watcher's needs from a poll: its cursor (window and pending ids) and what it matches."""

    cursor: WatchCursor
    matcher: Matcher
    overlap_ms: int
    #: ``(stream, poll)`` of the last snapshot this watcher applied
    applied: tuple[int, int] = (0, 0)


@dataclass
class _Group:
    """Watchers sharing one poll in this triggerer (one per stream key)."""

    readers: set[_Reader] = field(default_factory=set)
    #: cursors to write once a poll's events are persisted: ``(stream, poll) -> [(store, cursor json)]``
    staged: dict[tuple[int, int], list[tuple[CursorStore, dict[str, Any]]]] = field(default_factory=dict)


_GROUPS: dict[Hashable, _Group] = {}
_STREAMS = itertools.count(1)


def _group(key: Hashable) -> _Group:
    return _GROUPS.setdefault(key, _Group())


def shared_polls() -> dict[Hashable, int]:
    """How many watchers share each poll of this triggerer, by stream key."""
    return {key: len(group.readers) for key, group in _GROUPS.items()}


def forget_shared_polls() -> None:
    """Forget every group of watchers in this process (as a triggerer that starts again does)."""
    _GROUPS.clear()


def _stream_key(kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Watchers with equal keys share a poll: same connection, regions and poll settings."""
    return (
        _MODULE,
        kwargs["eightbyeight_conn_id"],
        tuple(kwargs.get("region") or ()),
        bool(kwargs.get("all_regions")),
        float(kwargs["poll_interval"]),
        int(kwargs.get("max_objects_per_poll") or DEFAULT_MAX_OBJECTS_PER_POLL),
    )


class _Poller:
    """Reads snapshots for a set of readers through one hook (runs the HTTP in a worker thread)."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.kwargs = kwargs
        self.hook = EightByEightHook(kwargs["eightbyeight_conn_id"])
        self.failures = 0

    async def poll(self, number: int, readers: Sequence[_Reader], stream: int = 0) -> Snapshot | None:
        """One snapshot for ``readers``; ``None`` when the poll failed (logged; tried again next time)."""
        try:
            snapshot = await asyncio.to_thread(self._read, number, list(readers), stream)
        except STOPPING_ERRORS:
            raise
        except Exception as err:  # an outage, 5xx, 429 after retries, a rotated secret not yet saved...
            self.failures += 1
            self.hook.log.warning(
                "Watching 8x8 for new objects: poll %d failed (%d in a row): %s; trying again in %g s.",
                number,
                self.failures,
                err if isinstance(err, EightByEightError) else f"{type(err).__name__}: {err}",
                self.kwargs["poll_interval"],
            )
            return None
        self.failures = 0
        return snapshot

    def _regions(self) -> dict[str, Any]:
        region = self.kwargs.get("region")
        if region:
            return {"region": list(region), "all_regions": False}
        if self.kwargs.get("all_regions") or not self.hook.settings.region:
            return {"region": None, "all_regions": True}
        return {"region": None, "all_regions": False}

    def _read(self, number: int, readers: list[_Reader], stream: int = 0) -> Snapshot:
        polled_at = _now_ms()
        floor = min(r.cursor.floor_ms(r.overlap_ms) for r in readers)
        overlap = max(r.overlap_ms for r in readers)
        every_type = any(not r.matcher.types for r in readers)
        types = None if every_type else frozenset().union(*(r.matcher.types for r in readers))
        # Tags narrow the search only for a lone watcher; the snapshot says so, and a watcher that wants other
        # tags (one that joined meanwhile) does not take it as covering its window.
        tags = dict(readers[0].matcher.tags) if len(readers) == 1 else {}
        search = ObjectFilter(
            object_types=sorted(types) if types else None, created_after=floor, states=WATCHED_STATES, tags=tags
        )
        limit = int(self.kwargs.get("max_objects_per_poll") or DEFAULT_MAX_OBJECTS_PER_POLL)
        window: list[SeenObject] = []
        upto: int | None = None
        regions = self._regions()
        for name in self.hook.resolve_regions(regions["region"], all_regions=regions["all_regions"]):
            fresh = 0  # objects read beyond the overlap of the oldest watcher: what this poll moves past
            last: int | None = None
            for obj in self.hook.iter_objects(search, region=name):
                if id_problem(obj.id):  # an event naming it could only fail the copy (the hook warned)
                    continue
                seen = _seen(obj, polled_at)
                if fresh >= limit and last is not None and seen.created_ms > last:
                    # Stop between two createdTimes (never inside a tie), after `limit` objects newer than
                    # every watcher's watermark: each watcher's next window starts later (progress).
                    upto = seen.created_ms if upto is None else min(upto, seen.created_ms)
                    break
                window.append(seen)
                last = seen.created_ms
                if seen.created_ms > floor + overlap:
                    fresh += 1
        pending: dict[str | None, list[str]] = {}
        in_window = {o.id for o in window}
        for reader in readers:
            for object_id, (region, _, _) in reader.cursor.pending.items():
                if object_id not in in_window:
                    pending.setdefault(region, []).append(object_id)
        by_id: dict[str, SeenObject] = {}
        gone: set[str] = set()
        for region, ids in pending.items():
            unique = list(dict.fromkeys(ids))
            found = self.hook.get_objects(unique, region=region)
            for object_id in unique:
                current = found.get(object_id)
                if current is None:  # not in the search (it may lag): read it on its own
                    try:
                        by_id[object_id] = _seen(self.hook.get_object(object_id, region=region), polled_at)
                    except NotFoundError:
                        gone.add(object_id)
                    continue
                by_id[object_id] = _seen(current, polled_at)
        return Snapshot(
            poll=number,
            floor_ms=floor,
            upto_ms=upto,
            polled_at_ms=polled_at,
            types=types,
            window=window,
            by_id=by_id,
            gone=frozenset(gone),
            tags=tags,
            stream=stream,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self.hook.close)


def _make_producer(kwargs: dict[str, Any]) -> SharedStreamProducer:
    from airflow_provider_eightbyeight.compat import SharedStreamProducer

    class NewObjectsProducer(SharedStreamProducer):
        """One poll for every watcher of the group; writes each watcher's cursor once its events are persisted."""

        def __init__(self) -> None:
            self.key = _stream_key(kwargs)
            self.poller = _Poller(kwargs)
            self.stream = next(_STREAMS)

        async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
            group = _group(self.key)
            number = 0
            self.poller.hook.log.info(
                "Shared poll of 8x8 every %g s for the watchers of connection %r (ack mode: each watcher's cursor "
                "is stored once Airflow has persisted its events).",
                float(kwargs["poll_interval"]),
                kwargs["eightbyeight_conn_id"],
            )
            while True:
                readers = list(group.readers)
                if not readers:  # the watchers are loading their cursors
                    await asyncio.sleep(0.2)
                    continue
                number += 1
                snapshot = await self.poller.poll(number, readers, self.stream)
                if snapshot is not None:
                    yield snapshot, (self.stream, number)
                    if snapshot.upto_ms is not None:
                        # Read on at once, from the windows the watchers have after applying this snapshot.
                        done = (self.stream, number)
                        deadline = time.monotonic() + 10
                        while time.monotonic() < deadline and any(r.applied < done for r in group.readers):
                            await asyncio.sleep(0.05)
                        continue
                await asyncio.sleep(float(kwargs["poll_interval"]))

        async def advance(self, batch: Sequence[AdvanceItem]) -> None:
            group = _group(self.key)
            for item in batch:
                staged = group.staged.pop(item.broker_payload, [])
                if item.outcome.failed:
                    # Some watcher's events of this poll were not confirmed persisted. A later poll's cursor
                    # includes this one's objects, so none may be stored now: end the stream. Airflow restarts
                    # the watchers, which resume from their stored cursors and emit this poll's objects again.
                    raise EightByEightError(
                        f"{item.outcome.failed} watcher(s) did not get the events of poll {item.broker_payload[1]} "
                        "confirmed as persisted; restarting the watchers from their stored cursors so that nothing "
                        "is lost (their last batch may repeat)"
                    )
                for store, value in staged:
                    await store.save(value)

        async def aclose(self) -> None:
            group = _GROUPS.get(self.key)
            if group is not None:
                for key in [k for k in group.staged if k[0] == self.stream]:
                    del group.staged[key]
            await self.poller.aclose()

    return NewObjectsProducer()


def _seen(obj: StoredObject, polled_at_ms: int) -> SeenObject:
    created = to_epoch_ms(obj.created) if obj.created is not None else polled_at_ms
    return SeenObject(
        id=obj.id, region=obj.region, type=obj.type, state=obj.state, created_ms=created, tags=dict(obj.tags)
    )


def _number(value: Any, name: str, *, minimum: float, maximum: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number >= minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum:g} to {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise ConfigurationError(f"{name} must be a number {bound}, got {value!r}")
    return number


def _now_ms() -> int:
    return int(time.time() * 1000)


__all__ = [
    "AssetCursorStore",
    "CursorStore",
    "EightByEightNewObjectsTrigger",
    "MemoryCursorStore",
]
