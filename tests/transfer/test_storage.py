"""Destination helpers on a real local file system."""

from __future__ import annotations

import os

import pytest

from airflow_provider_eightbyeight.local_files import atomic_local_file
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
    from airflow_provider_eightbyeight import local_files

    monkeypatch.setattr(local_files, "HOST", "h" * 40)
    target = tmp_path / ("é" * 120 + ".mp3")  # 244 bytes, the most a sanitised name has is 200
    temp = local_files.temp_name(target)
    assert len(temp.name.encode()) <= 255 and temp.parent == tmp_path
    assert local_files.TEMP_NAME.match(temp.name)
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


class _NoIterFile:
    """A file as Airflow 3.0's ``ObjectStoragePath.open`` returns it: no ``__iter__``, a ``__getitem__`` that
    forwards to the inner file (so ``for line in f`` tries ``f[0]`` and fails)."""

    def __init__(self, inner):
        self._obj = inner

    def __getitem__(self, key):
        return self._obj[key]

    def __getattr__(self, name):
        return getattr(self._obj, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._obj.close()


class _Opens:
    def __init__(self, path):
        self.path = path

    def open(self, mode):
        return _NoIterFile(self.path.open(mode))


def test_a_manifest_is_read_from_a_file_that_cannot_be_iterated(tmp_path):
    """Airflow 3.0.6's tracking file wrapper is not iterable; every record is still read."""
    from airflow_provider_eightbyeight.transfer.manifest import ManifestRecord, read_manifest

    path = tmp_path / "m.jsonl"
    records = [
        ManifestRecord(id=i, region="us", source="s", destination="d", path=f"{i}.mp3", size=1, md5=None, status=s)
        for i, s in (("a", "copied"), ("b", "failed"))
    ]
    path.write_text(records[0].to_json() + "\n\n" + records[1].to_json() + "\nnot json\n")
    assert [r.id for r in read_manifest(_Opens(path))] == ["a", "b"]


def test_an_objectstoragepath_that_universal_pathlib_breaks_names_the_fix(monkeypatch):
    """Airflow 3.0's ObjectStoragePath with universal-pathlib 0.3 opens nothing: the error says what to install."""
    from airflow_provider_eightbyeight import compat
    from airflow_provider_eightbyeight.errors import ConfigurationError

    class Broken:
        def __init__(self, *args, **kwargs):
            raise TypeError(
                "ObjectStoragePath(...) detected protocol file which is incompatible with ObjectStoragePath."
            )

    monkeypatch.setattr(compat, "ObjectStoragePath", Broken, raising=False)
    with pytest.raises(ConfigurationError) as info:
        storage.as_storage_path("file:///tmp/x/")
    assert "universal-pathlib<0.3" in str(info.value) and "file:///tmp/x/" in str(info.value)
