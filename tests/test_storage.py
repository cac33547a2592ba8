"""Destination helpers on a real local file system."""

from __future__ import annotations

import os

import pytest

from airflow_provider_eightbyeight.hooks.local_files import atomic_local_file
from airflow_provider_eightbyeight.transfer import storage


def test_a_listing_survives_a_file_that_vanishes_while_listed(tmp_path, monkeypatch):
    """Another writer's temporary file renamed between readdir and stat must not empty the listing."""
    for name in ("a.mp3", ".b.mp3.host-1-000000000000.part", "c.mp3"):
        (tmp_path / name).write_bytes(b"x" * 3)
    real_scandir = os.scandir

    class Listed(list):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def scandir_then_rename(path):
        with real_scandir(path) as handle:
            entries = Listed(handle)  # readdir done
        os.replace(tmp_path / ".b.mp3.host-1-000000000000.part", tmp_path / "b.mp3")  # before stat
        return entries

    monkeypatch.setattr(os, "scandir", scandir_then_rename)
    sizes = storage.folder_sizes(storage.as_storage_path(tmp_path.as_uri()))
    assert sizes["a.mp3"] == 3 and sizes["c.mp3"] == 3


def test_publishing_without_replace_never_overwrites(tmp_path):
    target = tmp_path / "rec.mp3"
    target.write_bytes(b"another object's copy")
    with pytest.raises(FileExistsError), atomic_local_file(target, replace=False) as handle:
        handle.write(b"mine")
    assert target.read_bytes() == b"another object's copy"
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp3"]  # no temporary file left
    with atomic_local_file(tmp_path / "new.mp3", replace=False) as handle:
        handle.write(b"mine")
    assert (tmp_path / "new.mp3").read_bytes() == b"mine"
