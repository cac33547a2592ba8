"""
Keep the C allocator from growing with the number of objects copied.

glibc gives every thread that allocates its own malloc arena (up to 8 per core). A transfer's copy threads
allocate and free buffers in turn for hours; each arena keeps its free pieces, so the process's memory grows
with the number of objects although the Python heap does not (measured: +68.8 MB at 300,000 objects with 32
copy threads, +37.5 MB with ``MALLOC_ARENA_MAX=2``; ``benchmarks/README.md``). :func:`limit_arenas` caps the
arenas of the task's process before the copy threads start, unless the deployment set ``MALLOC_ARENA_MAX``
itself. Nothing happens on other C libraries (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

#: The arenas a transfer process keeps (glibc ``M_ARENA_MAX``); the copy threads share them.
ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h
_done = threading.Lock()
_applied: list[bool] = []


def limit_arenas(arenas: int = ARENAS) -> bool:
    """
    Cap glibc's malloc arenas for this process (once); ``True`` if the cap is in force.

    Left alone when ``MALLOC_ARENA_MAX`` is set (the deployment decided) or the C library is not glibc.
    """
    with _done:
        if _applied:
            return _applied[0]
        _applied.append(False)
        if os.environ.get("MALLOC_ARENA_MAX"):
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        _applied[0] = mallopt(_M_ARENA_MAX, arenas) == 1
        return _applied[0]
