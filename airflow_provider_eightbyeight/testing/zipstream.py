"""Streaming ZIP (stored, no compression) built on the fly with flat memory."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone

from airflow_provider_eightbyeight.testing.content import CHUNK_SIZE
from airflow_provider_eightbyeight.testing.state import BulkEntry


class _Sink:
    """Write-only, tell-able, non-seekable buffer that zipfile writes into; drained by the generator."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pending = 0
        self._position = 0

    def write(self, data: bytes) -> int:
        if data:
            self._parts.append(bytes(data))
            self._pending += len(data)
            self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = []
        self._pending = 0
        return data


def _date_time(ms: int) -> tuple[int, int, int, int, int, int]:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if dt.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def iter_zip(
    entries: list[BulkEntry], chunk_size: int = CHUNK_SIZE, *, compression: str = "deflate"
) -> Iterator[bytes]:
    """Yield a zip of ``entries`` (entry name = objectName), DEFLATE-compressed or STORED, piece by piece."""
    method = zipfile.ZIP_DEFLATED if compression == "deflate" else zipfile.ZIP_STORED
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=method, allowZip64=True)
    try:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=_date_time(entry.created_ms))
            info.compress_type = method
            info.file_size = entry.content.size
            with archive.open(info, "w", force_zip64=entry.content.size >= zipfile.ZIP64_LIMIT) as out:
                for chunk in entry.content.iter_chunks(chunk_size=chunk_size):
                    out.write(chunk)
                    yield sink.take()
            data = sink.take()
            if data:
                yield data
        archive.close()
        data = sink.take()
        if data:
            yield data
    finally:
        # On an aborted stream (client gone) drop the archive without writing anything further.
        archive._writing = False  # type: ignore[attr-defined]
        archive.fp = None
