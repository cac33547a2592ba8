"""``eightbyeight-examples``: the example DAGs shipped in the package, copied into a dags folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_eightbyeight import examples
from tests.helpers import ROOT


def test_the_shipped_examples_are_the_repositorys_example_dags():
    shipped = examples.example_files()
    mine = {p.name: p.read_bytes() for p in sorted((ROOT / "example_dags").glob("example_*.py"))}
    assert shipped == mine and len(shipped) >= 5
    assert "run_demo.py" not in shipped and "__init__.py" not in shipped


def test_examples_are_copied_into_a_new_folder_and_a_second_copy_changes_nothing(tmp_path):
    folder = tmp_path / "dags" / "nested"
    first = examples.copy_examples(folder)
    assert {action for _, action in first} == {examples.COPIED}
    assert sorted(p.name for p in folder.iterdir()) == sorted(examples.example_files())
    assert {action for _, action in examples.copy_examples(folder)} == {examples.UNCHANGED}


def test_a_changed_example_is_kept_unless_forced(tmp_path):
    examples.copy_examples(tmp_path)
    name = next(iter(examples.example_files()))
    (tmp_path / name).write_text("# my own version\n")
    actions = dict(examples.copy_examples(tmp_path))
    assert actions[name] == examples.KEPT and (tmp_path / name).read_text() == "# my own version\n"
    assert dict(examples.copy_examples(tmp_path, force=True))[name] == examples.COPIED
    assert (tmp_path / name).read_bytes() == examples.example_files()[name]
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left


def test_a_failed_write_leaves_neither_a_partial_example_nor_a_temporary_file(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(examples.os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        examples.copy_examples(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AIRFLOW__CORE__DAGS_FOLDER": "/srv/dags", "AIRFLOW_HOME": "/opt/airflow"}, Path("/srv/dags")),
        ({"AIRFLOW_HOME": "/opt/airflow"}, Path("/opt/airflow/dags")),
        ({"AIRFLOW_HOME": "", "AIRFLOW__CORE__DAGS_FOLDER": ""}, Path.home() / "airflow" / "dags"),
        ({}, Path.home() / "airflow" / "dags"),
    ],
)
def test_the_default_dags_folder_follows_airflows_environment(environ, expected):
    assert examples.default_dags_folder(environ) == expected


def test_the_command_copies_into_the_folder_airflow_names_and_says_where(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "airflow_provider_eightbyeight.examples"], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    dags = tmp_path / "home" / "dags"
    assert sorted(p.name for p in dags.iterdir()) == sorted(examples.example_files())
    assert f"copied  {dags / 'example_eightbyeight_daily_export.py'}" in done.stdout
    assert "eightbyeight_default" in done.stdout and "eightbyeight_destination" in done.stdout


def test_a_file_in_place_of_the_folder_is_named(tmp_path):
    (tmp_path / "dags").write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "airflow_provider_eightbyeight.examples", str(tmp_path / "dags")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1 and "is not a folder" in done.stderr and "Traceback" not in done.stderr
