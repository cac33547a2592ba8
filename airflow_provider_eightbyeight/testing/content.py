"""Deterministic, cheap-to-stream object content for the 8x8 CSS emulator.

Every object's bytes are derived from ``(seed, object_id)``: one 64 KiB pseudo-random block is
generated once per stream and block ``k`` of the object is that block rotated by a ``k``-dependent
offset, truncated to the object's size. Nothing larger than one write chunk is ever held in memory,
so a 2 GB object streams with flat memory. The MD5 is computed lazily and cached.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator

BLOCK_SIZE = 64 * 1024
"""Size of the pseudo-random block that every object's content is built from."""

CHUNK_SIZE = 256 * 1024
"""Default size of the pieces handed to the socket when streaming."""

_ROTATION_STEP = 40503


class ContentSource:
    """The bytes of one emulated object; thread-safe, with a lazily computed MD5."""

    __slots__ = ("_lock", "_md5", "object_id", "seed", "size")

    def __init__(self, seed: int | str, object_id: str, size: int) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self.seed = seed
        self.object_id = object_id
        self.size = size
        self._md5: str | None = None
        self._lock = threading.Lock()

    def _doubled_block(self) -> bytes:
        block = random.Random(f"{self.seed}:{self.object_id}").randbytes(BLOCK_SIZE)
        return block + block

    @staticmethod
    def _offset(block_index: int) -> int:
        return (block_index * _ROTATION_STEP + 17) % BLOCK_SIZE

    def iter_chunks(self, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the bytes ``[start, end)`` in pieces of at most ``chunk_size`` bytes."""
        stop = self.size if end is None else min(end, self.size)
        if start < 0 or start > stop:
            if start == stop:
                return
            raise ValueError(f"invalid range [{start}, {end}) for size {self.size}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        doubled = memoryview(self._doubled_block())
        pos = start
        while pos < stop:
            want = min(chunk_size, stop - pos)
            parts: list[memoryview] = []
            got = 0
            while got < want:
                index, inner = divmod(pos + got, BLOCK_SIZE)
                take = min(BLOCK_SIZE - inner, want - got)
                off = self._offset(index) + inner
                parts.append(doubled[off : off + take])
                got += take
            yield parts[0].tobytes() if len(parts) == 1 else b"".join(parts)
            pos += want

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Return the bytes ``[start, end)`` at once (only for small objects or ranges)."""
        return b"".join(self.iter_chunks(start, end))

    def md5(self) -> str:
        """Hex MD5 of the full content; computed once, then cached."""
        cached = self._md5
        if cached is not None:
            return cached
        with self._lock:
            if self._md5 is None:
                digest = hashlib.md5(usedforsecurity=False)
                for chunk in self.iter_chunks(chunk_size=1024 * 1024):
                    digest.update(chunk)
                self._md5 = digest.hexdigest()
            return self._md5

    def md5_ready(self) -> bool:
        """Whether the MD5 is already cached."""
        return self._md5 is not None
