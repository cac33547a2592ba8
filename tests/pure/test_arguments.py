"""The checks of a user's arguments: what each accepts, and the words of its refusal."""

from __future__ import annotations

import math

import pytest

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.errors import ConfigurationError


@pytest.mark.parametrize(
    ("check", "value", "accepted"),
    [
        (lambda v: arguments.choice("mode", v, ("a", "b")), "b", "b"),
        (lambda v: arguments.whole_number("n", v, 1, 10), 10, 10),
        (lambda v: arguments.whole_number("n", v, 0), 0, 0),
        (lambda v: arguments.restore_days("days", v), 1, 1),
        (lambda v: arguments.positive_seconds("wait", v), 0.5, 0.5),
        (lambda v: arguments.sort_direction("dir", v), " asc ", "ASC"),
        (lambda v: arguments.sort_direction("dir", v), "Desc", "DESC"),
    ],
)
def test_accepted_values_come_back(check, value, accepted):
    assert check(value) == accepted


@pytest.mark.parametrize(
    ("check", "value", "words"),
    [
        (lambda v: arguments.choice("mode", v, ("a", "b")), "c", "mode must be one of a, b, got 'c'"),
        (lambda v: arguments.choice("mode", v, ("a", "b")), ["a"], "mode must be one of a, b, got ['a']"),
        (lambda v: arguments.whole_number("n", v, 1, 10), 11, "n must be a whole number from 1 to 10, got 11"),
        (lambda v: arguments.whole_number("n", v, 1, 10), True, "n must be a whole number from 1 to 10, got True"),
        (lambda v: arguments.whole_number("n", v, 1, 10), 2.0, "n must be a whole number from 1 to 10, got 2.0"),
        (lambda v: arguments.whole_number("n", v, 1), 0, "n must be a positive whole number, got 0"),
        (lambda v: arguments.whole_number("n", v, 0), -1, "n must be a whole number, 0 or more, got -1"),
        (lambda v: arguments.whole_number("n", v, 5), "7", "n must be a whole number of at least 5, got '7'"),
        (lambda v: arguments.restore_days("days", v), 11, "days must be a whole number from 1 to 10, got 11"),
        (lambda v: arguments.positive_seconds("wait", v), 0, "wait must be a positive number of seconds, got 0"),
        (lambda v: arguments.positive_seconds("wait", v), math.nan, "positive number of seconds, got nan"),
        (lambda v: arguments.positive_seconds("wait", v), "5", "positive number of seconds, got '5'"),
        (lambda v: arguments.sort_direction("dir", v), "up", "dir must be 'ASC' or 'DESC', got 'up'"),
        (lambda v: arguments.sort_direction("dir", v), None, "dir must be 'ASC' or 'DESC', got None"),
    ],
)
def test_refusals_name_the_argument_the_value_and_what_is_accepted(check, value, words):
    with pytest.raises(ConfigurationError) as refused:
        check(value)
    assert words in str(refused.value)
    assert isinstance(refused.value, ValueError)  # what callers of the operators caught before


def test_restore_days_says_what_8x8_keeps():
    with pytest.raises(ConfigurationError) as refused:
        arguments.restore_days("expiration_days", 0)
    assert refused.value.hint and "1 to 10 days" in refused.value.hint
