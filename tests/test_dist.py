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
