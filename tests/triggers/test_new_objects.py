"""
EightByEightNewObjectsTrigger against the emulator over HTTP: standalone ``run()`` and Airflow's own
shared-stream manager in ack mode (as the 3.3 triggerer drives it), with restarts and crashes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.triggers import new_objects
from airflow_provider_eightbyeight.triggers.new_objects import (
    CURSOR_KEY_PREFIX,
    AssetCursorStore,
    EightByEightNewObjectsTrigger,
    MemoryCursorStore,
)
from airflow_provider_eightbyeight.watch import EVENT_SOURCE, WatchCursor
from tests.helpers import needs
from tests.watching import (
    Collector,
    FakeAccessor,
    Subscriber,
    add_batch,
    make,
    searches,
    shared_stream_manager,
    until,
    watcher,
)

pytestmark = needs("event-driven scheduling")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=61, objects_per_region=15)


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(new_objects, "PERSIST_GRACE", 0.2)


def saved(store: MemoryCursorStore) -> Callable[[], bool]:
    start = store.saves
    return lambda: store.saves > start


@pytest.mark.asyncio
async def test_each_batch_of_new_recordings_is_one_event_and_nothing_repeats(make_hook, emulator):
    make_hook()
    store = MemoryCursorStore()
    run = Collector(make(store, object_types=["callrecording"]))
    await until(lambda: store.value, what="the first poll")  # existing objects are the baseline
    first = add_batch(emulator, 3)
    await until(lambda: run.payloads, what="the first event")
    second = add_batch(emulator, 2)
    add_batch(emulator, 1, type="voicemail")  # not watched
    await until(lambda: len(run.payloads) >= 2, what="the second event")
    await until(saved(store), what="two more polls")
    await until(saved(store), what="one more poll")
    await run.stop()
    assert [sorted(p["ids"]) for p in run.payloads] == [sorted(first), sorted(second)]  # one event per batch
    payload = run.payloads[0]
    assert payload["source"] == EVENT_SOURCE and payload["count"] == 3
    assert payload["by_region"] == {"us-east": payload["ids"]}
    assert payload["types"] == ["callrecording"] and payload["filter"]["types"] == ["callrecording"]
    assert emulator.secret not in json.dumps(run.payloads) and "token" not in json.dumps(run.payloads)


@pytest.mark.asyncio
async def test_a_restart_between_arrivals_loses_and_repeats_nothing(make_hook, emulator):
    make_hook()
    store = MemoryCursorStore()
    run = Collector(make(store))
    await until(lambda: store.value, what="the first poll")
    before = add_batch(emulator, 2)
    await until(lambda: run.payloads, what="the first event")
    await until(saved(store), what="the cursor after the event")
    await run.stop()
    while_down = add_batch(emulator, 2) + add_batch(emulator, 1, type="transcription")
    restarted = Collector(make(store))
    after_restart = await until(lambda: restarted.payloads, what="the objects added while down")
    later = add_batch(emulator, 1)
    await until(lambda: len(restarted.ids()) >= 4, what="the object added after the restart")
    await until(saved(store), what="one more poll")
    await restarted.stop()
    assert sorted(run.ids()) == sorted(before)
    assert sorted(restarted.ids()) == sorted(while_down + later), after_restart


@pytest.mark.asyncio
async def test_a_crash_before_the_cursor_is_stored_repeats_the_batch_and_loses_nothing(
    make_hook, emulator, monkeypatch
):
    make_hook()
    monkeypatch.setattr(new_objects, "PERSIST_GRACE", 30)  # the crash comes while the events are persisted
    store = MemoryCursorStore()
    run = Collector(make(store))
    await until(lambda: store.value, what="the first poll")
    batch = add_batch(emulator, 3)
    await until(lambda: run.payloads, what="the event")
    await run.stop()  # killed before the cursor was stored
    monkeypatch.setattr(new_objects, "PERSIST_GRACE", 0.2)
    again = Collector(make(store))
    await until(lambda: again.payloads, what="the repeated event")
    await again.stop()
    assert sorted(run.ids()) == sorted(batch) == sorted(again.ids())  # at least once: repeated, not lost


@pytest.mark.asyncio
async def test_an_object_pending_past_the_overlap_is_emitted_once_it_is_available(make_hook, emulator):
    make_hook()
    store = MemoryCursorStore()
    run = Collector(make(store, overlap=2))
    await until(lambda: store.value, what="the first poll")
    added_at = time.time() * 1000
    [pending] = add_batch(emulator, 1, state="PENDING")  # appears at once, as PENDING
    await until(lambda: (store.value or {}).get("pending"), what="the pending object to be followed")
    [other] = add_batch(emulator, 1, created=(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
    await until(lambda: run.payloads, what="the object available at once")
    await asyncio.sleep(3)
    [third] = add_batch(emulator, 1)  # moves the window (2 s of overlap) past the pending object's createdTime
    await until(lambda: third in run.ids(), what="the third object")
    await until(saved(store), what="the cursor after it")
    assert WatchCursor.from_json(store.value).floor_ms(2000) > added_at + 1000  # no search reads it now
    emulator.set_object_state(pending, "AVAILABLE")
    await until(lambda: pending in run.ids(), what="the pending object's event")
    await until(saved(store), what="one more poll")
    await run.stop()
    assert run.ids() == [other, third, pending]
    assert not store.value["pending"]


@pytest.mark.asyncio
async def test_start_from_emits_the_objects_created_since_in_bounded_events(make_hook, emulator):
    make_hook()
    objects = [o for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "callrecording"]
    assert len(objects) >= 2
    store = MemoryCursorStore()
    run = Collector(make(store, object_types="callrecording", start_from="2026-10-01T00:00:00Z", max_ids_per_event=1))
    await until(lambda: len(run.payloads) >= len(objects), what="the backlog")
    await until(saved(store), what="one more poll")
    await run.stop()
    assert sorted(run.ids()) == sorted(o["id"] for o in objects) and {p["count"] for p in run.payloads} == {1}


def test_bad_arguments_are_refused_with_what_to_do():
    with pytest.raises(ConfigurationError, match="poll_interval must be a number at least 1"):
        EightByEightNewObjectsTrigger(poll_interval=0)
    with pytest.raises(ConfigurationError, match="start_from") as err:
        EightByEightNewObjectsTrigger(start_from="last tuesday")
    assert "ISO-8601" in str(err.value)
    with pytest.raises(ConfigurationError, match="object_types"):
        EightByEightNewObjectsTrigger(object_types=["callrecording", 3])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="max_ids_per_event"):
        EightByEightNewObjectsTrigger(max_ids_per_event=0)
    with pytest.raises(ValueError, match="also an object field"):
        EightByEightNewObjectsTrigger(tags={"type": "x"})


# ---------------------------------------------------------------------- shared stream, ack mode


@pytest.mark.asyncio
async def test_watchers_of_one_connection_share_one_poll_each_with_its_own_filter(make_hook, emulator):
    make_hook()
    manager = shared_stream_manager()
    calls, voices = FakeAccessor(), FakeAccessor()
    a = Subscriber(
        manager,
        1,
        watcher(calls, object_types=["callrecording"]),
    )
    b = Subscriber(
        manager,
        2,
        watcher(voices, object_types=["voicemail"]),
    )
    key = CURSOR_KEY_PREFIX + "default"
    await until(lambda: calls.writes and voices.writes, what="both baselines stored")
    call_ids = add_batch(emulator, 2)
    voice_ids = add_batch(emulator, 1, type="voicemail")
    await until(lambda: a.payloads and b.payloads, what="both events")
    emulator.reset_stats()
    polls_before = calls.writes
    await until(lambda: calls.writes >= polls_before + 3, what="three more polls")
    polled = searches(emulator)
    await a.stop()
    await b.stop()
    await manager.stop_all()
    assert sorted(a.ids()) == sorted(call_ids) and b.ids() == voice_ids
    assert polled <= 4, f"{polled} searches for 3 polls of 2 watchers: the poll is not shared"
    assert WatchCursor.from_json(calls.values[key]).seen.keys() >= set(call_ids)


@pytest.mark.asyncio
async def test_in_ack_mode_the_cursor_moves_only_after_the_events_are_persisted(make_hook, emulator):
    make_hook()
    key = CURSOR_KEY_PREFIX + "default"
    accessor = FakeAccessor()
    manager = shared_stream_manager()
    sub = Subscriber(manager, 1, watcher(accessor), confirm=lambda seq, payload: False)
    await until(lambda: accessor.writes, what="the baseline stored (no events to persist)")
    batch = add_batch(emulator, 2)
    await until(lambda: sub.payloads, what="the event")
    stored_at_event = accessor.values[key]
    await asyncio.sleep(2.5)  # two more polls: their cursors wait behind the unconfirmed event
    assert accessor.values[key] == stored_at_event
    assert not set(batch) & set(accessor.values[key]["seen"])
    # the triggerer dies before the event was persisted: a new one repeats the batch, loses nothing
    await sub.stop()
    await manager.stop_all()
    manager = shared_stream_manager()
    again = Subscriber(
        manager,
        7,
        watcher(accessor),
    )
    await until(lambda: again.payloads, what="the repeated event")
    await until(lambda: set(batch) <= set(accessor.values[key]["seen"]), what="the cursor after persistence")
    later = add_batch(emulator, 1)
    await until(lambda: later[0] in again.ids(), what="the next object")
    await again.stop()
    await manager.stop_all()
    assert sorted(sub.ids()) == sorted(batch) and sorted(again.ids()) == sorted(batch + later)


@pytest.mark.asyncio
async def test_a_watcher_of_several_assets_keeps_its_cursor_in_each(make_hook, emulator):
    class Accessors:  # the shape of airflow.sdk.execution_time.context.AssetStateStoreAccessors
        def __init__(self) -> None:
            self._by_name = {"a": FakeAccessor(), "b": FakeAccessor()}
            self._by_uri: dict[str, FakeAccessor] = {}

    make_hook()
    accessors = Accessors()
    store = AssetCursorStore(accessors, CURSOR_KEY_PREFIX + "x")
    old = WatchCursor(watermark_ms=1000, seen={"s1": 999})
    await accessors._by_name["a"].aset(store.key, old.to_json())
    await accessors._by_name["b"].aset(store.key, WatchCursor(watermark_ms=5000, seen={"s2": 4999}).to_json())
    loaded = await store.load()
    assert loaded is not None and loaded.watermark_ms == 1000 and set(loaded.seen) == {"s1", "s2"}
    await store.save(old.to_json())
    assert all(a.values[store.key] == old.to_json() for a in accessors._by_name.values())
    await accessors._by_name["a"].aset(store.key, {"something": "else"})
    with pytest.raises(ConfigurationError, match="cursor_name"):
        await store.load()
