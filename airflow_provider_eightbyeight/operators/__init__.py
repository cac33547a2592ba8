"""Operators of the 8x8 Cloud Storage provider."""

from __future__ import annotations

from airflow_provider_eightbyeight.operators.list_objects import EightByEightListObjectsOperator
from airflow_provider_eightbyeight.operators.manage import (
    EightByEightDeleteObjectsOperator,
    EightByEightRestoreObjectsOperator,
)
from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator

__all__ = [
    "EightByEightDeleteObjectsOperator",
    "EightByEightListObjectsOperator",
    "EightByEightRestoreObjectsOperator",
    "EightByEightTransferOperator",
]
