"""
Run the 8x8 emulator in its own process (so it does not share the client's GIL).

``python -m benchmarks.emulator_server '<json spec>'`` builds an :class:`EmulatorConfig` from the spec,
starts the emulator on 127.0.0.1, adds the extra objects, computes every object's MD5 up front (8x8
stores checksums; computing them lazily would bill the first listing for it), prints one line
``BENCH-RESULT {"base_url": ..., "token_url": ..., "key": ..., "secret": ..., "pid": ...}`` and serves
until SIGTERM / SIGINT.

Spec keys: ``seed``, ``objects`` (objects in region us-east), ``size_range`` ([min, max] bytes),
``extra_sizes`` (sizes of objects added on top), ``bulk_delay`` (seconds), ``prewarm_md5`` (default true),
``latency`` (seconds added to every API request, as a network round trip would; default 0; the orchestrator
can also change it on the running emulator through ``/_emulator/faults``), ``small_content`` (default
true: objects smaller than one 64 KiB content block generate only the bytes they use, see
:func:`small_content_fast_path`), ``keyset_search`` (default true: createdTime keyset pages answered by a
binary search in the cached order, see :func:`keyset_search_fast_path`).
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import random
import signal
import sys
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig, FaultRule, fiql
from airflow_provider_eightbyeight.testing.content import BLOCK_SIZE, ContentSource
from airflow_provider_eightbyeight.testing.models import filter_time_value
from airflow_provider_eightbyeight.testing.state import Store
from benchmarks.common import REGION, emit

_FIRST_OFFSET = 17  # ContentSource._offset(0): where block 0 starts in the doubled block


def small_content_fast_path() -> None:
    """
    Let small objects generate only the random bytes they use, with the very same content.

    The emulator derives an object's bytes from one 64 KiB pseudo-random block per request (~0.2 ms of CPU),
    also for a 2 KB object, which would make the emulator (on the same two cores) the bottleneck of the
    small-object tables. An object smaller than one block only reads bytes ``[17, 17 + size)`` of block 0,
    and ``random.randbytes(n)`` for ``n`` a multiple of 4 is a prefix of ``randbytes(BLOCK_SIZE)`` (32-bit
    words, little-endian), so generating ``size + 17`` bytes rounded up to 4 gives identical content (checked
    byte for byte for sizes 0..200 and around the block size) at a tenth of the cost.
    """
    stock = ContentSource._doubled_block

    def doubled_block(self: ContentSource) -> bytes:
        need = self.size + _FIRST_OFFSET
        if need > BLOCK_SIZE:
            return stock(self)
        block = random.Random(f"{self.seed}:{self.object_id}").randbytes((need + 3) & ~3)
        return block + block

    ContentSource._doubled_block = doubled_block  # type: ignore[method-assign]


def build(spec: dict[str, Any]) -> EightByEightEmulator:
    """The configured (not yet started) emulator."""
    low, high = spec.get("size_range", (50_000, 1_000_000))
    config = EmulatorConfig(
        seed=int(spec.get("seed", 1234)),
        objects_per_region=int(spec.get("objects", 0)),
        regions=(REGION,),
        size_range=(int(low), int(high)),
        archived_fraction=0.0,
        revoked_fraction=0.0,
        accounts=(Account(regions=(REGION,)),),
        bulk_delay=float(spec.get("bulk_delay", 0.5)),
        token_lifetime=1799,
    )
    return EightByEightEmulator(config, port=int(spec.get("port", 0)))


def _keyset_split(node: fiql.Node | None) -> tuple[fiql.Node | None, Decimal | None]:
    """``(base, bound)`` for ``base AND createdTime=ge=bound`` (or the bound alone); else ``(node, None)``."""
    parts = node.children if isinstance(node, fiql.And) else (node,) if isinstance(node, fiql.Comparison) else ()
    bounds = [
        c
        for c in parts
        if isinstance(c, fiql.Comparison)
        and c.selector == "createdTime"
        and c.operator == "=ge="
        and len(c.values) == 1
    ]
    if len(bounds) != 1:
        return node, None
    try:
        bound = Decimal(filter_time_value("createdTime", bounds[0].values[0]))
    except InvalidOperation:
        return node, None
    rest = tuple(c for c in parts if c is not bounds[0])
    base = None if not rest else rest[0] if len(rest) == 1 else fiql.And(rest)
    return base, bound


def _canonical(node: fiql.Node | None) -> str:
    """The same text for filters that differ only in the order of AND / OR parts or of =in= / =out= values."""
    if node is None:
        return "-"
    if isinstance(node, fiql.Comparison):
        values = sorted(node.values) if node.operator in ("=in=", "=out=") else list(node.values)
        return f"{node.selector}{node.operator}{values!r}"
    parts = sorted(_canonical(child) for child in node.children)
    return ("AND(" if isinstance(node, fiql.And) else "OR(") + ",".join(parts) + ")"


def keyset_search_fast_path() -> None:
    """
    Answer keyset searches (``<filter>;createdTime=ge=<ms>``, sorted by createdTime ascending) from the
    cached order of ``<filter>`` with a binary search, instead of evaluating the filter over every object.
    Every search sorted by createdTime ascending goes this way (a first page is the bound-less case), so
    the first page and the keyset pages share one cached order, which :func:`warm_searches` computes before
    the emulator announces itself.

    The hook pages a search by createdTime keyset: every page is a new filter, so the emulator's query cache
    never hits and each page costs O(objects) of FIQL evaluation and a sort (~40 s of emulator CPU to list
    20,000 objects, hours for 300,000). The answer is the same: the matches of ``<filter>`` are ordered by
    (createdTime, id), so those with createdTime >= bound are a suffix of that order, starting at a run of
    equal times (ties are still shuffled per query when ``unstable_ties`` is on). Other searches are unchanged.
    """
    stock = Store.search_objects
    created_of: dict[int, tuple[list[str], list[int]]] = {}

    def search_objects(
        self: Store,
        region: str,
        filter_text: str | None,
        node: fiql.Node | None,
        sort_field: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[Any], int]:
        if sort_field != "createdTime" or descending:
            return stock(self, region, filter_text, node, sort_field, descending, offset, limit)
        base, bound = _keyset_split(node)
        base_text = "\0keyset-base " + _canonical(base)
        with self.lock:
            stock(self, region, base_text, base, sort_field, descending, 0, 0)  # the base order, cached
            _, ids, starts = self._query_cache[(region, base_text, sort_field, descending)]
            table = self.objects[region]
            known = created_of.get(id(ids))
            if known is None or known[0] is not ids:
                if len(created_of) > 8:
                    created_of.clear()
                known = (ids, [table[i].created_ms for i in ids])
                created_of[id(ids)] = known
            start = 0 if bound is None else bisect.bisect_left(known[1], bound)
            total = len(ids) - start
            if total <= offset or limit <= 0:
                return [], total
            if self.config.unstable_ties:
                window = self._shuffled_ties(ids, starts, start + offset, limit)
            else:
                window = ids[start + offset : start + offset + limit]
            return [copy.copy(table[i]) for i in window], total

    Store.search_objects = search_objects  # type: ignore[method-assign]


#: Filters whose order is computed at start-up: a plain listing and the transfer operator's default search
#: (``states`` not given: every state that may still become copyable, sent as an OR of ``==``; the ``=in=``
#: form too). A filter not listed here pays its O(objects) first evaluation in its first request.
WARM_FILTERS = (
    None,
    "objectState==AVAILABLE,objectState==ARCHIVED,objectState==PENDING,objectState==FAILED",
    "objectState=in=(AVAILABLE,ARCHIVED,PENDING,FAILED)",
)


def warm_searches(emu: EightByEightEmulator) -> None:
    """
    Compute the order of the usual searches before the clock of any measurement starts: the emulator's
    first evaluation of a filter costs O(objects) (about 1 s per 100,000), an indexed service's would not.
    """
    for text in WARM_FILTERS:
        node = fiql.parse(text) if text else None
        emu.store.search_objects(REGION, text, node, "createdTime", False, 0, 0)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0]) if argv else {}
    started = time.monotonic()
    if spec.get("small_content", True):
        small_content_fast_path()
    if spec.get("keyset_search", True):
        keyset_search_fast_path()
    emu = build(spec).start()
    for size in spec.get("extra_sizes", []):
        emu.add_object(REGION, size=int(size), type="screenrecording")
    if float(spec.get("latency", 0)) > 0:
        emu.add_fault(FaultRule(kind="latency", route="*", delay=float(spec["latency"])))
    if spec.get("keyset_search", True):
        warm_searches(emu)
    if spec.get("prewarm_md5", True):
        for record in emu.store.all_objects(REGION):
            record.content.md5()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emit(
        {
            "base_url": emu.base_url,
            "token_url": emu.token_url,
            "key": emu.key,
            "secret": emu.secret,
            "pid": os.getpid(),
            "connection_uri": emu.connection_uri(discovery_region=REGION),
            "startup_seconds": round(time.monotonic() - started, 2),
        }
    )
    while not stop.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
