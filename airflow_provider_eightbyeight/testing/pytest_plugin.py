"""pytest fixtures for the 8x8 CSS emulator (registered as the ``eightbyeight`` pytest11 plugin).

Fixtures:

``eightbyeight_emulator_config``  the :class:`EmulatorConfig` to use; override it in a conftest
                                  or test module to change data or behaviour
                                  (``EmulatorConfig(tls=True)``: HTTPS, trust ``emulator.ca_path``).
``eightbyeight_conn_extra``       extra connection fields merged into the Airflow connection
                                  (default ``{}``); override to set e.g. retry settings.
``eightbyeight_emulator``         a started emulator (function scope), stopped afterwards.
``eightbyeight_conn``             sets ``AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT`` to the emulator's JSON
                                  connection and returns the conn id ``"eightbyeight_default"``.

The module stays import-light: the emulator is imported inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig

CONN_ID = "eightbyeight_default"


@pytest.fixture
def eightbyeight_emulator_config() -> EmulatorConfig:
    """Default emulator configuration (seed 42, 60 objects per region)."""
    from airflow_provider_eightbyeight.testing import EmulatorConfig

    return EmulatorConfig()


@pytest.fixture
def eightbyeight_conn_extra() -> dict[str, Any]:
    """Extra connection fields for :func:`eightbyeight_conn` (override to customise)."""
    return {}


@pytest.fixture
def eightbyeight_emulator(eightbyeight_emulator_config: EmulatorConfig) -> Iterator[EightByEightEmulator]:
    """A running emulator built from ``eightbyeight_emulator_config``."""
    from airflow_provider_eightbyeight.testing import EightByEightEmulator

    emulator = EightByEightEmulator(eightbyeight_emulator_config)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def eightbyeight_conn(
    eightbyeight_emulator: EightByEightEmulator,
    eightbyeight_conn_extra: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Point ``eightbyeight_default`` at the emulator (via the environment); returns the conn id."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_" + CONN_ID.upper(), eightbyeight_emulator.connection_json(**eightbyeight_conn_extra)
    )
    return CONN_ID
