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


def test_temporary_names_fit_in_255_bytes_and_are_still_recognised(tmp_path, monkeypatch):
    from airflow_provider_eightbyeight.hooks import local_files

    monkeypatch.setattr(local_files, "_HOST", "h" * 40)
    target = tmp_path / ("é" * 120 + ".mp3")  # 244 bytes, the most a sanitised name has is 200
    temp = local_files.temp_name(target)
    assert len(temp.name.encode()) <= 255 and temp.parent == tmp_path
    assert local_files._PART.match(temp.name)
    with atomic_local_file(target) as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"


def test_a_folder_removed_after_it_was_made_is_made_again(tmp_path):
    import shutil

    target = tmp_path / "a" / "b" / "rec.mp3"
    with atomic_local_file(target) as handle:
        handle.write(b"1")
    shutil.rmtree(tmp_path / "a")
    with atomic_local_file(target) as handle:
        handle.write(b"2")
    assert target.read_bytes() == b"2"
