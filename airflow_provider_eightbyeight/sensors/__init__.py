"""Sensors of the 8x8 Cloud Storage provider."""

from __future__ import annotations

from airflow_provider_eightbyeight.sensors.eightbyeight import EightByEightObjectsSensor

__all__ = ["EightByEightObjectsSensor"]
