"""When and how long to retry a request to 8x8: exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

#: Statuses worth another try: rate limiting and server-side failures.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


#: The longest ``Retry-After`` honoured (seconds), unless the connection's ``retry_max_wait`` is longer; a longer
#: wish is cut to it (and logged by the hook).
MAX_RETRY_AFTER = 900.0


def is_retryable_status(status: int) -> bool:
    """HTTP 408, 429 and every 5xx are retried; other statuses are final."""
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``.

    Negative or unreadable values give ``None`` (fall back to backoff).
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000" (RFC 5322: zone unknown) and bare dates: HTTP dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """
    Retry settings of one hook.

    :param max_retries: retries after the first attempt of one operation (0 = no retry).
    :param backoff: base delay in seconds; retry ``n`` (from 0) waits about ``backoff * 2**n``.
    :param max_wait: upper bound of a backoff wait.
    :param max_retry_after: upper bound of a wait the server asks for with ``Retry-After`` (never below
        ``max_wait``): 8x8 knows best when to come back, up to this.
    """

    max_retries: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    max_retry_after: float = MAX_RETRY_AFTER

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``retry_number`` (0-based): Retry-After if given, else jittered backoff."""
        if retry_after is not None:
            return min(retry_after, max(self.max_retry_after, self.max_wait))
        ceiling = min(self.max_wait, self.backoff * (2**retry_number))
        # "Equal jitter": at least half the exponential step, so waits grow, but never in lock-step.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def budget(self) -> RetryBudget:
        """A fresh retry budget for one logical operation (a call, a download with its retries)."""
        return RetryBudget(self.max_retries)


class RetryBudget:
    """Retries left for one operation; shared by every step of it so retries never multiply."""

    def __init__(self, retries: int) -> None:
        self._left = retries
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Use one retry; ``False`` when none is left."""
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            self.used += 1
            return True

    @property
    def left(self) -> int:
        """Retries not used yet."""
        return self._left
