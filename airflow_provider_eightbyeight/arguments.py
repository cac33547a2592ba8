"""
The checks of a user's arguments (pure): each raises :class:`~.errors.ConfigurationError` (a ``ValueError``)
naming the argument, the value it got and what it accepts.

One home for each rule: the hook's verbs, the transfer's options and the operators call these, so an argument
is refused with the same words wherever it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_eightbyeight.errors import ConfigurationError

#: Days 8x8 keeps a restored copy (its API accepts 1 to 10; 7 is its default).
RESTORE_EXPIRATION_DAYS = (1, 10)


def choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """
    ``value`` if it is one of ``choices``.

    :param name: the argument, for the error.
    :param value: what was given.
    :param choices: what is accepted.
    :raises ConfigurationError: naming the choices.
    """
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise ConfigurationError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def whole_number(name: str, value: Any, low: int, high: int | None = None, hint: str | None = None) -> int:
    """
    ``value`` if it is a whole number (not a bool) from ``low`` to ``high``.

    :param name: the argument, for the error.
    :param value: what was given.
    :param low: the smallest accepted.
    :param high: Optional. The largest accepted (no upper bound when ``None``).
    :param hint: Optional. What to do instead, for the error.
    :raises ConfigurationError: naming the range.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        if high is not None:
            accepted = f"a whole number from {low} to {high}"
        elif low == 1:
            accepted = "a positive whole number"
        elif low == 0:
            accepted = "a whole number, 0 or more"
        else:
            accepted = f"a whole number of at least {low}"
        raise ConfigurationError(f"{name} must be {accepted}, got {value!r}", hint=hint)
    return value


def restore_days(name: str, value: Any) -> int:
    """``value`` if it is a number of days 8x8 keeps a restored copy (1 to 10)."""
    low, high = RESTORE_EXPIRATION_DAYS
    return whole_number(name, value, low, high, hint="8x8 keeps a restored copy for 1 to 10 days (default 7)")


def positive_seconds(name: str, value: Any) -> float:
    """``value`` if it is a number of seconds above zero (not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return value


def sort_direction(name: str, value: Any) -> str:
    """``"ASC"`` or ``"DESC"`` from ``value`` (any case, surrounding blanks ignored)."""
    direction = value.strip().upper() if isinstance(value, str) else None
    if direction not in ("ASC", "DESC"):
        raise ConfigurationError(f"{name} must be 'ASC' or 'DESC', got {value!r}")
    return direction
