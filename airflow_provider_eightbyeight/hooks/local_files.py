"""Moved to :mod:`airflow_provider_eightbyeight.local_files` (file-system code the hook and the transfer share)."""

from airflow_provider_eightbyeight.local_files import (
    MAX_NAME_BYTES,
    MAX_REMEMBERED_FOLDERS,
    PART_SUFFIX,
    atomic_local_file,
    remove_stale_parts,
    temp_name,
)

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_REMEMBERED_FOLDERS",
    "PART_SUFFIX",
    "atomic_local_file",
    "remove_stale_parts",
    "temp_name",
]
