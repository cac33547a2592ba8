"""
What is at the destination, in bounded memory: one listing per folder, cached for the folders in use.

A run asks, for every object, whether a file is already where its copy would go. Asking the store once per
object costs a request per object; listing each folder once and keeping every listing costs memory per
object. :class:`FolderCache` lists each folder once and keeps the listings of the folders used most
recently, up to :data:`MAX_CACHED_ENTRIES` names in all (objects arrive in creation order, so a
date-based path template uses a few folders at a time). A folder with more names than that is not cached:
its files are looked up one by one (one request per object, never more).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from airflow_provider_eightbyeight.transfer import storage

#: The most file names kept from folder listings (about 150 bytes each).
MAX_CACHED_ENTRIES = 20_000


class FolderCache:
    """
    File sizes at the destination by folder (see the module docs). Thread-safe; folders are listed in
    parallel, each once. Files are named by their path relative to ``root`` (plain strings: no path object
    is built per question, only per listing or lookup).

    :param root: the destination (an ``ObjectStoragePath``).
    :param max_entries: the most names kept from listings (default :data:`MAX_CACHED_ENTRIES`).
    """

    def __init__(self, root: Any, max_entries: int | None = None) -> None:
        self.root = root
        self.max_entries = MAX_CACHED_ENTRIES if max_entries is None else max_entries
        self._listings: OrderedDict[str, dict[str, int] | None] = OrderedDict()  # None: too big, ask per file
        self._entries = 0
        self._lock = threading.Lock()
        self._folder_locks: dict[str, threading.Lock] = {}
        self.listings = 0
        self.lookups = 0

    @property
    def cached_names(self) -> int:
        """How many file names the cached listings hold now (at most ``max_entries``)."""
        return self._entries

    def size(self, relative: str) -> int | None:
        """The size of the file at ``relative`` (under the root), or ``None`` if there is none."""
        key, _, name = relative.rpartition("/")
        with self._lock:
            if key in self._listings:
                sizes = self._cached(key)
                if sizes is not None:
                    return sizes.get(name)
                big = True
            else:
                big = False
                lock = self._folder_locks.setdefault(key, threading.Lock())
        if big:
            return self._lookup(relative)
        with lock:  # one listing per folder; other folders are listed in parallel
            with self._lock:
                listed_already = key in self._listings
                sizes = self._cached(key)
            if listed_already:
                return sizes.get(name) if sizes is not None else self._lookup(relative)
            listed = storage.folder_sizes(self.root / key if key else self.root)
            with self._lock:
                self.listings += 1
                self._store(key, listed)
                self._folder_locks.pop(key, None)
        return listed.get(name)

    def remember(self, relative: str, size: int) -> None:
        """A file this run wrote at ``relative``."""
        key, _, name = relative.rpartition("/")
        with self._lock:
            sizes = self._cached(key)
            if sizes is None:
                return  # not cached (never listed, or too big): the store is asked when needed
            if name not in sizes:
                self._entries += 1
            sizes[name] = size
            if len(sizes) > self.max_entries:
                self._drop(key)
                self._listings[key] = None
            self._trim()

    def forget(self, relative: str) -> None:
        """Forget the listing of ``relative``'s folder (another writer changed it)."""
        with self._lock:
            key = relative.rpartition("/")[0]
            if self._listings.get(key) is not None:
                self._drop(key)

    def clear(self) -> None:
        """Forget every listing."""
        with self._lock:
            self._listings.clear()
            self._entries = 0

    # ------------------------------------------------------------------ internals (under the lock)

    def _cached(self, key: str) -> dict[str, int] | None:
        sizes = self._listings.get(key)
        if key in self._listings:
            self._listings.move_to_end(key)
        return sizes

    def _store(self, key: str, listed: dict[str, int]) -> None:
        if key in self._listings:
            self._drop(key)
        if len(listed) > self.max_entries:
            self._listings[key] = None
            return
        self._listings[key] = listed
        self._entries += len(listed)
        self._trim()

    def _drop(self, key: str) -> None:
        sizes = self._listings.pop(key, None)
        if sizes:
            self._entries -= len(sizes)

    def _trim(self) -> None:
        while self._entries > self.max_entries and len(self._listings) > 1:
            oldest = next(iter(self._listings))
            self._drop(oldest)

    def _lookup(self, relative: str) -> int | None:
        self.lookups += 1
        return storage.file_size(self.root / relative)
