"""In-memory state of the 8x8 CSS emulator: objects per region, buckets, tokens, bulk jobs,
restores, presigned URLs, the emulated clock and request statistics.

All state is guarded by one re-entrant lock. Methods hand out *copies* of records so callers can
render (which may compute a lazy MD5) and stream without holding the lock.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import hmac
import math
import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from airflow_provider_eightbyeight.testing import fiql
from airflow_provider_eightbyeight.testing.config import OBJECT_STATES, Account, EmulatorConfig
from airflow_provider_eightbyeight.testing.content import ContentSource
from airflow_provider_eightbyeight.testing.models import (
    BUCKET_ALIASES,
    BUCKET_FIELDS,
    OBJECT_ALIASES,
    OBJECT_FIELDS,
    BucketRecord,
    BucketView,
    ObjectRecord,
    RestoreInfo,
    filter_time_value,
    iso,
    to_ms,
)
from airflow_provider_eightbyeight.testing.seed import ObjectFactory, unique_name

TERMINAL_BULK = frozenset({"DONE", "PARTIAL_DONE", "FAILED", "CANCELLED"})
DOWNLOADABLE_BULK = frozenset({"DONE", "PARTIAL_DONE"})


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Clock:
    """Wall clock plus an adjustable offset (``advance``)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Emulated epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the emulated clock forward (or back, for negative values); returns the new now."""
        with self._lock:
            self._offset += float(seconds)
            return time.time() + self._offset


@dataclass
class TokenInfo:
    """An issued access token."""

    token: str
    account: Account
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class BulkEntry:
    """One object inside a bulk zip (snapshotted when the job starts)."""

    object_id: str
    name: str
    created_ms: int
    content: ContentSource


@dataclass
class BulkJob:
    """One bulk download job (contract section 9)."""

    zip_name: str
    account_key: str
    region: str
    started_at: float
    delay: float
    entries: list[BulkEntry]
    final_content: list[str]
    final_status: str
    cancelled: bool = False

    def status(self, now: float) -> str:
        """Status at emulated time ``now``: NOT_STARTED -> IN_PROGRESS -> final."""
        if self.cancelled:
            return "CANCELLED"
        elapsed = now - self.started_at
        if self.delay <= 0 or elapsed >= self.delay:
            return self.final_status
        if elapsed < self.delay / 3:
            return "NOT_STARTED"
        return "IN_PROGRESS"

    def to_dict(self, now: float) -> dict[str, Any]:
        """Status object wire form."""
        status = self.status(now)
        content = list(self.final_content) if status in TERMINAL_BULK and not self.cancelled else []
        return {"zipName": self.zip_name, "status": status, "content": content}


@dataclass
class Presign:
    """A presigned URL (object content or bulk zip)."""

    opaque: str
    signature: str
    kind: str
    region: str
    ref: str
    account_key: str
    expires_at: float


class Stats:
    """Request counters (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._total = 0
            self._tokens = 0
            self._routes: dict[str, int] = {}
            self._faults: dict[str, int] = {}
            self._statuses: dict[str, int] = {}
            self._content_bytes = 0
            self._in_flight = 0
            self._in_flight_max = 0
            self._objects: dict[str, dict[str, int]] = {}

    def request(self, route: str) -> None:
        """Count one routed request (admin requests only count under ``requests['admin']``)."""
        with self._lock:
            self._routes[route] = self._routes.get(route, 0) + 1
            if route != "admin":
                self._total += 1
            if route == "token":
                self._tokens += 1

    def status(self, route: str, status: int) -> None:
        """Count one answered status (admin answers are not counted)."""
        if route == "admin":
            return
        with self._lock:
            key = str(status)
            self._statuses[key] = self._statuses.get(key, 0) + 1

    def fault(self, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def objects(self, route: str, object_ids: Iterable[str]) -> None:
        """Count one request about each of ``object_ids`` (see ``EmulatorConfig.record_object_requests``)."""
        with self._lock:
            for object_id in object_ids:
                routes = self._objects.setdefault(object_id, {})
                routes[route] = routes.get(route, 0) + 1

    def object_requests(self) -> dict[str, dict[str, int]]:
        """Requests per object id and route, as counted by :meth:`objects`."""
        with self._lock:
            return {object_id: dict(routes) for object_id, routes in self._objects.items()}

    def content_bytes(self, n: int) -> None:
        """Count body bytes of object/zip downloads."""
        with self._lock:
            self._content_bytes += n

    def enter(self) -> None:
        """A request started being handled."""
        with self._lock:
            self._in_flight += 1
            self._in_flight_max = max(self._in_flight_max, self._in_flight)

    def leave(self) -> None:
        """A request finished."""
        with self._lock:
            self._in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """The stats dict returned by ``EightByEightEmulator.stats()``."""
        with self._lock:
            return {
                "total_requests": self._total,
                "token_requests": self._tokens,
                "requests": dict(self._routes),
                "faults_injected": dict(self._faults),
                "status_counts": dict(self._statuses),
                "content_bytes_sent": self._content_bytes,
                "max_concurrent_requests": self._in_flight_max,
            }


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (0, float(value), "")
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    if math.isfinite(number) and fiql.NUMBER_RE.fullmatch(text):
        return (0, number, "")
    return (1, 0.0, text)


def _tie(a: Any, b: Any, field_name: str) -> bool:
    """Whether two items have equal sort values for ``field_name``."""
    left, right = a.sort_value(field_name), b.sort_value(field_name)
    if left is None or right is None:
        return left is None and right is None
    return _sort_key(left) == _sort_key(right)


def sort_items(items: Sequence[Any], field_name: str, descending: bool, ident: Callable[[Any], str]) -> list[Any]:
    """Stable sort by a field or tag (numbers numerically), ties broken by id; missing last."""
    present: list[tuple[tuple[int, float, str], str, Any]] = []
    missing: list[Any] = []
    for item in items:
        value = item.sort_value(field_name)
        if value is None:
            missing.append(item)
        else:
            present.append((_sort_key(value), ident(item), item))
    present.sort(key=lambda t: (t[0], t[1]), reverse=descending)
    missing.sort(key=ident)
    return [t[2] for t in present] + missing


class Store:
    """The emulator's data and rules, independent of HTTP."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.clock = Clock()
        self.stats = Stats()
        self._signing_key = secrets.token_bytes(32)
        self.factory = ObjectFactory(config.seed, config.size_range)
        self.accounts: dict[str, Account] = {a.key: a for a in config.accounts}
        self.objects: dict[str, dict[str, ObjectRecord]] = {}
        self.buckets: dict[str, dict[str, BucketRecord]] = {}
        self.names: dict[str, set[str]] = {}
        self.id_region: dict[str, str] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.jobs: dict[str, OrderedDict[str, BulkJob]] = {}
        self.presigns: dict[str, Presign] = {}
        self._restoring: set[str] = set()
        self._generation = 0
        self._query_cache: OrderedDict[tuple[Any, ...], tuple[int, list[str], list[int]]] = OrderedDict()
        self._tie_queries = 0
        self._added = 0
        self._bulk_rng = random.Random(f"{config.seed}:bulk")
        created = (to_ms(config.created_start), to_ms(config.created_end))
        for region in config.regions:
            objects, buckets = self.factory.seed_region(
                region,
                config.objects_per_region,
                created,
                config.archived_fraction,
                config.revoked_fraction,
                config.multipart_checksum_fraction,
            )
            self.objects[region] = {o.id: o for o in objects}
            self.buckets[region] = {b.bucket_id: b for b in buckets}
            self.names[region] = {o.object_name for o in objects}
            for obj in objects:
                self.id_region[obj.id] = region

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        """Emulated epoch seconds."""
        return self.clock.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock; applies due restore transitions."""
        now = self.clock.advance(seconds)
        with self.lock:
            self._apply_time(now)
        return now

    def _touch(self) -> None:
        self._generation += 1

    def _apply_time(self, now: float) -> None:
        for object_id in list(self._restoring):
            region = self.id_region.get(object_id)
            record = self.objects[region].get(object_id) if region else None
            info = record.restore if record else None
            if record is None or info is None:
                self._restoring.discard(object_id)
                continue
            if now >= info.expires_at:
                record.state = "ARCHIVED"
                _bump(record, info.expires_at)
                record.restore = None
                self._restoring.discard(object_id)
                self._touch()
            elif now >= info.available_at and record.state != "AVAILABLE":
                record.state = "AVAILABLE"
                _bump(record, info.available_at)
                self._touch()

    def sync(self) -> float:
        """Apply time-driven transitions; returns the emulated now."""
        now = self.now()
        with self.lock:
            self._apply_time(now)
        return now

    # -- tokens --------------------------------------------------------------------------------
    def authenticate(self, key: str, secret: str) -> Account | None:
        """The account for ``key``/``secret`` or ``None``."""
        account = self.accounts.get(key)
        if account is None or not hmac.compare_digest(account.secret.encode(), secret.encode()):
            return None
        return account

    def issue_token(self, account: Account) -> TokenInfo:
        """A new random token valid for ``token_lifetime`` emulated seconds."""
        now = self.now()
        info = TokenInfo(
            token=secrets.token_urlsafe(24),
            account=account,
            issued_at=now,
            expires_at=now + self.config.token_lifetime,
        )
        with self.lock:
            self.tokens[info.token] = info
            if len(self.tokens) > 10000:
                for token, other in list(self.tokens.items()):
                    if other.expires_at <= now:
                        del self.tokens[token]
        return info

    def token_info(self, token: str) -> TokenInfo | None:
        """A valid (known, unexpired) token's info, else ``None``."""
        with self.lock:
            info = self.tokens.get(token)
        if info is None or info.expires_at <= self.now():
            return None
        return info

    def revoke_tokens(self) -> int:
        """Forget every token (next CSS calls answer 401); returns how many were dropped."""
        with self.lock:
            n = len(self.tokens)
            self.tokens.clear()
            return n

    # -- objects -------------------------------------------------------------------------------
    def _record(self, object_id: str, region: str | None = None) -> ObjectRecord:
        found = self.id_region.get(object_id)
        if found is None or (region is not None and found != region):
            where = f" in region '{region}'" if region else ""
            raise StoreError(404, f"Object '{object_id}' not found{where}")
        return self.objects[found][object_id]

    def get_object(self, object_id: str, region: str | None = None) -> ObjectRecord:
        """A copy of one object (any state); 404 if unknown or held in another region."""
        with self.lock:
            self._apply_time(self.now())
            return copy.copy(self._record(object_id, region))

    def all_objects(self, region: str | None, states: Sequence[str] | None = None) -> list[ObjectRecord]:
        """Copies of all objects of ``region`` (or all regions), newest first."""
        with self.lock:
            self._apply_time(self.now())
            regions = [region] if region is not None else list(self.objects)
            items: list[ObjectRecord] = []
            for name in regions:
                if name not in self.objects:
                    raise StoreError(404, f"Unknown region '{name}'")
                items.extend(copy.copy(o) for o in self.objects[name].values())
        if states is not None:
            items = [o for o in items if o.state in states]
        return sort_items(items, "createdTime", True, lambda o: o.id)

    def known_object_selectors(self, region: str) -> set[str]:
        """Selectors accepted in strict mode: fields, aliases and tag keys seen in ``region``."""
        with self.lock:
            keys = {k for o in self.objects.get(region, {}).values() for k, _ in o.tags}
        return keys | set(OBJECT_FIELDS) | set(OBJECT_ALIASES)

    def known_bucket_selectors(self, region: str) -> set[str]:
        """Selectors accepted in strict mode for bucket filters."""
        with self.lock:
            keys = {k for b in self.buckets.get(region, {}).values() for k, _ in b.tags}
        return keys | set(BUCKET_FIELDS) | set(BUCKET_ALIASES)

    def search_objects(
        self,
        region: str,
        filter_text: str | None,
        node: fiql.Node | None,
        sort_field: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[ObjectRecord], int]:
        """One page of matching objects (copies) and the total number of matches."""
        with self.lock:
            self._apply_time(self.now())
            key = (region, filter_text, sort_field, descending)
            cached = self._query_cache.get(key)
            if cached is not None and cached[0] == self._generation:
                ids = cached[1]
                starts = cached[2]
                self._query_cache.move_to_end(key)
            else:
                only_available = node is None or "objectState" not in fiql.selectors(node)
                matches = []
                for record in self.objects[region].values():
                    if only_available and record.state != "AVAILABLE":
                        continue
                    if node is not None and not fiql.evaluate(node, record.values, filter_time_value):
                        continue
                    matches.append(record)
                ordered = sort_items(matches, sort_field, descending, lambda o: o.id)
                ids = [o.id for o in ordered]
                starts = [i for i, o in enumerate(ordered) if i == 0 or not _tie(ordered[i - 1], o, sort_field)]
                self._query_cache[key] = (self._generation, ids, starts)
                while len(self._query_cache) > 64:
                    self._query_cache.popitem(last=False)
            table = self.objects[region]
            window = ids[offset : offset + limit]
            if self.config.unstable_ties and window:
                window = self._shuffled_ties(ids, starts, offset, limit)
            page = [copy.copy(table[i]) for i in window]
            return page, len(ids)

    def _shuffled_ties(self, ids: list[str], starts: list[int], offset: int, limit: int) -> list[str]:
        """The page window with every run of equal sort values in a fresh order (differs per query)."""
        self._tie_queries += 1
        rng = random.Random(f"{self.config.seed}:{self._tie_queries}")
        first = max(bisect.bisect_right(starts, offset) - 1, 0)
        out: list[str] = []
        position = starts[first]
        index = first
        while position < offset + limit and index < len(starts):
            end = starts[index + 1] if index + 1 < len(starts) else len(ids)
            group = ids[position:end]
            if len(group) > 1:
                rng.shuffle(group)
            out.extend(group)
            position, index = end, index + 1
        skip = offset - starts[first]
        return out[skip : skip + limit]

    def add_object(
        self,
        region: str,
        *,
        obj_type: str = "callrecording",
        size: int | None = None,
        created: datetime | str | float | None = None,
        state: str = "AVAILABLE",
        tags: dict[str, str] | Iterable[Any] | None = None,
        object_name: str | None = None,
        mime_type: str | None = None,
        bucket_id: str | None = None,
        checksum: str | None = None,
        object_id: str | None = None,
        wire_patch: dict[str, Any] | None = None,
        wire_drop: Sequence[str] = (),
        wire_item: tuple[Any] | None = None,
    ) -> ObjectRecord:
        """
        Create one object (deterministic ids per emulator seed and call order).

        :param object_id: Optional. Its id, exactly (any non-empty string not yet used), instead of a UUID.
        :param wire_patch: Optional. Fields (any JSON) set over its wire form in search and get answers.
        :param wire_drop: Fields left out of its wire form.
        :param wire_item: Optional. ``(item,)``: any JSON served instead of its wire form.
        """
        if region not in self.objects:
            raise StoreError(400, f"Unknown region '{region}'; known: {list(self.objects)}")
        if object_id is not None and (not isinstance(object_id, str) or not object_id):
            raise StoreError(400, f"id must be a non-empty string, got {object_id!r}")
        if wire_patch is not None and not isinstance(wire_patch, dict):
            raise StoreError(400, f"wire must be an object of fields, got {type(wire_patch).__name__}")
        if isinstance(wire_drop, str) or not all(isinstance(n, str) for n in wire_drop):
            raise StoreError(400, "wire_drop must be a list of field names")
        state = state.upper()
        if state not in OBJECT_STATES:
            raise StoreError(400, f"Unknown object state '{state}'; expected one of {list(OBJECT_STATES)}")
        if size is not None and (isinstance(size, bool) or int(size) < 0):
            raise StoreError(400, f"size must be a non-negative integer, got {size!r}")
        try:
            created_ms = to_ms(created) if created is not None else int(self.now() * 1000)
        except ValueError as exc:
            raise StoreError(400, str(exc)) from exc
        tag_tuple = _normalise_tags(tags) if tags is not None else None
        with self.lock:
            if object_id is not None and object_id in self.id_region:
                raise StoreError(400, f"An object with id {object_id!r} exists already")
            self._added += 1
            rng = random.Random(f"{self.config.seed}:added:{self._added}")
            bucket = None
            if bucket_id is not None:
                bucket = self.buckets[region].get(bucket_id)
                if bucket is None:
                    bucket = BucketRecord(
                        bucket_id, region, self.factory.customer_id, self.factory.agents[0].user_id, ()
                    )
                    self.buckets[region][bucket_id] = bucket
            record, new_bucket = self.factory.build(
                rng,
                region,
                obj_type,
                created_ms=created_ms,
                state=state,
                size=None if size is None else int(size),
                bucket=bucket,
                tags=tag_tuple,
                object_name=object_name,
                mime_type=mime_type,
                checksum_override=checksum,
            )
            if object_name is None:
                record.object_name = unique_name(record.object_name, self.names[region])
            else:
                self.names[region].add(object_name)
            if object_id is not None:
                record.id = object_id
            record.wire_patch = dict(wire_patch) if wire_patch is not None else None
            record.wire_drop = tuple(wire_drop)
            record.wire_item = wire_item
            if new_bucket is not None:
                self.buckets[region][new_bucket.bucket_id] = new_bucket
                bucket = new_bucket
            assert bucket is not None
            bucket.object_ids.append(record.id)
            self.objects[region][record.id] = record
            self.id_region[record.id] = region
            self._touch()
            result = copy.copy(record)
        return result

    def set_wire(
        self,
        object_id: str,
        wire_patch: dict[str, Any] | None = None,
        wire_drop: Sequence[str] = (),
        wire_item: tuple[Any] | None = None,
    ) -> ObjectRecord:
        """Change how search and get send an existing object (see :meth:`add_object`); no arguments: its true form."""
        if wire_patch is not None and not isinstance(wire_patch, dict):
            raise StoreError(400, f"wire must be an object of fields, got {type(wire_patch).__name__}")
        with self.lock:
            record = self._record(object_id)
            record.wire_patch = dict(wire_patch) if wire_patch is not None else None
            record.wire_drop = tuple(wire_drop)
            record.wire_item = wire_item
            self._touch()
            return copy.copy(record)

    def set_state(self, object_id: str, state: str) -> ObjectRecord:
        """Force an object's state (cancels a pending restore); bumps updatedTime."""
        state = state.upper()
        if state not in OBJECT_STATES:
            raise StoreError(400, f"Unknown object state '{state}'; expected one of {list(OBJECT_STATES)}")
        with self.lock:
            record = self._record(object_id)
            record.state = state
            record.restore = None
            self._restoring.discard(object_id)
            _bump(record, self.now())
            self._touch()
            return copy.copy(record)

    def restore(self, region: str, object_id: str, days: int) -> int:
        """Request a restore; returns the expirationDays in effect."""
        now = self.now()
        with self.lock:
            self._apply_time(now)
            record = self._record(object_id, region)
            if record.restore is not None:
                return record.restore.expiration_days
            if record.state == "AVAILABLE":
                return days
            if record.state != "ARCHIVED":
                raise StoreError(400, f"Object '{object_id}' is {record.state}; only ARCHIVED objects can be restored")
            available_at = now + max(0.0, self.config.restore_delay)
            record.restore = RestoreInfo(days, now, available_at, available_at + days * 86400)
            self._restoring.add(object_id)
            pending = self.config.restore_pending_state
            if record.state != pending:
                record.state = pending
                _bump(record, now)
            self._touch()
            self._apply_time(now)
            return days

    def delete(self, region: str, object_ids: Sequence[str], strict: bool) -> list[str]:
        """Mark objects REVOKED; returns the ids changed. Unknown ids: ignored or 404 (strict)."""
        now_ms = int(self.now() * 1000)
        changed: list[str] = []
        with self.lock:
            unknown = [i for i in object_ids if self.id_region.get(i) != region]
            for object_id in object_ids:
                if self.id_region.get(object_id) != region:
                    continue
                record = self.objects[region][object_id]
                if record.state in ("REVOKED", "DELETED"):
                    continue
                record.state = "REVOKED"
                record.restore = None
                self._restoring.discard(object_id)
                _bump(record, now_ms / 1000)
                changed.append(object_id)
            if changed:
                self._touch()
        if unknown and strict:  # the known ids are deleted all the same: the hardest reading for a client
            raise StoreError(404, f"Objects not found in region '{region}': {unknown}")
        return changed

    # -- buckets -------------------------------------------------------------------------------
    def _bucket_view(self, bucket: BucketRecord) -> BucketView:
        table = self.objects[bucket.region]
        return BucketView(bucket, [copy.copy(table[i]) for i in bucket.object_ids if i in table])

    def get_bucket(self, region: str, bucket_id: str) -> BucketView:
        """One bucket with copies of its objects (all states)."""
        with self.lock:
            self._apply_time(self.now())
            bucket = self.buckets[region].get(bucket_id)
            if bucket is None:
                raise StoreError(404, f"Bucket '{bucket_id}' not found in region '{region}'")
            return self._bucket_view(bucket)

    def search_buckets(
        self, region: str, node: fiql.Node | None, sort_field: str, descending: bool, offset: int, limit: int
    ) -> tuple[list[BucketView], int]:
        """One page of matching buckets and the total number of matches."""
        with self.lock:
            self._apply_time(self.now())
            views = [self._bucket_view(b) for b in self.buckets[region].values()]
        if node is not None:
            views = [v for v in views if fiql.evaluate(node, v.values, filter_time_value)]
        ordered = sort_items(views, sort_field, descending, lambda v: v.id)
        return ordered[offset : offset + limit], len(ordered)

    # -- bulk ----------------------------------------------------------------------------------
    def start_bulk(self, account: Account, region: str, object_ids: Sequence[str]) -> BulkJob:
        """Create a bulk job (unknown / non-AVAILABLE ids are left out: PARTIAL_DONE)."""
        now = self.now()
        with self.lock:
            self._apply_time(now)
            entries: list[BulkEntry] = []
            content: list[str] = []
            seen: set[str] = set()
            for object_id in object_ids:
                if object_id in seen:
                    continue
                seen.add(object_id)
                record = self.objects[region].get(object_id)
                if record is None:
                    content.append(f"{object_id}:NOT_FOUND")
                elif record.state != "AVAILABLE":
                    content.append(f"{object_id}:{record.state}")
                else:
                    entries.append(BulkEntry(record.id, record.object_name, record.created_ms, record.content))
                    content.append(f"{object_id}:DONE")
            total = sum(e.content.size for e in entries)
            limit = self.config.bulk_limit_bytes
            if total > limit:
                raise StoreError(
                    400,
                    f"Bulk download too large: the requested objects total {total} bytes, over the 2 GB "
                    f"per-job limit (this emulator's limit: {limit} bytes). Split the request.",
                )
            if not entries:
                final = "FAILED"
            elif len(entries) < len(seen):
                final = "PARTIAL_DONE"
            else:
                final = "DONE"
            zip_name = f"{uuid.UUID(int=self._bulk_rng.getrandbits(128), version=4)}.zip"
            job = BulkJob(zip_name, account.key, region, now, self.config.bulk_delay, entries, content, final)
            self.jobs.setdefault(account.key, OrderedDict())[zip_name] = job
            return job

    def _job(self, account: Account, region: str, zip_name: str) -> BulkJob:
        job = self.jobs.get(account.key, OrderedDict()).get(zip_name)
        if job is None or job.region != region:
            raise StoreError(404, f"Bulk download '{zip_name}' not found")
        return job

    def force_bulk_outcome(self, account_key: str, zip_name: str, outcome: str, drop: Sequence[str] = ()) -> None:
        """Make a job end ``outcome`` (a ``bulk_outcome`` fault); PARTIAL_DONE leaves entries out."""
        with self.lock:
            job = self.jobs.get(account_key, OrderedDict()).get(zip_name)
            if job is None:
                return
            if outcome == "PARTIAL_DONE":
                gone = set(drop) or {e.object_id for e in job.entries[-1:]}
                job.entries = [e for e in job.entries if e.object_id not in gone]
                job.final_content = [
                    f"{c.split(':', 1)[0]}:FAILED" if c.split(":", 1)[0] in gone else c for c in job.final_content
                ]
            job.final_status = outcome

    def bulk_status(self, account: Account, region: str, zip_name: str) -> dict[str, Any]:
        """One job's status object."""
        with self.lock:
            return self._job(account, region, zip_name).to_dict(self.now())

    def bulk_job(self, account: Account, region: str, zip_name: str) -> tuple[BulkJob, str]:
        """The job and its current status."""
        with self.lock:
            job = self._job(account, region, zip_name)
            return job, job.status(self.now())

    def bulk_statuses(self, account: Account, region: str) -> list[dict[str, Any]]:
        """All of the account's jobs in ``region``, oldest first."""
        now = self.now()
        with self.lock:
            jobs = self.jobs.get(account.key, OrderedDict()).values()
            return [j.to_dict(now) for j in jobs if j.region == region]

    def bulk_cancel(self, account: Account, region: str, zip_name: str) -> list[dict[str, Any]]:
        """Cancel a job that has not finished; returns ``[status]``."""
        now = self.now()
        with self.lock:
            job = self._job(account, region, zip_name)
            if job.status(now) not in TERMINAL_BULK:
                job.cancelled = True
            return [job.to_dict(now)]

    def bulk_clear(self, account: Account, region: str) -> list[dict[str, Any]]:
        """Drop all of the account's jobs in ``region``; returns their last statuses."""
        now = self.now()
        with self.lock:
            jobs = self.jobs.get(account.key, OrderedDict())
            cleared = [j for j in jobs.values() if j.region == region]
            for job in cleared:
                del jobs[job.zip_name]
            return [j.to_dict(now) for j in cleared]

    def bulk_object_ids(self, account: Account | None, region: str, zip_name: str) -> list[str]:
        """Ids of a job's entries (for fault matching); empty if unknown."""
        with self.lock:
            for key, jobs in self.jobs.items():
                if account is not None and key != account.key:
                    continue
                job = jobs.get(zip_name)
                if job is not None and job.region == region:
                    return [e.object_id for e in job.entries]
        return []

    # -- presigned URLs ------------------------------------------------------------------------
    def presign(self, kind: str, region: str, ref: str, account_key: str) -> Presign:
        """Register a presigned URL valid for ``presign_ttl`` emulated seconds."""
        opaque = secrets.token_urlsafe(18)
        signature = hmac.new(self._signing_key, opaque.encode(), hashlib.sha256).hexdigest()
        item = Presign(opaque, signature, kind, region, ref, account_key, self.now() + self.config.presign_ttl)
        with self.lock:
            self.presigns[opaque] = item
            if len(self.presigns) > 10000:
                now = self.now()
                for key, other in list(self.presigns.items()):
                    if other.expires_at <= now:
                        del self.presigns[key]
        return item

    def presigned(self, opaque: str) -> Presign | None:
        """A registered presigned URL (expired ones too; the caller checks ``expires_at``)."""
        with self.lock:
            return self.presigns.get(opaque)

    def bulk_job_any(self, account_key: str, region: str, zip_name: str) -> tuple[BulkJob, str] | None:
        """A job by account key (for presigned zip URLs)."""
        with self.lock:
            job = self.jobs.get(account_key, OrderedDict()).get(zip_name)
            if job is None or job.region != region:
                return None
            return job, job.status(self.now())

    def now_iso(self) -> str:
        """Emulated now in CSS wire form."""
        return iso(int(self.now() * 1000))


def _bump(record: ObjectRecord, at: float) -> None:
    """Move updatedTime to ``at`` (epoch s), always strictly forward."""
    record.updated_ms = max(record.updated_ms + 1000, int(at * 1000))


def _normalise_tags(tags: dict[str, str] | Iterable[Any]) -> tuple[tuple[str, str], ...]:
    if isinstance(tags, dict):
        return tuple((str(k), str(v)) for k, v in tags.items())
    out: list[tuple[str, str]] = []
    for item in tags:
        if isinstance(item, dict):
            if "key" not in item or "value" not in item:
                raise StoreError(400, f"tag entries need 'key' and 'value': {item!r}")
            out.append((str(item["key"]), str(item["value"])))
        else:
            key, value = cast("tuple[Any, Any]", tuple(item))
            out.append((str(key), str(value)))
    return tuple(out)


__all__ = ["BulkEntry", "BulkJob", "Clock", "Presign", "Stats", "Store", "StoreError", "TokenInfo"]
