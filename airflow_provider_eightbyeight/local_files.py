"""
Atomic local files: write under a hidden temporary name, rename onto the final name only on success.

Temporary names carry this host and process id (``.<name>.<host>-<pid>-<random>.part``), so a later run
can remove the ones a killed process left behind without touching those of a run still in progress.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

PART_SUFFIX = ".part"
#: This machine's name as temporary names carry it (a later run removes only its own host's leftovers).
HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"
#: A temporary name: ``.<name>.<host>-<pid>-<random>.part``.
TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{12}\.part$")


_RUN = uuid.uuid4().hex[:6]
_COUNTER = itertools.count()
_MADE: set[Path] = set()


#: Folders remembered as made (a set of paths; forgotten all at once beyond this).
MAX_REMEMBERED_FOLDERS = 10_000
#: Most file systems allow 255 bytes per name.
MAX_NAME_BYTES = 255


def temp_name(target: Path) -> Path:
    """The hidden temporary path for ``target``, in the same folder (so the rename is atomic), ≤ 255 bytes."""
    unique = f"{_RUN}{next(_COUNTER):06x}"[-12:].rjust(12, "0")
    tail = f".{HOST}-{os.getpid()}-{unique}{PART_SUFFIX}"
    room = MAX_NAME_BYTES - 1 - len(tail.encode())
    head = target.name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return target.with_name(f".{head}{tail}")


@contextmanager
def atomic_local_file(target: Path, *, replace: bool = True) -> Iterator[IO[bytes]]:
    """
    Write ``target`` through a temporary file; published on a clean exit, removed on an exception.

    :param replace: replace a file already at ``target``; when ``False`` the file is published only if
        nothing is there (a hard link, atomic), else :class:`FileExistsError` is raised and nothing changes.
    """
    folder = target.parent
    if folder not in _MADE:
        folder.mkdir(parents=True, exist_ok=True)
        if len(_MADE) >= MAX_REMEMBERED_FOLDERS:  # one folder per object must not grow memory without bound
            _MADE.clear()
        _MADE.add(folder)
    temp = temp_name(target)
    try:
        try:
            handle = open(temp, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # the folder was removed since it was made: make it again
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(temp, "wb")  # noqa: SIM115
        with handle:
            yield handle
    except BaseException:
        with suppress(FileNotFoundError):
            temp.unlink()
        raise
    try:
        if replace:
            os.replace(temp, target)
        else:
            _publish_new(temp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            temp.unlink()
        raise


def _publish_new(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` only if that name is free (never replacing another writer's file)."""
    try:
        os.link(temp, target)  # fails with FileExistsError if another writer got there first
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a small window remains)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.replace(temp, target)
        return
    os.unlink(temp)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(folders: Iterable[Path]) -> list[Path]:
    """Remove temporary files that processes of this host left when they died; returns what was removed."""
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            match = TEMP_NAME.match(entry.name)
            if not match or match["host"] != HOST or process_alive(int(match["pid"])):
                continue
            with suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
