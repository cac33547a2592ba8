"""
Helpers for the tests of EightByEightNewObjectsTrigger and of runs started by its events: a trigger as the
triggerer builds it, its run() or its shared stream driven as Airflow 3.3's TriggerRunner drives them, the
asset state store as a dict, objects added through the emulator's admin API, triggering asset events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.module_loading import import_string

from airflow_provider_eightbyeight.testing import EightByEightEmulator
from airflow_provider_eightbyeight.triggers.new_objects import EightByEightNewObjectsTrigger, MemoryCursorStore


def make(store: MemoryCursorStore | None = None, **kwargs: Any) -> EightByEightNewObjectsTrigger:
    """A trigger as the triggerer builds it (serialised, JSON round trip, imported), with ``store``."""
    kwargs.setdefault("poll_interval", 1)
    classpath, data = EightByEightNewObjectsTrigger(**kwargs).serialize()
    trigger = import_string(classpath)(**json.loads(json.dumps(data)))
    trigger.cursor_store = store
    return trigger


class FakeAccessor:
    """Airflow's asset state store accessor as a dict (the real one needs the triggerer's supervisor)."""

    def __init__(self, load_delay: float = 0.0) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0
        self.load_delay = load_delay

    async def aget(self, key: str, default: Any = None) -> Any:
        if self.load_delay:  # the real accessor is a round trip to the triggerer's supervisor
            await asyncio.sleep(self.load_delay)
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))
        self.writes += 1


def shared_stream_manager(**kwargs: Any) -> Any:
    """Airflow's own SharedStreamManager (the test is skipped on Airflow 3.2, which has no shared streams)."""
    module = pytest.importorskip(
        "airflow.triggers.shared_stream", reason="Airflow < 3.3 has no shared streams (the watcher runs run())"
    )
    return module.SharedStreamManager(**kwargs)


def watcher(accessor: FakeAccessor, **kwargs: Any) -> EightByEightNewObjectsTrigger:
    """A trigger with the asset state store the 3.3 triggerer injects into an asset watcher."""
    trigger = make(None, **kwargs)
    trigger.asset_state_store = accessor
    return trigger


class _Consumer:
    """A trigger's events, collected by a task."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.task: asyncio.Future[None] = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        raise NotImplementedError

    def ids(self) -> list[str]:
        return [i for p in self.payloads for i in p["ids"]]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Collector(_Consumer):
    """Runs a trigger's ``run()`` (the standalone path) and collects its payloads."""

    def __init__(self, trigger: EightByEightNewObjectsTrigger) -> None:
        self.trigger = trigger
        super().__init__()

    async def _run(self) -> None:
        async for event in self.trigger.run():
            self.payloads.append(event.payload)


class Subscriber(_Consumer):
    """
    One watcher run the way Airflow 3.3's TriggerRunner runs it: subscribe, filter, bind each event, and confirm
    it persisted when ``confirm(seq, payload)`` says so (the supervisor stored it).
    """

    def __init__(
        self,
        manager: Any,
        trigger_id: int,
        trigger: EightByEightNewObjectsTrigger,
        confirm: Callable[[int, dict[str, Any]], bool] = lambda seq, payload: True,
    ) -> None:
        self.manager, self.trigger_id, self.trigger, self.confirm = manager, trigger_id, trigger, confirm
        super().__init__()

    async def _run(self) -> None:
        key = self.trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=self.trigger_id, trigger=self.trigger, key=key)
        try:
            async for event in self.trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=self.trigger_id, key=key)
                self.payloads.append(event.payload)
                assert seq is not None, "the stream is not in ack mode"
                if self.confirm(seq, event.payload):
                    self.manager.confirm_persisted([seq])
        except Exception as err:  # the trigger failed (e.g. AckTimeout): the test looks at it
            self.error = err
        finally:
            await self.manager.unsubscribe(self.trigger_id, key)


async def until(check: Callable[[], Any], timeout: float = 20, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def add_batch(emulator: EightByEightEmulator, count: int, region: str = "us-east", **spec: Any) -> list[str]:
    """Objects added at once through the emulator's admin API (a search sees all or none of them)."""
    if "created" in spec:
        spec["created"] = str(spec["created"])
    body = {"region": region, "objects": [spec] * count}
    resp = requests.post(f"{emulator.base_url}/_emulator/objects", json=body, timeout=30)
    resp.raise_for_status()
    return [o["id"] for o in resp.json()["objects"]]


def searches(emulator: EightByEightEmulator) -> int:
    """Object searches the emulator has answered since its stats were reset."""
    return sum(n for route, n in emulator.stats()["requests"].items() if "objects" in route and "GET" in route)


def iso(dt: datetime) -> str:
    """A time as 8x8 writes one (UTC, no zone, seconds)."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def asset_events(payloads: list[Any]) -> Any:
    """Triggering asset events as the scheduler hands them to a run (their extra round-tripped through JSON)."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    refs = [
        AssetEventDagRunReferenceResult.model_validate(
            {
                "asset": {"name": "eightbyeight_new_recordings", "uri": "eightbyeight_new_recordings", "extra": {}},
                "extra": json.loads(json.dumps({"from_trigger": True, "payload": p})),
                "source_task_id": None,
                "source_dag_id": None,
                "source_run_id": None,
                "source_map_index": None,
                "source_aliases": [],
                "timestamp": datetime(2026, 11, 30, tzinfo=timezone.utc),
            }
        )
        for p in payloads
    ]
    return TriggeringAssetEventsAccessor.build(refs)
