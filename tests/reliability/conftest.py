"""
Fault-injection suite: full transfers under injected faults, checked object by object.

Every test here is marked ``reliability`` (``make test-quick`` skips them; ``make test`` and CI run them).
The suite prints one figures line at the end: faults injected, retries, objects verified, objects lost,
duplicates.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from tests.reliability.checks import FIGURES

OBJECTS = 520


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES["scenarios"]:
        terminalreporter.write_line(
            "Reliability figures: " + ", ".join(f"{name} = {value}" for name, value in FIGURES.items())
        )


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """520 objects of mixed sizes (1 KiB..256 KiB); scenarios add a few of several MB."""
    return EmulatorConfig(
        seed=97,
        objects_per_region=OBJECTS,
        size_range=(1024, 256 * 1024),
        archived_fraction=0.02,
        revoked_fraction=0.01,
        bulk_delay=0.2,
        restore_delay=0.2,
    )
