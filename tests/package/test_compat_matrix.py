"""scripts/compat.py, the compatibility matrix: what CI's output says when a cell fails, and how cells resolve."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "compat.py"


@pytest.fixture(scope="module")
def compat() -> ModuleType:
    if not SCRIPT.exists():  # a cell's copy of the tests, outside the checkout
        pytest.skip("scripts/compat.py is part of the checkout only")
    spec = importlib.util.spec_from_file_location("compat_matrix", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PYTEST_OUTPUT = """\
E       AssertionError:      ] setup plugin alembic.autogenerate.comments [alembic.runtime.plugins] loc=plugins.py:37
E         Traceback (most recent call last):
E           File ".../airflow/utils/cli.py", line 114, in wrapper
E         AttributeError: 'cryptography.hazmat.bindings._rust.fernet.MultiFernet' object has no attribute 'is_encrypted'
E       assert 1 == 0
E       airflow.exceptions.AirflowNotFoundException: The conn_id `x` isn't defined
E         AttributeError: 'cryptography.hazmat.bindings._rust.fernet.MultiFernet' object has no attribute 'is_encrypted'
"""


def test_a_failed_cell_names_the_exceptions_behind_its_failures(compat: ModuleType) -> None:
    """CI shows only the end of the matrix's output: a subprocess's traceback quoted in an assertion must show."""
    assert compat.failure_causes(PYTEST_OUTPUT) == [
        "AttributeError: 'cryptography.hazmat.bindings._rust.fernet.MultiFernet' object has no attribute "
        "'is_encrypted'",
        "AirflowNotFoundException: The conn_id `x` isn't defined",
    ]
    assert compat.failure_causes("E   AssertionError: 3 != 4\nE   assert False\n") == []
    many = "".join(f"E   ValueError: case {i}\n" for i in range(9))
    assert len(compat.failure_causes(many)) == 5


def test_airflow_2_11_and_3_1_resolve_as_their_constraints_files_would(compat: ModuleType) -> None:
    """cryptography 51 breaks their Fernet; unpinned cells failed every CLI test on it (December 2026)."""
    cells = {cell.name: cell for cell in compat.CELLS}
    for name in ("py3.12-airflow2.11", "py3.11-airflow3.1"):
        assert cells[name].exclude_newer is not None
        assert cells[name].exclude_newer <= compat.BEFORE_CRYPTOGRAPHY_51 < "2026-12-02"
