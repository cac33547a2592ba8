"""
What a run tells its log: progress while it copies, the bulk jobs it started, and its closing lines. Each line
is short enough for Airflow's log view, and says what it counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.transfer.summary import TransferSummary


class Progress:
    """Objects done (by outcome) and bytes copied of the total, logged at most every ``interval`` seconds."""

    def __init__(
        self, log: logging.Logger, total_objects: int | None, total_bytes: int | None, interval: float
    ) -> None:
        self.log = log
        self.total_objects = total_objects
        self.total_bytes = total_bytes
        self.interval = interval
        self.objects = 0
        self.bytes = 0
        self.outcomes: dict[str, int] = {}
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()

    def add(self, size: int, outcome: str = "copied") -> None:
        """
        One object done.

        :param size: bytes copied for it (0 when none were).
        :param outcome: ``copied``, ``skipped``, ``not ready`` or ``failed``.
        """
        with self._lock:
            self.objects += 1
            self.bytes += size
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            now = time.monotonic()
            if now - self._last < self.interval or self.objects == self.total_objects:
                return
            self._last = now
            elapsed = max(now - self.started, 1e-6)
            rate = self.bytes / elapsed
            kinds = ", ".join(
                f"{n} {k}" for k in ("copied", "skipped", "not ready", "failed") if (n := self.outcomes.get(k))
            )
            if self.total_objects is None or self.total_bytes is None:  # a stream: no totals yet
                self.log.info(
                    "Progress: %d objects done (%s), %.1f MB copied, %.1f MB/s",
                    self.objects,
                    kinds,
                    self.bytes / 1e6,
                    rate / 1e6,
                )
                return
            left = max(self.total_bytes - self.bytes, 0)
            eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
            self.log.info(
                "Progress: %d/%d objects done (%s), %.1f/%.1f MB copied (%.0f%%), %.1f MB/s, ETA %s",
                self.objects,
                self.total_objects,
                kinds,
                self.bytes / 1e6,
                self.total_bytes / 1e6,
                100 * self.bytes / self.total_bytes if self.total_bytes else 100,
                rate / 1e6,
                eta,
            )


def log_bulk_jobs(log: logging.Logger, jobs: Sequence[tuple[str | None, int]]) -> None:
    """
    The bulk jobs a run started, per region.

    :param log: where to log.
    :param jobs: the jobs, as (region, objects in the job).
    """
    regions: dict[str, int] = {}
    for region, _ in jobs:
        regions[str(region)] = regions.get(str(region), 0) + 1
    log.info(
        "Started %d bulk job(s) for %d object(s): %s (a zip per job; jobs are per region, split at the "
        "bulk size limit and where names repeat).",
        len(jobs),
        sum(count for _, count in jobs),
        ", ".join(f"{n} in {region}" for region, n in sorted(regions.items())),
    )


def log_summary(log: logging.Logger, summary: TransferSummary) -> None:
    """
    The closing lines: counts, what was not copied and deleted, bytes and time, destination, manifest.

    :param log: where to log.
    :param summary: the finished run's summary.
    """
    log.info(
        "Transfer finished: %d copied, %d restored and copied, %d skipped (already present), %d failed.",
        summary.copied,
        summary.restored,
        summary.skipped,
        summary.failed,
    )
    log.info("Not copied: %d archived, %d not ready. Deleted at 8x8: %d.", summary.archived, summary.not_ready,
             summary.deleted)  # fmt: skip
    log.info(
        "Moved %.1f MB in %.1f s (%d request(s), %d retries).",
        summary.bytes_copied / 1e6,
        summary.seconds,
        summary.requests,
        summary.retries,
    )
    log.info("Destination: %s", summary.destination)
    log.info("Manifest: %s", summary.manifest)
