"""A local emulator of the 8x8 Cloud Storage Service (CSS) API for tests, demos and benchmarks.

Standard library only (no Airflow import; HTTPS mode, ``tls=True``, also needs ``cryptography``);
product code never imports it.

>>> from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
>>> with EightByEightEmulator(EmulatorConfig(seed=7)) as emu:  # doctest: +SKIP
...     print(emu.base_url, emu.token_url, emu.key, emu.secret)

Modules: ``config`` (EmulatorConfig, Account), ``content`` (deterministic bytes), ``seed``
(seeded objects), ``fiql`` (filter parser), ``models`` (records), ``state`` (store, clock,
stats), ``faults`` (FaultRule), ``server`` (HTTP), ``tls`` (throwaway CA and certificates),
``zipstream`` (bulk zips), ``emulator`` (the facade), ``cli`` (``eightbyeight-emulator``, also
``python -m airflow_provider_eightbyeight.testing``), ``admin_client`` (a client of a running emulator's admin
API) and ``pytest_plugin`` (fixtures).
"""

from __future__ import annotations

from airflow_provider_eightbyeight.testing.config import Account, EmulatorConfig
from airflow_provider_eightbyeight.testing.emulator import EightByEightEmulator
from airflow_provider_eightbyeight.testing.faults import FaultRule

__all__ = ["Account", "EightByEightEmulator", "EmulatorConfig", "FaultRule"]
