"""The emulator's admin API under ``/_emulator/`` (no auth, JSON): health, info, ground truth,
object creation and states, stats, fault rules, the emulated clock and tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow_provider_eightbyeight.testing.config import EmulatorConfig
from airflow_provider_eightbyeight.testing.faults import FaultInjector, FaultRule
from airflow_provider_eightbyeight.testing.routing import (
    ApiError,
    Context,
    Reply,
    Route,
    json_reply,
)
from airflow_provider_eightbyeight.testing.state import Store, StoreError


class AdminHandlers:
    """Mixin with the ``/_emulator/`` handlers (mixed into :class:`~.api.CssApi`)."""

    store: Store
    faults: FaultInjector
    config: EmulatorConfig
    base_url: str
    token_url: str
    ca_path: str | None

    def build_admin_routes(self) -> list[Route]:
        """The admin routes (path segments after ``/_emulator/``)."""
        return [
            Route(("health",), {"GET": ("admin", self.a_health)}),
            Route(("info",), {"GET": ("admin", self.a_info)}),
            Route(("objects",), {"GET": ("admin", self.a_objects), "POST": ("admin", self.a_add_objects)}),
            Route(("objects", "{id}", "state"), {"POST": ("admin", self.a_set_state)}),
            Route(("stats",), {"GET": ("admin", self.a_stats)}),
            Route(("stats", "reset"), {"POST": ("admin", self.a_stats_reset)}),
            Route(
                ("faults",),
                {
                    "GET": ("admin", self.a_faults),
                    "POST": ("admin", self.a_add_faults),
                    "DELETE": ("admin", self.a_clear_faults),
                },
            ),
            Route(("clock",), {"POST": ("admin", self.a_clock)}),
            Route(("tokens",), {"DELETE": ("admin", self.a_revoke_tokens)}),
        ]

    def _store_call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except StoreError as exc:
            raise ApiError(exc.status, exc.message) from exc

    def a_health(self, ctx: Context) -> Reply:
        return json_reply(200, {"status": "ok"})

    def a_info(self, ctx: Context) -> Reply:
        return json_reply(
            200,
            {
                "base_url": self.base_url,
                "token_url": self.token_url,
                "ca_path": self.ca_path,
                "regions": list(self.config.regions),
                "api_versions": list(self.config.api_versions),
                "accounts": [
                    {
                        "key": a.key,
                        "secret": a.secret,
                        "regions": list(a.regions),
                        "products": list(a.products),
                    }
                    for a in self.config.accounts
                ],
            },
        )

    def a_objects(self, ctx: Context) -> Reply:
        region = ctx.request.arg("region")
        try:
            states = EmulatorConfig.parse_states(ctx.request.arg("states"))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        records = self._store_call(lambda: self.store.all_objects(region or None, states))
        out = []
        for record in records:
            item = record.to_dict()
            item["md5"] = record.content.md5()
            item["region"] = record.region
            out.append(item)
        return json_reply(200, out)

    def a_add_objects(self, ctx: Context) -> Reply:
        data = ctx.request.json()
        if not isinstance(data, dict) or not isinstance(data.get("region"), str):
            raise ApiError(400, 'Body must be {"region": "<region>", "objects": [{...}, ...]}')
        specs = data.get("objects", [{}])
        if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
            raise ApiError(400, "'objects' must be a list of objects")
        allowed = {
            "type",
            "size",
            "created",
            "state",
            "tags",
            "object_name",
            "mime_type",
            "bucket_id",
            "checksum",
            "id",
            "wire",
            "wire_drop",
            "wire_item",
        }
        for spec in specs:
            unknown = set(spec) - allowed
            if unknown:
                raise ApiError(400, f"Unknown object fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        created: list[dict[str, Any]] = []
        with self.store.lock:  # one batch appears at once: a search sees all of it or none
            for spec in specs:
                kwargs = dict(spec)
                kwargs["obj_type"] = kwargs.pop("type", "callrecording")
                kwargs["object_id"] = kwargs.pop("id", None)
                kwargs["wire_patch"] = kwargs.pop("wire", None)
                kwargs["wire_item"] = (kwargs.pop("wire_item"),) if "wire_item" in kwargs else None
                record = self._store_call(functools.partial(self.store.add_object, data["region"], **kwargs))
                created.append(record.to_dict())
        return json_reply(200, {"objects": created})

    def a_set_state(self, ctx: Context) -> Reply:
        data = ctx.request.json()
        if not isinstance(data, dict) or not isinstance(data.get("state"), str):
            raise ApiError(400, 'Body must be {"state": "<STATE>"}')
        record = self._store_call(lambda: self.store.set_state(ctx.params["id"], data["state"]))
        return json_reply(200, record.to_dict())

    def a_stats(self, ctx: Context) -> Reply:
        return json_reply(200, self.store.stats.snapshot())

    def a_stats_reset(self, ctx: Context) -> Reply:
        self.store.stats.reset()
        return json_reply(200, {"status": "ok"})

    def a_faults(self, ctx: Context) -> Reply:
        return json_reply(200, {"rules": self.faults.rules()})

    def a_add_faults(self, ctx: Context) -> Reply:
        data = ctx.request.json()
        rules = data.get("rules") if isinstance(data, dict) and "rules" in data else data
        if isinstance(rules, dict):
            rules = [rules]
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ApiError(400, 'Body must be {"rules": [{"kind": ..., ...}, ...]}')
        try:
            parsed = [FaultRule.from_dict(r) for r in rules]
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Invalid fault rule: {exc}") from exc
        for rule in parsed:
            self.faults.add(rule)
        return json_reply(200, {"rules": self.faults.rules()})

    def a_clear_faults(self, ctx: Context) -> Reply:
        self.faults.clear()
        return json_reply(200, {"rules": []})

    def a_clock(self, ctx: Context) -> Reply:
        data = ctx.request.json()
        value = data.get("advance_seconds") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, 'Body must be {"advance_seconds": <number>}')
        now = self.store.advance_clock(value)
        return json_reply(200, {"now": now, "now_iso": self.store.now_iso()})

    def a_revoke_tokens(self, ctx: Context) -> Reply:
        return json_reply(200, {"revoked": self.store.revoke_tokens()})
