"""
EightByEightNewObjectsTrigger under adversity (from an adversarial review of its guarantee: every new object
emitted, none repeated): dense truncated polls, watchers with other tags or a late start sharing one poll,
events Airflow never confirmed persisted, ties at the truncation point across regions. Each of the first
four once lost objects.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from airflow_provider_eightbyeight.testing.config import Account
from airflow_provider_eightbyeight.triggers import new_objects
from airflow_provider_eightbyeight.triggers.new_objects import (
    CURSOR_KEY_PREFIX,
    MemoryCursorStore,
)
from airflow_provider_eightbyeight.watch import WatchCursor
from tests.helpers import needs
from tests.watching import (
    Collector,
    FakeAccessor,
    Subscriber,
    iso,
    make,
    searches,
    shared_stream_manager,
    until,
    watcher,
)

pytestmark = needs("event-driven scheduling")

KEY = CURSOR_KEY_PREFIX + "default"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=61, objects_per_region=5, regions=("us-east",))


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(new_objects, "PERSIST_GRACE", 0.2)
    new_objects.forget_shared_polls()


# ---------------------------------------------------------------------------------------------------------------
# 1. A truncated poll whose first `max_objects_per_poll` objects all lie inside the overlap makes no progress.


@pytest.mark.asyncio
async def test_truncation_inside_the_overlap_stalls_the_watermark_and_loses_new_objects(make_hook, emulator):
    make_hook()
    now = datetime.now(timezone.utc)
    with emulator.store.lock:  # 100 recordings in the last 5 minutes (a busy call centre; overlap is 10 min)
        for i in range(100):
            emulator.add_object("us-east", created=iso(now - timedelta(seconds=300 - i)))
    store = MemoryCursorStore()
    run = Collector(make(store, overlap=600, max_objects_per_poll=100))
    await until(lambda: store.value, what="the baseline poll")
    await asyncio.sleep(1.2)  # the next recording is created after the watcher started
    fresh = emulator.add_object("us-east")["id"]
    emulator.reset_stats()
    try:
        await until(lambda: fresh in run.ids(), timeout=8, what="the recording created after the start")
    finally:
        polled = searches(emulator)
        await run.stop()
    assert polled < 40, f"{polled} searches in 8 s with poll_interval=1"


# ---------------------------------------------------------------------------------------------------------------
# 2. A shared poll with one reader filters by that reader's tags on the server; another subscriber applies it.


def _cursor_json(watermark: datetime) -> dict:
    return WatchCursor(watermark_ms=int(watermark.timestamp() * 1000)).to_json()


@pytest.mark.asyncio
@pytest.mark.parametrize("load_delay", [0.0, 1.5], ids=["control-cursor-loads-at-once", "cursor-load-takes-1.5s"])
async def test_a_snapshot_filtered_by_another_watchers_tags_moves_this_watchers_watermark(
    make_hook, emulator, load_delay
):
    make_hook()
    now = datetime.now(timezone.utc)
    inbound, everything = FakeAccessor(), FakeAccessor(load_delay=load_delay)
    inbound.values[KEY] = _cursor_json(now - timedelta(minutes=30))
    everything.values[KEY] = _cursor_json(now - timedelta(minutes=20))  # was down for 20 minutes
    # arrived while the second watcher was down: it must emit it when it resumes
    missed = emulator.add_object("us-east", created=iso(now - timedelta(minutes=10)), tags={"direction": "OUTBOUND"})[
        "id"
    ]
    recent = emulator.add_object("us-east", created=iso(now - timedelta(minutes=1)), tags={"direction": "INBOUND"})[
        "id"
    ]
    manager = shared_stream_manager()
    a = Subscriber(manager, 1, watcher(inbound, tags={"direction": "INBOUND"}, overlap=60))
    b = Subscriber(manager, 2, watcher(everything, overlap=60))  # subscribed; its cursor takes a moment to load
    try:
        await until(lambda: recent in b.ids(), what="the second watcher's first event")
        await asyncio.sleep(3)  # three more polls, now with both readers
    finally:
        await a.stop()
        await b.stop()
        await manager.stop_all()
    assert recent in a.ids()
    assert missed in b.ids(), "an object created while the watcher was down, inside its window, was never emitted"


# ---------------------------------------------------------------------------------------------------------------
# 3. A watcher joining a running shared poll takes its baseline from a poll up to poll_interval after it started.


@pytest.mark.asyncio
async def test_a_late_joiners_baseline_swallows_objects_created_after_it_started(make_hook, emulator):
    make_hook()
    manager = shared_stream_manager()
    first, second = FakeAccessor(), FakeAccessor()
    a = Subscriber(manager, 1, watcher(first, poll_interval=4))
    try:
        await until(lambda: first.writes, what="the first watcher's baseline")
        b = Subscriber(manager, 2, watcher(second, poll_interval=4))  # e.g. a DAG unpaused later
        await until(
            lambda: list(new_objects.shared_polls().values()) == [2],
            what="the second watcher to start (its cursor: 'now')",
        )
        await asyncio.sleep(1.1)  # createdTime has second precision
        fresh = emulator.add_object("us-east")["id"]  # created after the second watcher started
        await until(lambda: fresh in a.ids(), what="the first watcher's event")
        await until(lambda: second.writes >= 2, what="two polls of the second watcher")
    finally:
        await a.stop()
        await b.stop()
        await manager.stop_all()
    assert fresh in b.ids(), "an object created after the watcher started was taken as already there"


# ---------------------------------------------------------------------------------------------------------------
# 4. A poll whose events were never confirmed persisted (failed) is followed by clean polls: their cursor is stored.


@pytest.mark.asyncio
async def test_a_failed_poll_followed_by_clean_polls_stores_a_cursor_past_the_unpersisted_events(make_hook, emulator):
    make_hook()
    accessor = FakeAccessor()
    manager = shared_stream_manager(ack_timeout=2.5)
    lost: list[int] = []

    def confirm(seq: int, payload: dict) -> bool:
        if not lost:  # the first event's persist never completes (its confirmation never arrives)
            lost.append(seq)
            return False
        return True

    sub = Subscriber(manager, 1, watcher(accessor), confirm=confirm)
    await until(lambda: accessor.writes, what="the baseline")
    batch = [emulator.add_object("us-east")["id"] for _ in range(2)]
    await until(lambda: sub.payloads, what="the event")
    await until(sub.task.done, timeout=10, what="the ack timeout to fail the watcher")
    await manager.stop_all()
    assert type(sub.error).__name__ == "AckTimeout"
    stored = accessor.values[KEY]
    # Airflow reported the poll as failed: its events may not be in the database, the cursor must not pass them
    assert not set(batch) & set(stored["seen"]), "the stored cursor counts unpersisted objects as emitted"
    manager = shared_stream_manager()
    again = Subscriber(manager, 2, watcher(accessor))
    try:
        await until(lambda: set(batch) <= set(again.ids()), timeout=5, what="the batch to be emitted again")
    finally:
        await again.stop()
        await manager.stop_all()


# ---------------------------------------------------------------------------------------------------------------
# Checked and holding: ties in createdTime across pages and at the truncation point, in two regions.


@pytest.mark.asyncio
async def test_holds_ties_at_the_truncation_point_in_two_regions_are_emitted_once():
    config = EmulatorConfig(  # unstable ties (strict)
        seed=5, objects_per_region=0, regions=("us-east", "uk"), accounts=(Account(regions=("us-east", "uk")),)
    )
    with EightByEightEmulator(config) as emu:
        from tests.conftest import set_connection
        from tests.helpers import FAST_RETRY_EXTRAS

        mp = pytest.MonkeyPatch()
        set_connection(
            mp,
            "eightbyeight_default",
            {
                "conn_type": "eightbyeight",
                "login": emu.key,
                "password": emu.secret,
                "extra": {"api_base_url": emu.base_url, **FAST_RETRY_EXTRAS},
            },
        )
        try:
            base = datetime.now(timezone.utc) - timedelta(minutes=20)
            ids = []
            with emu.store.lock:
                for region in ("us-east", "uk"):
                    for second, count in ((0, 60), (400, 80), (401, 10), (900, 70)):  # < 100 per overlap
                        at = iso(base + timedelta(seconds=second))
                        ids += [emu.add_object(region, created=at)["id"] for _ in range(count)]
            store = MemoryCursorStore()
            run = Collector(
                make(
                    store,
                    all_regions=True,
                    overlap=60,
                    max_objects_per_poll=100,
                    start_from=iso(base) + "Z",
                    max_ids_per_event=1000,
                )
            )
            try:
                await until(lambda: len(run.ids()) >= len(ids), timeout=15, what=f"every object {len(ids)}")
                await asyncio.sleep(2)
            finally:
                await run.stop()
            assert sorted(run.ids()) == sorted(ids)
        finally:
            mp.undo()


# 1b. Same root cause, through start_from: a backlog with more than max_objects_per_poll objects in one second.


@pytest.mark.asyncio
async def test_a_backlog_second_denser_than_max_objects_per_poll_stalls_start_from(make_hook, emulator):
    make_hook()
    base = datetime.now(timezone.utc) - timedelta(minutes=20)
    with emulator.store.lock:
        dense = [emulator.add_object("us-east", created=iso(base + timedelta(seconds=300))) for _ in range(120)]
        after = emulator.add_object("us-east", created=iso(base + timedelta(seconds=600)))["id"]
    store = MemoryCursorStore()
    run = Collector(
        make(store, overlap=60, max_objects_per_poll=100, start_from=iso(base) + "Z", max_ids_per_event=1000)
    )
    try:
        await until(lambda: len(run.ids()) >= 120, what="the dense second")
        await until(lambda: after in run.ids(), timeout=6, what="the object after the dense second")
    finally:
        await run.stop()
    assert sorted(run.ids()) == sorted([o["id"] for o in dense] + [after])
