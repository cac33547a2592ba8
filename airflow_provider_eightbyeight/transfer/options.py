"""
How a transfer copies (:class:`TransferOptions`) and what its run does besides (:class:`RunPolicy`): the choices
the operator and the run accept, validated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.hooks.eightbyeight import BULK_LIMIT_BYTES
from airflow_provider_eightbyeight.transfer import storage
from airflow_provider_eightbyeight.transfer.paths import DEFAULT_PATH_TEMPLATE, validate_template

STRATEGIES = ("objects", "bulk", "auto")
ON_ARCHIVED = ("skip", "fail", "restore")
ON_NOT_READY = ("wait", "fail", "report")
#: "auto" picks bulk zips for at least this many objects of at most this average size.
AUTO_BULK_MIN_OBJECTS = 50
AUTO_BULK_MAX_AVERAGE_BYTES = 2 * 1024 * 1024
#: Objects copied at once by default: enough to hide a WAN round trip to 8x8 (benchmarks/README.md, "Scale
#: tables": at 80 ms per request 64 workers copy ~5x as fast as 8 and 1.5x as fast as 32, and no slower than
#: fewer on loopback; 96 and 128 add nothing); halved while 8x8 answers 429.
DEFAULT_MAX_WORKERS = 64
#: The most objects a run copies at the same time.
MAX_WORKERS = 128


@dataclass(frozen=True)
class TransferOptions:
    """
    How to copy.

    :param path_template: where each object lands under the destination (see :mod:`.paths`).
    :param max_workers: objects copied at the same time.
    :param overwrite: copy even objects already present and verified.
    :param write_metadata: write ``<file>.meta.json`` beside each object with its 8x8 metadata.
    :param block_size: upload part size for object stores.
    :param chunk_size: bytes per read from 8x8.
    :param progress_interval: seconds between progress lines in the log.
    :param prove_skips: read back and hash every copy found at the destination instead of trusting
        earlier manifests or sidecars (set by runs that delete at 8x8).
    """

    path_template: str = DEFAULT_PATH_TEMPLATE
    max_workers: int = DEFAULT_MAX_WORKERS
    overwrite: bool = False
    write_metadata: bool = False
    block_size: int = storage.DEFAULT_BLOCK_SIZE
    chunk_size: int = 1024 * 1024
    progress_interval: float = 10.0
    prove_skips: bool = False

    def __post_init__(self) -> None:
        validate_template(self.path_template)
        check_options(max_workers=self.max_workers)
        if self.block_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"block_size must be at least 5 MiB (the S3 part minimum), got {self.block_size}")


@dataclass(frozen=True)
class RunPolicy:
    """
    What a run does besides copying AVAILABLE objects.

    :param strategy: ``"objects"``, ``"bulk"`` or ``"auto"``.
    :param on_archived: ARCHIVED objects: ``"skip"`` (record them as archived), ``"fail"``, or
        ``"restore"`` (restore, wait, copy).
    :param on_not_ready: PENDING objects and other states that are neither AVAILABLE nor ARCHIVED:
        ``"wait"`` for them (then fail the task naming those still not ready), ``"fail"`` the task at once
        naming them (no wait; everything else is copied first), or only ``"report"`` them.
    :param delete_after_transfer: delete at 8x8 what this run proved it holds.
    :param restore_expiration_days: days (1..10) 8x8 keeps a restored copy.
    :param poll_interval: seconds between bulk job checks.
    :param bulk_timeout: seconds to wait for bulk jobs (then they are cancelled and their objects
        downloaded one by one).
    :param restore_poll_interval: seconds between checks of restoring objects.
    :param restore_timeout: seconds to wait for restores.
    :param not_ready_poll_interval: seconds between checks of PENDING objects.
    :param not_ready_timeout: seconds to wait for PENDING objects when no restore is waited for.
    :param bulk_limit_bytes: the most bytes one bulk job may hold.
    """

    strategy: str = "objects"
    on_archived: str = "skip"
    on_not_ready: str = "wait"
    delete_after_transfer: bool = False
    restore_expiration_days: int = 7
    poll_interval: float = 15.0
    bulk_timeout: float = 6 * 3600
    restore_poll_interval: float = 600.0
    restore_timeout: float = 26 * 3600
    not_ready_poll_interval: float = 60.0
    not_ready_timeout: float = 6 * 3600
    bulk_limit_bytes: int = BULK_LIMIT_BYTES

    def __post_init__(self) -> None:
        check_policy(**{name: getattr(self, name) for name in POLICY_CHECKS})


def check_options(**given: Any) -> None:
    """
    The checks of :class:`TransferOptions` on the arguments ``given`` (by field name), for a caller that has
    only some of them yet (an operator at parse time, before its templates are rendered).

    :raises ConfigurationError: naming the first argument refused.
    """
    if "max_workers" in given:
        arguments.whole_number("max_workers", given["max_workers"], 1, MAX_WORKERS)


def _check_seconds(name: str) -> Callable[[Any], object]:
    return lambda value: arguments.positive_seconds(name, value)


#: :class:`RunPolicy`'s field -> its check (what it accepts is named in the error).
POLICY_CHECKS: dict[str, Callable[[Any], object]] = {
    "strategy": lambda value: arguments.choice("strategy", value, STRATEGIES),
    "on_archived": lambda value: arguments.choice("on_archived", value, ON_ARCHIVED),
    "on_not_ready": lambda value: arguments.choice("on_not_ready", value, ON_NOT_READY),
    "restore_expiration_days": lambda value: arguments.restore_days("restore_expiration_days", value),
    **{
        name: _check_seconds(name)
        for name in (
            "poll_interval",
            "bulk_timeout",
            "restore_poll_interval",
            "restore_timeout",
            "not_ready_poll_interval",
            "not_ready_timeout",
        )
    },
}


def check_policy(**given: Any) -> None:
    """
    The checks of :class:`RunPolicy` on the arguments ``given`` (by field name); see :func:`check_options`.

    :raises ConfigurationError: naming the first argument refused.
    """
    for name, value in given.items():
        POLICY_CHECKS[name](value)
