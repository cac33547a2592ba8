"""The watcher's cursor (pure): new objects are emitted once, late ones are not lost, the state stays bounded."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from airflow_provider_eightbyeight.watch import (
    EVENT_SOURCE,
    Matcher,
    SeenObject,
    Snapshot,
    WatchCursor,
    apply,
    event_payloads,
    ids_from_events,
    merge,
)

MIN = 60_000
OVERLAP = 10 * MIN
EVERY = Matcher()


def obj(i: str, created: int, state: str = "AVAILABLE", type: str = "callrecording", **tags: str) -> SeenObject:
    return SeenObject(id=i, region="us-east", type=type, state=state, created_ms=created, tags=tags)


def snap(cursor: WatchCursor, at: int, window: list[SeenObject], poll: int = 1, **kw) -> Snapshot:
    floor = kw.pop("floor", cursor.floor_ms(OVERLAP))
    return Snapshot(
        poll=poll,
        floor_ms=floor,
        upto_ms=kw.pop("upto", None),
        polled_at_ms=at,
        types=kw.pop("types", None),
        window=[o for o in window if o.created_ms >= floor],
        by_id=kw.pop("by_id", {}),
        gone=frozenset(kw.pop("gone", ())),
    )


def step(cursor: WatchCursor, snapshot: Snapshot, matcher: Matcher = EVERY):
    return apply(cursor, snapshot, matcher, overlap_ms=OVERLAP, pending_max_age_ms=24 * 60 * MIN, max_pending=100)


def test_a_first_start_marks_what_is_there_and_emits_only_what_comes_after():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t, baseline=True)
    there = [obj("old", t - MIN), obj("writing", t - MIN, state="PENDING")]
    first = step(cursor, snap(cursor, t, there))
    assert first.new == [] and set(first.cursor.seen) == {"old"} and set(first.cursor.pending) == {"writing"}
    later = [*there, obj("writing", t - MIN), obj("fresh", t + MIN)]
    second = step(first.cursor, snap(first.cursor, t + 2 * MIN, later, poll=2))
    # the one being written when the watcher started became AVAILABLE after: it is new
    assert [o.id for o in second.new] == ["writing", "fresh"]
    third = step(second.cursor, snap(second.cursor, t + 3 * MIN, later, poll=3))
    assert third.new == [], "an object is emitted once, whatever the overlap reads again"


def test_an_object_that_appears_late_within_the_overlap_is_emitted():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    a = step(cursor, snap(cursor, t + MIN, [obj("a", t + MIN)])).cursor
    assert a.watermark_ms == t + MIN
    # created before the watermark, visible only now (indexing lag, an upload after the call)
    late = step(a, snap(a, t + 5 * MIN, [obj("a", t + MIN), obj("late", t - 3 * MIN)]))
    assert [o.id for o in late.new] == ["late"]


def test_a_pending_object_is_followed_by_id_beyond_the_overlap_until_available():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    c = step(cursor, snap(cursor, t, [obj("p", t - MIN, state="PENDING")])).cursor
    assert set(c.pending) == {"p"}
    # hours pass: the window moves on; p is no longer in it, only read by id
    c = step(c, snap(c, t + 120 * MIN, [obj("n", t + 119 * MIN)])).cursor
    assert set(c.pending) == {"p"} and c.floor_ms(OVERLAP) > t
    done = step(c, snap(c, t + 121 * MIN, [obj("n", t + 119 * MIN)], by_id={"p": obj("p", t - MIN)}))
    assert [o.id for o in done.new] == ["p"] and not done.cursor.pending


@pytest.mark.parametrize("state", ["REVOKED", "DELETED", "ARCHIVED"])
def test_a_pending_object_that_ends_otherwise_is_dropped_with_the_reason(state):
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t, pending={"p": ("us-east", t, t)})
    out = step(cursor, snap(cursor, t + MIN, [], by_id={"p": obj("p", t, state=state)}))
    assert out.new == [] and not out.cursor.pending and state in out.dropped[0][1]
    gone = step(cursor, snap(cursor, t + MIN, [], gone={"p"}))
    assert not gone.cursor.pending and "no longer knows" in gone.dropped[0][1]


def test_a_snapshot_that_does_not_cover_the_window_or_the_types_changes_nothing():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    later = step(cursor, snap(cursor, t, [obj("x", t)], floor=cursor.floor_ms(OVERLAP) + 1))
    assert not later.covered and later.cursor == cursor and later.new == []
    voice = Matcher(types=frozenset({"voicemail"}))
    other = step(cursor, snap(cursor, t, [obj("x", t)], types=frozenset({"callrecording"})), voice)
    assert not other.covered and other.new == []


def test_a_truncated_read_moves_the_watermark_only_to_where_it_stopped():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    window = [obj(f"o{i}", t + i * MIN) for i in range(30)]
    part = step(cursor, snap(cursor, t + 40 * MIN, window[:20], upto=t + 20 * MIN))
    assert part.cursor.watermark_ms == t + 19 * MIN and len(part.new) == 20  # the newest read, before upto
    rest = step(part.cursor, snap(part.cursor, t + 41 * MIN, window))
    assert [o.id for o in rest.new] == [f"o{i}" for i in range(20, 30)]


def test_the_watermark_never_passes_the_polls_clock():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    future = step(cursor, snap(cursor, t, [obj("f", t + 600 * MIN)]))  # a clock far ahead at 8x8
    assert future.cursor.watermark_ms == t and [o.id for o in future.new] == ["f"]
    again = step(future.cursor, snap(future.cursor, t + MIN, [obj("f", t + 600 * MIN)]))
    assert again.new == []


def test_filters_apply_per_watcher():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    window = [obj("a", t, type="voicemail"), obj("b", t, direction="INBOUND"), obj("c", t, direction="OUTBOUND")]
    inbound = Matcher(tags={"direction": "INBOUND"})
    assert [o.id for o in step(cursor, snap(cursor, t, window), inbound).new] == ["b"]
    voice = Matcher(types=frozenset({"voicemail"}))
    assert [o.id for o in step(cursor, snap(cursor, t, window), voice).new] == ["a"]


def test_the_state_stays_bounded_by_the_overlap_and_the_pending_limits():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    for minute in range(1, 200):
        now = t + minute * MIN
        window = [obj(f"{minute}-{k}", now - MIN) for k in range(5)]
        window += [obj(f"{minute}-p", now - MIN, state="PENDING")]
        cursor = apply(
            cursor, snap(cursor, now, window), EVERY, overlap_ms=OVERLAP, pending_max_age_ms=30 * MIN, max_pending=20
        ).cursor
    assert len(cursor.seen) <= 5 * (OVERLAP // MIN + 2)
    assert len(cursor.pending) <= 20
    assert len(json.dumps(cursor.to_json())) < 10_000


def test_the_cursor_survives_json_and_bad_values_are_named():
    cursor = WatchCursor(watermark_ms=5, seen={"a": 4}, pending={"p": ("uk", 3, 2)}, baseline=True)
    voice = Matcher(types=frozenset({"voicemail"}))
    value = json.loads(json.dumps(cursor.to_json(voice)))
    assert WatchCursor.from_json(value) == dataclasses.replace(cursor, filter=voice.digest())
    with pytest.raises(ValueError, match="watermark_ms"):
        WatchCursor.from_json({"last": 1})
    with pytest.raises(ValueError, match="version"):
        WatchCursor.from_json({**value, "v": 99})


def test_merging_stored_cursors_keeps_the_oldest_watermark_and_every_id():
    a = WatchCursor(watermark_ms=10, seen={"x": 9}, pending={"p": (None, 1, 1)})
    b = WatchCursor(watermark_ms=20, seen={"y": 19, "p": 1})
    merged = merge([a, b])
    assert merged is not None and merged.watermark_ms == 10
    assert set(merged.seen) == {"x", "y", "p"} and not merged.pending  # p was emitted by b
    assert merge([]) is None


def test_event_payloads_name_every_id_by_region_and_round_trip_through_asset_events():
    new = [obj(f"o{i}", 1_000 * MIN + i) for i in range(7)] + [
        SeenObject(id="u1", region="uk", type="voicemail", state="AVAILABLE", created_ms=1_000 * MIN + 9)
    ]
    payloads = list(event_payloads(new, max_ids=3, connection="c", matcher=EVERY))
    assert [p["count"] for p in payloads] == [3, 3, 2]
    assert [i for p in payloads for i in p["ids"]] == [o.id for o in new]
    assert payloads[-1]["by_region"] == {"us-east": ["o6"], "uk": ["u1"]}
    assert payloads[-1]["regions"] == ["uk", "us-east"]
    assert all(p["source"] == EVENT_SOURCE and "token" not in json.dumps(p) for p in payloads)
    extras = [{"from_trigger": True, "payload": p} for p in payloads]
    extras += [{"from_trigger": True, "payload": payloads[0]}, {"payload": {"source": "other", "ids": ["z"]}}, {}]
    found = ids_from_events(extras)
    assert found == {"us-east": [f"o{i}" for i in range(7)], "uk": ["u1"]}


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_emit_every_object_once_across_restarts(seed):
    """
    Objects arrive (some PENDING first, some visible only minutes after their createdTime, within the
    overlap), some are revoked; the watcher polls, and at random points restarts from its last stored
    cursor, sometimes after emitting events it had not stored yet. Every object that was AVAILABLE at some
    poll is emitted, none is emitted twice except a batch repeated after a crash before its cursor was stored.
    """
    rng = random.Random(seed)
    t0 = 1_000 * MIN
    truth: dict[str, dict] = {}  # id -> created, state, visible_from
    stored = WatchCursor(watermark_ms=t0).to_json()
    cursor = WatchCursor.from_json(stored)
    emitted: list[str] = []
    repeated_allowed: set[str] = set()
    for tick in range(300):
        now = t0 + tick * 20_000
        for _ in range(rng.randint(0, 3)):
            i = f"o{len(truth)}"
            lag = rng.choice([0, 0, 0, 30_000, 3 * MIN, 8 * MIN])  # visible this much after createdTime
            truth[i] = {
                "created": now - lag,
                "state": "PENDING" if rng.random() < 0.3 else "AVAILABLE",
                "visible": now,
            }
        for rec in truth.values():
            if rec["state"] == "PENDING" and rng.random() < 0.05:
                rec["state"] = "AVAILABLE" if rng.random() < 0.85 else "REVOKED"
            elif rec["state"] == "AVAILABLE" and rng.random() < 0.002:
                rec["state"] = "REVOKED"
        floor = cursor.floor_ms(OVERLAP)
        window = sorted(
            (
                obj(i, r["created"], r["state"])
                for i, r in truth.items()
                if r["visible"] <= now and r["created"] >= floor and r["state"] in ("AVAILABLE", "PENDING")
            ),
            key=lambda o: o.created_ms,
        )
        by_id = {i: obj(i, truth[i]["created"], truth[i]["state"]) for i in cursor.pending if i in truth}
        out = step(cursor, snap(cursor, now, window, poll=tick, by_id=by_id))
        emitted += [o.id for o in out.new]
        cursor = out.cursor
        roll = rng.random()
        if roll < 0.05:  # crash after the events, before the cursor was stored: the batch may repeat
            repeated_allowed.update(o.id for o in out.new)
            cursor = WatchCursor.from_json(stored)
        else:
            stored = cursor.to_json()
            if roll < 0.15:  # a restart between polls
                cursor = WatchCursor.from_json(stored)
    # every object that was AVAILABLE when polled (and not revoked right away) was emitted
    for _ in range(60):  # let the last ones settle
        now += 20_000
        window = sorted(
            (
                obj(i, r["created"], r["state"])
                for i, r in truth.items()
                if r["created"] >= cursor.floor_ms(OVERLAP) and r["state"] in ("AVAILABLE", "PENDING")
            ),
            key=lambda o: o.created_ms,
        )
        by_id = {i: obj(i, truth[i]["created"], truth[i]["state"]) for i in cursor.pending if i in truth}
        out = step(cursor, snap(cursor, now, window, by_id=by_id))
        emitted += [o.id for o in out.new]
        cursor = out.cursor
    available = {i for i, r in truth.items() if r["state"] == "AVAILABLE"}
    assert available <= set(emitted), sorted(available - set(emitted))[:10]
    twice = {i for i in emitted if emitted.count(i) > 1}
    assert twice <= repeated_allowed, sorted(twice - repeated_allowed)[:10]
    assert len(truth) > 200 and len(set(emitted)) > 150


def test_a_first_start_applied_late_still_emits_what_was_created_after_the_start():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t, baseline=True)  # started at t; the first poll covering it comes later
    window = [obj("before", t - MIN), obj("after", t + 2 * MIN)]
    out = step(cursor, snap(cursor, t + 3 * MIN, window))
    assert [o.id for o in out.new] == ["after"] and set(out.cursor.seen) == {"before", "after"}


def test_a_snapshot_narrowed_by_other_tags_does_not_cover_this_watcher():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t)
    inbound = Snapshot(
        1, cursor.floor_ms(OVERLAP), None, t + 60 * MIN, None, [obj("i", t + 59 * MIN)], tags={"d": "IN"}
    )
    out = step(cursor, inbound, Matcher(tags={"d": "OUT"}))
    assert not out.covered and out.cursor == cursor  # the watermark did not jump past unread OUT objects
    assert step(cursor, inbound, Matcher(tags={"d": "IN"})).covered


def test_a_pending_object_is_followed_by_type_and_emitted_only_if_its_final_tags_match():
    t = 1_000 * MIN
    inbound = Matcher(types=frozenset({"callrecording"}), tags={"direction": "INBOUND"})
    cursor = WatchCursor(watermark_ms=t)
    first = step(cursor, snap(cursor, t, [obj("a", t, state="PENDING"), obj("b", t, state="PENDING")]), inbound)
    assert set(first.cursor.pending) == {"a", "b"}  # untagged while written
    later = {"a": obj("a", t, direction="INBOUND"), "b": obj("b", t, direction="OUTBOUND")}
    c = first.cursor
    out = step(c, snap(c, t + 60 * MIN, [], by_id=later, floor=c.floor_ms(OVERLAP)), inbound)
    assert [o.id for o in out.new] == ["a"] and not out.cursor.pending
    assert out.dropped == [("b", "it is AVAILABLE now and its tags do not match the watcher's")]


def test_failed_objects_are_given_up_and_unknown_states_followed():
    t = 1_000 * MIN
    cursor = WatchCursor(watermark_ms=t, pending={"f": ("us-east", t, t), "u": ("us-east", t, t)})
    out = step(cursor, snap(cursor, t + MIN, [], by_id={"f": obj("f", t, "FAILED"), "u": obj("u", t, "PROCESSING")}))
    assert set(out.cursor.pending) == {"u"} and out.dropped[0][0] == "f"
