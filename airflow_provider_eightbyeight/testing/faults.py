"""Fault injection rules for the 8x8 CSS emulator.

A :class:`FaultRule` says *what* goes wrong (``kind``) and *when* (route, method, object ids,
``times``, ``probability``). The :class:`FaultInjector` decides per request, deterministically for
one request order (its ``random.Random`` is seeded from the emulator seed and used under a lock).

Kinds:

``status``    answer ``status`` (default 503) with optional ``Retry-After`` and body.
``reset``     send headers and ``after_bytes`` body bytes, then reset the TCP connection (RST).
``truncate``  send headers (full Content-Length) and ``after_bytes`` body bytes, then close (FIN).
``corrupt``   send the full body with bytes flipped from offset ``after_bytes`` on (same length).
``latency``   sleep ``delay`` seconds, then answer normally (combines with one other rule).
``bulk_outcome``  on ``bulk_start``: the new job ends ``job_status`` (FAILED, CANCELLED or PARTIAL_DONE;
              PARTIAL_DONE leaves out the entries of ``object_ids``, or the last one).
``zip_drop``  on ``bulk_download``: the zip lacks the entries of ``object_ids`` (or its first entry).
``keep``      on ``delete``: answer as usual (204) but leave the objects of ``object_ids`` (or the batch's first)
              as they were: 8x8 accepting a delete it did only in part.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

FAULT_KINDS = ("status", "reset", "truncate", "corrupt", "latency", "bulk_outcome", "zip_drop", "keep")
#: Kinds that change what the handler answers rather than how the bytes travel.
RESPONSE_KINDS = ("bulk_outcome", "zip_drop", "keep")
JOB_OUTCOMES = ("FAILED", "CANCELLED", "PARTIAL_DONE")
ROUTE_NAMES = (
    "token",
    "regions",
    "search",
    "get_object",
    "metadata",
    "content",
    "presigned",
    "restore",
    "buckets",
    "get_bucket",
    "bulk_start",
    "bulk_status",
    "bulk_statuses",
    "bulk_download",
    "bulk_cancel",
    "bulk_clear",
    "delete",
    "admin",
)


@dataclass
class FaultRule:
    """One fault to inject; see the module docstring for the kinds.

    ``route`` is a route name (see :data:`ROUTE_NAMES`) or ``"*"`` (every route except
    ``admin``); ``method`` limits it to one HTTP method; ``times`` = how many injections before
    the rule is spent (``None`` = forever); ``object_ids`` limits it to requests about those ids.
    """

    kind: str
    route: str = "*"
    method: str | None = None
    times: int | None = None
    probability: float = 1.0
    status: int | None = None
    retry_after: float | str | None = None
    body: str | None = None
    content_type: str | None = None
    delay: float = 0.0
    after_bytes: int = 0
    object_ids: Sequence[str] | None = None
    job_status: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.route != "*" and self.route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {self.route!r}; expected '*' or one of {ROUTE_NAMES}")
        if self.method is not None:
            self.method = self.method.upper()
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if self.after_bytes < 0 or self.delay < 0:
            raise ValueError("after_bytes and delay must be >= 0")
        if self.kind == "bulk_outcome":
            self.route = "bulk_start" if self.route == "*" else self.route
            if self.job_status not in JOB_OUTCOMES:
                raise ValueError(f"bulk_outcome needs job_status, one of {JOB_OUTCOMES}")
        if self.kind == "zip_drop":
            self.route = "bulk_download" if self.route == "*" else self.route
        if self.kind == "keep":
            self.route = "delete" if self.route == "*" else self.route
        if self.kind == "status" and self.status is None:
            self.status = 503
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError(f"invalid status {self.status}")
        if self.object_ids is not None:
            if isinstance(self.object_ids, str):
                self.object_ids = (self.object_ids,)
            self.object_ids = tuple(self.object_ids)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build from a JSON dict; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown FaultRule fields: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out = asdict(self)
        if self.object_ids is not None:
            out["object_ids"] = list(self.object_ids)
        return out

    def applies_to(self, route: str, method: str, object_ids: Iterable[str]) -> bool:
        """Whether this rule targets the request (ignoring ``times`` and ``probability``)."""
        if self.route == "*":
            if route == "admin":
                return False
        elif self.route != route:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        if self.object_ids is not None:
            wanted = set(self.object_ids)
            if not any(oid in wanted for oid in object_ids):
                return False
        return True


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int | None


@dataclass
class FaultDecision:
    """What to do to one request: an optional delay plus at most one non-latency fault."""

    delay: float = 0.0
    fault: FaultRule | None = None
    kinds: list[str] = field(default_factory=list)


class FaultInjector:
    """Thread-safe, seeded rule matcher."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:faults")
        self._rules: list[_ActiveRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule (rules are tried in the order they were added)."""
        with self._lock:
            self._rules.append(_ActiveRule(rule, rule.times))
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def has_rules(self) -> bool:
        """Whether any rule is active (cheap check before computing a request's object ids)."""
        return bool(self._rules)

    def rules(self) -> list[dict[str, Any]]:
        """Current rules with their remaining injection count."""
        with self._lock:
            return [{**a.rule.to_dict(), "remaining": a.remaining} for a in self._rules]

    def decide(self, route: str, method: str, object_ids: Sequence[str] = ()) -> FaultDecision:
        """Pick the faults for one request; spent rules are dropped."""
        decision = FaultDecision()
        with self._lock:
            if not self._rules:
                return decision
            for active in list(self._rules):
                if active.remaining is not None and active.remaining <= 0:
                    continue
                if not active.rule.applies_to(route, method, object_ids):
                    continue
                if decision.fault is not None and active.rule.kind != "latency":
                    continue
                if active.rule.probability < 1.0 and self._rng.random() >= active.rule.probability:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                if active.rule.kind == "latency":
                    decision.delay += active.rule.delay
                else:
                    decision.fault = active.rule
                decision.kinds.append(active.rule.kind)
            self._rules = [a for a in self._rules if a.remaining is None or a.remaining > 0]
        return decision
