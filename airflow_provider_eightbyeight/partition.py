"""
Split a long period into time windows, one mapped task each: a year's backfill becomes many small
transfers that Airflow's executor spreads over workers (Local, Celery, Kubernetes). Pure code.

.. code-block:: python

    EightByEightTransferOperator.partial(task_id="copy", destination=...).expand_kwargs(
        windows("2026-01-01", "2027-01-01", every="1d")
    )
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.timeutil import TimeLike, to_epoch_ms

#: More windows than this is almost certainly a mistake (e.g. ``every="1m"`` over a year).
MAX_WINDOWS = 10_000
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_STEP = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$")


def parse_step(every: str | timedelta) -> timedelta:
    """
    A window length: a ``timedelta`` or text such as ``"1d"``, ``"6h"``, ``"30m"``, ``"1w"``.

    :raises ConfigurationError: naming the value and the accepted forms.
    """
    if isinstance(every, timedelta):
        step = every
    else:
        match = _STEP.match(str(every))
        if not match:
            raise ConfigurationError(
                f"every={every!r} is not a window length; use e.g. '1d', '6h', '30m', '1w' or a timedelta"
            )
        step = timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    if step <= timedelta(0):
        raise ConfigurationError(f"every={every!r} must be longer than zero")
    return step


def windows(
    start: TimeLike,
    end: TimeLike,
    every: str | timedelta = "1d",
    *,
    max_windows: int = MAX_WINDOWS,
) -> list[dict[str, str]]:
    """
    Consecutive windows ``[created_after, created_before)`` covering ``[start, end)``, as keyword
    arguments for ``.expand_kwargs()`` of the transfer or list operator. The last window ends at ``end``.

    :param start: inclusive start (datetime, ISO-8601 string or epoch ms).
    :param end: exclusive end.
    :param every: window length (``"1d"``, ``"6h"``, a ``timedelta``...).
    :param max_windows: refuse to produce more windows than this.
    :return: ``[{"created_after": "2026-01-01T00:00:00Z", "created_before": "2026-01-02T00:00:00Z"}, ...]``
    :raises ConfigurationError: for an empty period, a bad length or too many windows.
    """
    try:
        first, last = to_epoch_ms(start), to_epoch_ms(end)
    except ValueError as err:
        raise ConfigurationError(str(err)) from None
    if last <= first:
        raise ConfigurationError(f"The period is empty: end ({end!r}) must be after start ({start!r})")
    step_ms = int(parse_step(every).total_seconds() * 1000)
    count = -(-(last - first) // step_ms)
    if count > max_windows:
        raise ConfigurationError(
            f"{count} windows of {every!r} between {start!r} and {end!r} is more than {max_windows}",
            hint="Use a longer window (every=...) or raise max_windows",
        )
    out = []
    for index in range(count):
        lower = first + index * step_ms
        upper = min(lower + step_ms, last)
        out.append({"created_after": _iso(lower), "created_before": _iso(upper)})
    return out


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if epoch_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")
