"""Configuration of the 8x8 CSS emulator: accounts (API keys) and behaviour switches."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

DEFAULT_REGIONS = ("us-west", "us-east", "uk", "ap", "ca")
OBJECT_STATES = ("PENDING", "AVAILABLE", "ARCHIVED", "REVOKED", "DELETED", "FAILED")
PRESIGN_SHAPES = ("url", "presignedUrl", "text", "json-string", "redirect")


@dataclass(frozen=True)
class Account:
    """One Admin Console API key as the emulator sees it."""

    key: str = "emulator-key"
    secret: str = "emulator-secret"
    products: tuple[str, ...] = ("storage",)
    regions: tuple[str, ...] = ("us-east",)
    can_edit: bool = True
    status: str = "approved"

    def __post_init__(self) -> None:
        object.__setattr__(self, "products", tuple(self.products))
        object.__setattr__(self, "regions", tuple(self.regions))
        if not self.key or not self.secret:
            raise ValueError("Account key and secret must be non-empty")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        """Build an account from a JSON-style dict (unknown keys are an error)."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "key": self.key,
            "secret": self.secret,
            "products": list(self.products),
            "regions": list(self.regions),
            "can_edit": self.can_edit,
            "status": self.status,
        }


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


#: Days before today in the CLI's default window (``--days``).
DEFAULT_RECENT_DAYS = 7


def recent_window(days: int = DEFAULT_RECENT_DAYS, now: datetime | None = None) -> tuple[datetime, datetime]:
    """
    A ``(created_start, created_end)`` window around now: the ``days`` whole UTC days before today, and today up
    to ``now``, so the data intervals of yesterday (and today, so far) hold objects. The CLI seeds this window by
    default (``--days``); ``EmulatorConfig()`` keeps its fixed 2026-11-01..08 window.

    >>> start, end = recent_window(7)
    >>> config = EmulatorConfig(created_start=start, created_end=end)  # doctest: +SKIP

    :param days: Whole UTC days before today to include (0: today only); at least 0.
    :param now: The window's end (naive: UTC); default the current time in whole seconds (the emulated clock
        starts at it).
    :return: The window's start (a UTC midnight) and end, both timezone-aware UTC.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be >= 0 (whole days before today), got {days!r}")
    if now is None:
        end = datetime.now(timezone.utc).replace(microsecond=0)
    else:
        end = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    start = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return start, end


@dataclass
class EmulatorConfig:
    """Everything that shapes the emulator's data and behaviour (see the module docs of ``testing``).

    Most switches are read per request, so changing ``emulator.config.<field>`` on a running
    emulator takes effect for the next request; data-shaping fields (seed, objects, sizes, dates,
    fractions, regions, accounts) only apply at construction.

    The seeded objects' ``createdTime`` lies in ``created_start``..``created_end``, by default the fixed week
    2026-11-01..08 (the same data for one seed, whatever today is); :func:`recent_window` gives a window around
    now instead (the CLI's default).
    """

    seed: int = 42
    objects_per_region: int = 60
    regions: tuple[str, ...] = DEFAULT_REGIONS
    accounts: tuple[Account, ...] = (Account(),)
    size_range: tuple[int, int] = (1024, 64 * 1024)
    created_start: datetime = field(default_factory=lambda: _utc(2026, 11, 1))
    created_end: datetime = field(default_factory=lambda: _utc(2026, 11, 8))
    archived_fraction: float = 0.05
    revoked_fraction: float = 0.03
    multipart_checksum_fraction: float = 0.0
    token_lifetime: int = 1799
    bulk_delay: float = 2.0
    #: "2 GB" read as 2,000,000,000 bytes (the smaller reading; the lenient profile uses 2 GiB).
    bulk_limit_bytes: int = 2_000_000_000
    restore_delay: float = 2.0
    #: What a restoring object shows until it is AVAILABLE: "PENDING" (strict) or "ARCHIVED" (lenient).
    restore_pending_state: str = "PENDING"
    #: Status for content of a non-AVAILABLE object; ``None`` (strict): 400, 404, 409 or 410 by object, by seed.
    non_available_content_status: int | None = None
    #: Objects with equal sort values come back in a different order on each search (strict) or by id.
    unstable_ties: bool = True
    #: "deflate" (strict) or "stored" zip entries.
    zip_compression: str = "deflate"
    #: Unknown (or other-region) ids in DELETE /bulk: "404" (strict: the known ids are still deleted and the
    #: answer is 404 naming the unknown ones) or "ignore" (204).
    delete_unknown: str = "404"
    #: Time values in createdTime/updatedTime filters: "epoch_ms" only (strict: ISO is a 400) or "any".
    filter_times: str = "epoch_ms"
    limit_over_max: str = "error"
    total_mode: str = "records"
    #: "object" (2026 rev.: one page object) or "list" (3.1.6: an array holding the page object).
    search_shape: str = "object"
    #: "offset" (2026 rev.: pageKey is a record offset, the reply gives the next one) or "page"
    #: (3.1.6 reading: pageKey is a page number and the reply echoes the current page's number).
    page_key_mode: str = "offset"
    presign_shape: str = "url"
    strict: bool = False
    api_versions: tuple[str, ...] = ("v3",)
    presign_ttl: int = 1800
    zip_content_type: str = "application/octet-stream"
    max_body_bytes: int = 32 * 1024 * 1024
    log_requests: bool = False
    #: Count requests per object id (``EightByEightEmulator.object_requests()``), e.g. to prove an id was never
    #: downloaded or deleted; off by default (memory grows with the ids requested).
    record_object_requests: bool = False
    #: Serve HTTPS with a throwaway CA made at start (see ``EightByEightEmulator.ca_path``); read at start.
    tls: bool = False

    def __post_init__(self) -> None:
        self.regions = tuple(self.regions)
        self.api_versions = tuple(self.api_versions)
        self.accounts = tuple(a if isinstance(a, Account) else Account.from_dict(a) for a in self.accounts)
        self.size_range = (int(self.size_range[0]), int(self.size_range[1]))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for inconsistent settings."""
        if not self.regions:
            raise ValueError("regions must not be empty")
        if not self.accounts:
            raise ValueError("at least one account is required")
        keys = [a.key for a in self.accounts]
        if len(set(keys)) != len(keys):
            raise ValueError("account keys must be unique")
        low, high = self.size_range
        if low < 0 or high < low:
            raise ValueError(f"size_range must be (min, max) with 0 <= min <= max, got {self.size_range}")
        if self.objects_per_region < 0:
            raise ValueError("objects_per_region must be >= 0")
        if self.created_end < self.created_start:
            raise ValueError("created_end must not be before created_start")
        for name in ("archived_fraction", "revoked_fraction", "multipart_checksum_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.archived_fraction + self.revoked_fraction > 1.0:
            raise ValueError("archived_fraction + revoked_fraction must not exceed 1")
        if self.restore_pending_state not in ("ARCHIVED", "PENDING"):
            raise ValueError("restore_pending_state must be 'ARCHIVED' or 'PENDING'")
        if self.limit_over_max not in ("error", "clamp"):
            raise ValueError("limit_over_max must be 'error' or 'clamp'")
        if self.total_mode not in ("records", "pages"):
            raise ValueError("total_mode must be 'records' or 'pages'")
        if self.search_shape not in ("object", "list"):
            raise ValueError("search_shape must be 'object' or 'list'")
        if self.page_key_mode not in ("offset", "page"):
            raise ValueError("page_key_mode must be 'offset' or 'page'")
        if self.presign_shape not in PRESIGN_SHAPES:
            raise ValueError(f"presign_shape must be one of {PRESIGN_SHAPES}")
        if self.non_available_content_status is not None and not 400 <= self.non_available_content_status <= 499:
            raise ValueError("non_available_content_status must be a 4xx code (or None: by seed)")
        if self.zip_compression not in ("deflate", "stored"):
            raise ValueError("zip_compression must be 'deflate' or 'stored'")
        if self.delete_unknown not in ("404", "ignore"):
            raise ValueError("delete_unknown must be '404' or 'ignore'")
        if self.filter_times not in ("epoch_ms", "any"):
            raise ValueError("filter_times must be 'epoch_ms' or 'any'")
        if self.token_lifetime < 1:
            raise ValueError("token_lifetime must be >= 1 second")

    @classmethod
    def lenient(cls, **overrides: Any) -> EmulatorConfig:
        """
        The kinder readings of the contract (this emulator's defaults before it became strict): restoring
        objects stay ARCHIVED, content of non-AVAILABLE objects is a 400, ties sort by id, zips are STORED,
        unknown ids in deletes are ignored, ISO times in filters are accepted, bulk jobs hold up to 2 GiB.
        """
        kind = {
            "restore_pending_state": "ARCHIVED",
            "non_available_content_status": 400,
            "unstable_ties": False,
            "zip_compression": "stored",
            "delete_unknown": "ignore",
            "filter_times": "any",
            "bulk_limit_bytes": 2 * 1024**3,
        }
        return cls(**{**kind, **overrides})

    def content_refusal_status(self, object_id: str) -> int:
        """The status for content of a non-AVAILABLE object (fixed, or chosen by seed per object)."""
        if self.non_available_content_status is not None:
            return self.non_available_content_status
        return (400, 404, 409, 410)[zlib.crc32(f"{self.seed}:{object_id}".encode()) % 4]

    def account_regions(self) -> tuple[str, ...]:
        """The first account's regions (handy for tests and the CLI)."""
        return self.accounts[0].regions

    @staticmethod
    def parse_states(states: Sequence[str] | str | None) -> tuple[str, ...] | None:
        """Normalise a state filter argument (``"A,B"`` or a sequence); validates names."""
        if states is None:
            return None
        items = states.split(",") if isinstance(states, str) else list(states)
        out = tuple(s.strip().upper() for s in items if s.strip())
        for state in out:
            if state not in OBJECT_STATES:
                raise ValueError(f"unknown object state {state!r}; expected one of {OBJECT_STATES}")
        return out
