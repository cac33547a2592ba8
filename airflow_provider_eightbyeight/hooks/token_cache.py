"""
A process-wide cache of 8x8 bearer tokens, shared by every hook of the same connection.

8x8 asks clients not to fetch a token per call. Tokens are keyed by (token URL, API key, a digest of
the secret) and refreshed a margin before they expire. One lock per key makes concurrent callers wait
for a single token request instead of each sending their own.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Refresh this long before expiry (or at half the lifetime for tokens shorter than twice this).
REFRESH_MARGIN_SECONDS = 60.0

CacheKey = tuple[str, str, str]


def cache_key(token_url: str, api_key: str, secret: str) -> CacheKey:
    """The cache key of one credential; the secret only enters as a SHA-256 digest."""
    return (token_url, api_key, hashlib.sha256(secret.encode("utf-8")).hexdigest())


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when to stop using it (a ``time.monotonic()`` deadline)."""

    value: str = field(repr=False)
    refresh_at: float
    lifetime: float
    products: tuple[str, ...] = ()

    @classmethod
    def issued(
        cls, value: str, lifetime: float, products: tuple[str, ...] = (), now: float | None = None
    ) -> AccessToken:
        """A token received at ``now`` (monotonic) that 8x8 says lives ``lifetime`` seconds."""
        start = time.monotonic() if now is None else now
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        return cls(value=value, refresh_at=start + lifetime - margin, lifetime=lifetime, products=products)

    def is_fresh(self, now: float | None = None) -> bool:
        """Whether the token may still be used."""
        return (time.monotonic() if now is None else now) < self.refresh_at


class _Entry:
    __slots__ = ("lock", "token")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: AccessToken | None = None


class TokenCache:
    """Tokens by credential; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[CacheKey, _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, key: CacheKey) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            return entry

    def get(
        self,
        key: CacheKey,
        fetch: Callable[[], AccessToken],
        *,
        rejected: str | None = None,
    ) -> AccessToken:
        """
        The cached token for ``key``, fetching one if there is none or it is due for refresh.

        :param fetch: gets a new token (called with the key's lock held: one request at a time).
        :param rejected: a token value 8x8 just refused (HTTP 401): replace it, unless another thread
            already has.
        """
        entry = self._entry(key)
        token = entry.token
        if token is not None and token.is_fresh() and token.value != rejected:
            return token
        with entry.lock:
            token = entry.token
            if token is not None and token.is_fresh() and token.value != rejected:
                return token
            entry.token = None
            token = fetch()
            entry.token = token
            return token

    def peek(self, key: CacheKey) -> AccessToken | None:
        """The token cached for ``key`` (fresh or not) without fetching one; ``None`` if there is none."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry.token

    def invalidate(self, key: CacheKey) -> None:
        """Forget the token of ``key`` (8x8 refused it, or its credentials are no longer the connection's)."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            entry.token = None

    def clear(self) -> None:
        """Forget every token (tests use this)."""
        with self._lock:
            self._entries.clear()


#: The one cache of this process.
TOKEN_CACHE = TokenCache()
