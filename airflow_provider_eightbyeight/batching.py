"""
Which objects may share one bulk zip job (pure): the one batching rule of the hook and of a run.

A job holds at most :data:`BULK_LIMIT_BYTES` of ``storedBytes`` (8x8's 2 GB cap; an object of unknown size
counts as the whole limit, so it has a job of its own), at most :data:`BULK_MAX_OBJECTS` objects (what a run
keeps in memory per job) and never one entry name twice: a zip's entries are named by ``objectName``
(css-api.md §9), so two objects of one name in one zip could not be told apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.models import StoredObject

#: 8x8's cap on one bulk job (2 GB of ``storedBytes``).
BULK_LIMIT_BYTES = 2_000_000_000
#: The most objects in one bulk job (8x8 caps a job at 2 GB; this bounds the memory a batch needs).
BULK_MAX_OBJECTS = 5000

T = TypeVar("T")


def job_bytes(obj: StoredObject, limit: int) -> int:
    """Bytes ``obj`` takes in a job: its size, or the whole ``limit`` when 8x8 did not say."""
    return obj.size if obj.size is not None else limit


def entry_name(obj: StoredObject) -> str:
    """The name of ``obj``'s entry in a zip: its ``objectName`` (its id when it has none)."""
    return obj.name or obj.id


class Batch(Generic[T]):
    """
    One job's items while it fills: their bytes and entry names.

    :param limit: the most bytes of the job.
    :param max_objects: the most items of the job.
    """

    def __init__(self, limit: int = BULK_LIMIT_BYTES, max_objects: int = BULK_MAX_OBJECTS) -> None:
        self.limit = limit
        self.max_objects = max_objects
        self.items: list[T] = []
        self.names: set[str] = set()
        self.bytes = 0

    def takes(self, obj: StoredObject) -> bool:
        """Whether ``obj`` may join: room for one more, a name not in the job yet, its bytes within the limit."""
        return (
            len(self.items) < self.max_objects
            and entry_name(obj) not in self.names
            and self.bytes + job_bytes(obj, self.limit) <= self.limit
        )

    def add(self, item: T, obj: StoredObject) -> None:
        """Put ``item`` (``obj``, or what stands for it) in the job."""
        self.items.append(item)
        self.names.add(entry_name(obj))
        self.bytes += job_bytes(obj, self.limit)

    @property
    def full(self) -> bool:
        """Whether nothing more can join (the object count or the byte limit is reached)."""
        return len(self.items) >= self.max_objects or self.bytes >= self.limit


class Filling(Generic[T]):
    """
    The jobs filling at once, per group (a region: a job is one region's): an item joins the first job of its
    group that takes it (first fit), and a group keeps at most ``max_filling`` jobs open (more are needed only
    when many objects share names), so memory holds a bounded number of items.

    :param limit: the most bytes of a job.
    :param max_objects: the most items of a job.
    :param max_filling: the most jobs filling at once per group.
    """

    def __init__(self, limit: int, max_objects: int = BULK_MAX_OBJECTS, max_filling: int = 8) -> None:
        self.limit = limit
        self.max_objects = max_objects
        self.max_filling = max_filling
        self._groups: dict[Any, list[Batch[T]]] = {}

    def add(self, group: Any, item: T, obj: StoredObject) -> list[T] | None:
        """Put ``item`` in a job of ``group``; returns a job's items to start now (full, or the oldest), if any."""
        batches = self._groups.setdefault(group, [])
        batch = next((b for b in batches if b.takes(obj)), None)
        if batch is None:
            batch = Batch(self.limit, self.max_objects)
            batches.append(batch)
        batch.add(item, obj)
        if batch.full:
            batches.remove(batch)
            return batch.items
        if len(batches) > self.max_filling:
            return batches.pop(0).items
        return None

    def drain(self) -> Iterator[tuple[Any, list[T]]]:
        """Every job still filling, as (group, items), oldest first; none is left afterwards."""
        groups, self._groups = self._groups, {}
        for group, batches in groups.items():
            for batch in batches:
                yield group, batch.items


def check_fits(obj: StoredObject, limit: int) -> None:
    """
    Refuse an object no job can hold.

    :raises ConfigurationError: for an object larger than ``limit`` (download it on its own instead).
    """
    size = job_bytes(obj, limit)
    if size > limit:
        raise ConfigurationError(
            f"Object {obj.id} ({size} bytes) exceeds the {limit} byte bulk download limit",
            hint="Download it with the 'objects' strategy instead of a bulk zip",
        )


def plan(objects: Iterable[StoredObject], limit: int = BULK_LIMIT_BYTES) -> list[list[StoredObject]]:
    """
    Split ``objects`` into jobs in the given order: a job is closed when the next object may not join it.

    :raises ConfigurationError: for an object larger than ``limit``.
    """
    batches: list[list[StoredObject]] = []
    current: Batch[StoredObject] = Batch(limit)
    for obj in objects:
        check_fits(obj, limit)
        if current.items and not current.takes(obj):
            batches.append(current.items)
            current = Batch(limit)
        current.add(obj, obj)
    if current.items:
        batches.append(current.items)
    return batches
