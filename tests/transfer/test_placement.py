"""The placement rule (transfer/placement.py): what a copy does at a path, from the facts about its file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_eightbyeight.transfer.placement import (
    Beside,
    Facts,
    Free,
    Replace,
    Skip,
    decide,
    worth_verifying,
)

ME, OTHER, PATH = "obj-1", "obj-2", "2026/11/05/call.wav"
UNKNOWN = f"{PATH} holds a file of unknown origin whose bytes are not this object's"
FOREIGN = f"{PATH} holds the copy of object {OTHER}"


@pytest.mark.parametrize(
    ("present", "owner", "verified", "overwrite", "expected"),
    [
        (False, None, False, False, Free()),
        (False, OTHER, True, True, Free()),  # nothing there: nothing else counts
        (True, OTHER, True, False, Skip()),  # the bytes are this object's: the strongest evidence
        (True, OTHER, True, True, Skip()),  # never replace what records give to another object
        (True, OTHER, False, False, Beside(FOREIGN)),
        (True, OTHER, False, True, Beside(FOREIGN)),
        (True, ME, True, False, Skip()),
        (True, ME, True, True, Replace()),
        (True, ME, False, False, Replace()),  # its own copy, damaged
        (True, ME, False, True, Replace()),
        (True, None, True, False, Skip()),
        (True, None, True, True, Replace()),
        (True, None, False, False, Beside(UNKNOWN)),
        (True, None, False, True, Beside(UNKNOWN)),  # overwrite never replaces a foreign file
    ],
)
def test_decide(present: bool, owner: str | None, verified: bool, overwrite: bool, expected: object) -> None:
    facts = Facts(present=present, owner=owner, verified=verified)
    assert decide(facts, ME, path=PATH, overwrite=overwrite) == expected


@pytest.mark.parametrize(
    ("owner", "has_md5", "expected"),
    [
        (None, True, True),
        (None, False, True),
        (ME, False, True),
        (ME, True, True),
        (OTHER, True, True),
        (OTHER, False, False),  # without 8x8's MD5 the bytes cannot prove another object's file is this one
    ],
)
def test_worth_verifying(owner: str | None, has_md5: bool, expected: bool) -> None:
    assert worth_verifying(owner, ME, has_md5=has_md5) is expected


@given(
    owner=st.sampled_from([None, ME, OTHER, "obj-3"]),
    verified=st.booleans(),
    overwrite=st.booleans(),
)
def test_a_file_that_is_not_this_objects_is_never_replaced(owner: str | None, verified: bool, overwrite: bool) -> None:
    """Property: only this object's own copy, or a file holding its exact bytes, is ever replaced."""
    decision = decide(Facts(present=True, owner=owner, verified=verified), ME, path=PATH, overwrite=overwrite)
    if isinstance(decision, Replace):
        assert owner == ME or (owner is None and verified)
    if isinstance(decision, Skip):
        assert verified
    if not verified and owner != ME:
        assert isinstance(decision, Beside) and decision.reason  # written beside it, saying why
