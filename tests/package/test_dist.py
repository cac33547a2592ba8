"""``make dist``'s check (scripts/check_dist.py) passes for the real build and names what a broken wheel lacks."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

UV = ROOT / ".tools" / "bin" / "uv"


def _checker():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "scripts" / "check_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists():
        pytest.skip("uv is installed by `make` into .tools/; run make first")
    out = tmp_path_factory.mktemp("dist")
    command = [str(UV), "build", "--quiet", "--out-dir", str(out), str(ROOT)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_the_built_distributions_pass_the_check(built: Path) -> None:
    assert _checker().check(built) == []


def test_a_wheel_without_a_module_or_py_typed_is_named(built: Path, tmp_path: Path) -> None:
    shutil.copy(next(built.glob("*.tar.gz")), tmp_path)
    [wheel] = built.glob("*.whl")
    broken = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            if item.filename.endswith(("py.typed", "hooks/network.py")):
                continue
            target.writestr(item, source.read(item.filename))
    problems = _checker().check(tmp_path)
    assert "wheel lacks airflow_provider_eightbyeight/hooks/network.py" in problems
    assert "wheel lacks py.typed (typed package marker)" in problems


def test_a_wheel_or_sdist_without_the_examples_is_named(built: Path, tmp_path: Path) -> None:
    import tarfile

    [wheel] = built.glob("*.whl")
    [sdist] = built.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(tmp_path / wheel.name, "w") as target:
        for item in source.infolist():
            if "example_dags/example_eightbyeight_daily_export" not in item.filename:
                target.writestr(item, source.read(item.filename))
    with tarfile.open(sdist) as source, tarfile.open(tmp_path / sdist.name, "w:gz") as target:
        for member in source.getmembers():
            if "example_dags/example_eightbyeight_restore" not in member.name:
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    problems = _checker().check(tmp_path)
    assert "wheel lacks the example example_eightbyeight_daily_export.py" in problems
    assert "sdist lacks example_dags/example_eightbyeight_restore_archived.py" in problems
    assert not [p for p in problems if "daily_export" in p and "sdist" in p]  # only what was taken out
