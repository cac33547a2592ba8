"""Time conversions between Python values and the two forms 8x8 uses (ISO without zone, epoch ms)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pendulum

_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
#: What a point in time starts with: a whole calendar date, extended (2026-03-04) or basic (20260304).
_CALENDAR_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{8})([T ]|$)")
#: Epoch values at or above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 100_000_000_000

TimeLike = datetime | date | str | int | float


def parse_api_time(value: object) -> datetime | None:
    """
    Parse a timestamp from an 8x8 response into an aware UTC datetime.

    Accepts ISO-8601 from a calendar date on (read by pendulum, as Airflow reads times), with or without zone
    (no zone means UTC), with a fraction of any length, and
    epoch seconds or milliseconds as numbers or numeric strings. Empty values give ``None``.

    :raises ValueError: for a non-empty value that is none of these.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.match(value.strip())):
        number = float(value)
        seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("z"):
            text = text[:-1] + "Z"
        if not _CALENDAR_DATE.match(text):  # a year, a week or a time of day alone is no point in time
            raise ValueError(f"not a timestamp: {value!r}")
        try:  # ISO 8601 as Airflow reads it, the same on every Python (3.10's fromisoformat refuses many forms)
            parsed = pendulum.parse(text, tz="UTC", strict=True)
        except Exception as err:
            raise ValueError(f"not a timestamp: {value!r} ({err})") from None
        if not isinstance(parsed, datetime):
            raise ValueError(f"not a timestamp: {value!r}")
        utc = parsed.in_timezone("UTC")
        return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, timezone.utc)
    raise ValueError(f"not a timestamp: {value!r}")


def to_epoch_ms(value: TimeLike) -> int:
    """
    Convert a user-supplied point in time to epoch milliseconds, the unit of 8x8 filters.

    :param value: an aware or naive ``datetime`` (naive means UTC), a pendulum ``DateTime``, a ``date``
        (midnight UTC), an ISO-8601 string, or epoch milliseconds as an int or numeric string
        (values below 1e11 are taken as epoch seconds).
    :raises ValueError: with the offending value when it cannot be read.
    """
    if isinstance(value, bool):
        raise ValueError(f"Cannot use {value!r} as a time: give a datetime, an ISO-8601 string or epoch ms.")
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return round(aware.timestamp() * 1000)
    if isinstance(value, date):
        return to_epoch_ms(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))
    if isinstance(value, int | float):
        return int(value) if abs(value) >= _MS_THRESHOLD else round(value * 1000)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("Cannot use an empty string as a time: give a datetime, ISO-8601 or epoch ms.")
        try:
            parsed = parse_api_time(text)
        except ValueError:
            raise ValueError(
                f"Cannot read {value!r} as a time: use ISO-8601 (e.g. '2026-11-01T00:00:00Z') or epoch ms."
            ) from None
        assert parsed is not None
        return to_epoch_ms(parsed)
    raise ValueError(f"Cannot use {type(value).__name__} {value!r} as a time: give a datetime, ISO-8601 or epoch ms.")
