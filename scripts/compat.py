"""
The compatibility matrix (``make test-compat``): the **built wheel** (not the source tree) installed into a
fresh environment per cell, and the quick suite run against it there.

Cells (:data:`CELLS`): Airflow 2.11, 3.0, 3.1 and 3.2 on the Pythons their managed services run, and 3.3 on
Python 3.10, 3.12 and 3.13 (3.11 is ``make test``'s). Older Airflows resolve as of their release with ``uv pip
install --exclude-newer`` (the offline stand-in for Airflow's constraints files), with the packages in
``Cell.newer`` as of :data:`NOW`. Environments live
in ``.compat/<cell>/`` and are reused while their requirements stay the same (only the wheel is reinstalled).
The tests run from a copy of ``tests/`` and ``example_dags/`` outside the source tree, so the package can only
be imported from the wheel; each cell prints where it was imported from.

Usage: ``python scripts/compat.py dist/<wheel> [cell ...]``; prints the matrix, exits non-zero if a cell fails.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
WORK = ROOT / ".compat"
#: What the suite needs besides the provider (the e2e tests, with their browser, are not run here).
TEST_TOOLS = ("pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout>=2.3", "moto[server]>=5.1", "hypothesis>=6")
#: The quick suite: what `make test-quick` runs.
MARKERS = "not reliability and not e2e"
#: Cells run at once (``COMPAT_JOBS``): their suites mostly wait on sockets and timers, so the three cells
#: together take about as long as the slowest one on a 2-core machine.
JOBS = 3
#: The date packages in ``Cell.newer`` are resolved as of (the day these cells were last checked).
NOW = "2026-12-01"
#: cryptography 51 (December 2026) makes ``MultiFernet`` a class without attributes of its own: Airflow 2.11 and 3.1
#: set ``is_encrypted`` on it and every command that touches the metadata DB fails (their constraints files pin an
#: older cryptography, which these cells stand in for).
BEFORE_CRYPTOGRAPHY_51 = "2026-11-30"


@dataclass(frozen=True)
class Cell:
    name: str
    python: str
    requirements: tuple[str, ...]
    exclude_newer: str | None = None
    notes: str = ""
    #: Packages resolved as of a later date than ``exclude_newer`` (``--exclude-newer-package``): what a user on a
    #: constraints file upgrades past it, such as the common-compat release this provider needs.
    newer: tuple[str, ...] = ()
    #: Also run the end-to-end suite (a real deployment of this Airflow, its UI in Chromium) after the quick one.
    e2e: bool = False
    #: Install as the README tells a user: ``python -m venv``, then plain pip with a constraints file (uv's
    #: resolution of the same requirements, as Airflow's constraints file pins a user's install; unpinned, pip's
    #: resolver took 108 min here). uv alone otherwise: faster, and with dates.
    plain_pip: bool = False

    @property
    def tools(self) -> tuple[str, ...]:
        return (*TEST_TOOLS, "playwright>=1.50") if self.e2e else TEST_TOOLS

    extras: tuple[str, ...] = field(default=("amazon", "openlineage"))


CELLS = (
    Cell(
        "py3.12-airflow2.11",
        "3.12",
        ("apache-airflow==2.11.2",),
        exclude_newer=BEFORE_CRYPTOGRAPHY_51,
        newer=("apache-airflow-providers-common-compat",),
        notes="Airflow 2 (MWAA 2.11.2 and Composer's default image run 2.11; MWAA on Python 3.12), resolved as of "
        f"{BEFORE_CRYPTOGRAPHY_51}; end to end",
        e2e=True,
    ),
    Cell(
        "py3.12-airflow3.0",
        "3.12",
        # Airflow 3.0's UI reads every provider's extra fields through Flask-AppBuilder (MWAA installs it)
        ("apache-airflow==3.0.6", "apache-airflow-providers-fab"),
        exclude_newer="2025-09-20",  # universal-pathlib 0.3 (2025-09-29) breaks 3.0's ObjectStoragePath
        newer=("apache-airflow-providers-common-compat",),
        notes="MWAA 3.0.6 (Python 3.12), resolved as of 2025-09-20",
    ),
    Cell(
        "py3.11-airflow3.1",
        "3.11",
        ("apache-airflow==3.1.8",),
        exclude_newer=BEFORE_CRYPTOGRAPHY_51,
        newer=("apache-airflow-providers-common-compat",),
        notes=f"Composer 3 3.1.8; no conn-fields; resolved as of {BEFORE_CRYPTOGRAPHY_51}",
    ),
    Cell(
        "py3.11-airflow3.2",
        "3.11",
        ("apache-airflow==3.2.2",),
        exclude_newer="2026-07-20",
        notes="the first Airflow with conn-fields, resolved as of 2026-07-20",
    ),
    Cell(
        "py3.10-airflow3.3",
        "3.10",
        ("apache-airflow==3.3.2",),  # amazon 9.39 needs Python 3.11: the newest provider releases for 3.10
        notes="oldest Python; providers as resolved for 3.10",
    ),
    Cell(
        "py3.12-airflow3.3",
        "3.12",
        ("apache-airflow==3.3.2",),
        notes="MWAA's Python; python -m venv and plain pip",
        plain_pip=True,
    ),
    Cell(
        "py3.13-airflow3.3",
        "3.13",
        ("apache-airflow==3.3.2", "apache-airflow-providers-amazon[s3fs]==9.39.0"),
        notes="newest Python",
    ),
)


def find_python(version: str) -> str | None:
    """An installed interpreter of ``version`` (pyenv's, or one on PATH that runs)."""
    home = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(glob.glob(str(home / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    candidates = [*reversed(found), shutil.which(f"python{version}") or ""]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "--version"], check=False, capture_output=True, text=True)
        if probe.returncode == 0:
            return candidate
    return None


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def prepare(cell: Cell, wheel: Path) -> tuple[Path, str]:
    """The cell's environment with the wheel installed; returns its python and what was done."""
    folder = WORK / cell.name
    venv = folder / "venv"
    python = venv / "bin" / "python"
    interpreter = find_python(cell.python)
    if interpreter is None:
        raise RuntimeError(f"no Python {cell.python} on this machine (pyenv install {cell.python})")
    spec = json.dumps(
        {
            "python": cell.python,
            "requirements": cell.requirements,
            "exclude": cell.exclude_newer,
            "newer": cell.newer,
            "tools": cell.tools,
            "pip": cell.plain_pip,
        }
    )
    stamp = folder / "requirements.json"
    target = f"{wheel}[{','.join(cell.extras)}]"
    date = ["--exclude-newer", cell.exclude_newer] if cell.exclude_newer else []
    for package in cell.newer:
        date += ["--exclude-newer-package", f"{package}={NOW}"]
    if stamp.exists() and stamp.read_text() == spec and python.exists():
        done = run([str(UV), "pip", "install", "--quiet", "--python", str(python), "--reinstall-package",
                    "airflow-provider-eightbyeight", "--no-deps", str(wheel)])  # fmt: skip
        action = "reused (wheel reinstalled)"
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if cell.plain_pip:  # uv resolves beside it; pip installs into the fresh venv with that as constraints
            resolved = folder / "resolved"
            made = run([str(UV), "venv", "--quiet", "--python", interpreter, str(resolved)])
            python_of_resolution = resolved / "bin" / "python"
        else:
            made = run([str(UV), "venv", "--quiet", "--python", interpreter, str(venv)])
            python_of_resolution = python
        if made.returncode:
            raise RuntimeError(f"making the venv failed: {made.stderr[-2000:]}")
        install = [str(UV), "pip", "install", "--quiet", "--python", str(python_of_resolution), *date, target,
                   *cell.requirements, *cell.tools]  # fmt: skip
        done = run(install, timeout=1500)
        action = "created"
        if done.returncode == 0 and cell.plain_pip:
            done = _pip_installs(interpreter, folder, wheel, cell)
            action = "created by plain pip (python -m venv; uv's resolution as the constraints file)"
        if done.returncode == 0:
            stamp.write_text(spec)
    if done.returncode:
        raise RuntimeError(f"install failed: {done.stderr[-3000:]}")
    return python, action


def _pip_installs(interpreter: str, folder: Path, wheel: Path, cell: Cell) -> subprocess.CompletedProcess[str]:
    """What the README tells a user: ``python -m venv``, then ``pip install <wheel>[extras] -c constraints.txt``.

    The constraints are uv's resolution of the same requirements (``uv pip freeze``), as Airflow users pin with
    Airflow's constraints file: pip resolved the unpinned set for 108 min here, pinned it takes minutes.
    """
    frozen = run([str(UV), "pip", "freeze", "--python", str(folder / "resolved" / "bin" / "python")], timeout=120)
    if frozen.returncode:
        return frozen
    constraints = folder / "constraints.txt"
    constraints.write_text(
        "".join(f"{line}\n" for line in frozen.stdout.splitlines() if not line.startswith("airflow-provider-eight"))
    )
    made = run([interpreter, "-m", "venv", str(folder / "venv")], timeout=300)
    if made.returncode:
        return made
    pip = [str(folder / "venv" / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    target = f"{wheel}[{','.join(cell.extras)}]"
    done = run([*pip, "install", "--quiet", "-c", str(constraints), target, *cell.requirements, *cell.tools],
               timeout=1500)  # fmt: skip
    if done.returncode == 0:
        done = run([*pip, "check"], timeout=300)
    if done.returncode == 0:
        shutil.rmtree(folder / "resolved", ignore_errors=True)
    return done


def _pytest(python: Path, folder: Path, log: Path, *args: str, env: dict[str, str]) -> tuple[bool, str]:
    """One pytest run in ``folder``: (passed, its summary line with the failed tests named)."""
    outcome = run([str(python), "-m", "pytest", "-q", "-p", "no:randomly", *args], cwd=folder, env=env, timeout=1800)
    log.write_text(outcome.stdout + outcome.stderr)
    lines = [line for line in outcome.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    summary = lines[-1].strip("= ") if lines else outcome.stdout[-300:]
    failed = [line for line in outcome.stdout.splitlines() if line.startswith(("FAILED tests/", "ERROR tests/"))]
    if failed:  # CI shows only the end of the output: name what failed there, and why
        summary += "; " + "; ".join(line[:200] for line in failed[:10])
        causes = failure_causes(outcome.stdout)
        if causes:
            summary += "; causes: " + " | ".join(causes)
    return outcome.returncode == 0, summary


def failure_causes(output: str, most: int = 5) -> list[str]:
    """
    The distinct exceptions behind pytest's failures in ``output`` (``E   SomeError: ...`` lines, also those quoted
    inside an assertion's message, such as a subprocess's traceback), other than the assertions themselves.
    """
    causes: list[str] = []
    for line in output.splitlines():
        match = re.match(r"E\s+(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit|Timeout)\b:?.*)", line)
        if match and not match.group(1).startswith(("AssertionError", "assert ")):
            cause = match.group(1).strip()[:200]
            if cause not in causes:
                causes.append(cause)
    return causes[:most]


def _listed_by_airflow(python: Path, folder: Path, env: dict[str, str]) -> str:
    """``airflow providers list`` names the provider; returns what is wrong, or ""."""
    home = folder / "airflow-home"
    command = [str(python.with_name("airflow")), "providers", "list", "--output", "json"]
    listed = run(command, cwd=folder, env={**env, "AIRFLOW_HOME": str(home)}, timeout=300)
    try:
        found, _ = json.JSONDecoder().raw_decode(listed.stdout, listed.stdout.index("["))  # warnings may follow
        names = {p["package_name"] for p in found}
    except (ValueError, KeyError, TypeError):
        return f"`airflow providers list` failed: {(listed.stdout + listed.stderr)[-500:]}"
    return "" if "airflow-provider-eightbyeight" in names else f"`airflow providers list` lacks the provider: {names}"


def test(cell: Cell, python: Path) -> tuple[bool, str, str]:
    """Run the quick suite from a copy of the tests; returns (passed, pytest's summary, where the package was)."""
    folder = WORK / cell.name / "run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    skipped = ("__pycache__",) if cell.e2e else ("__pycache__", "e2e")
    for name in ("tests", "example_dags"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns(*skipped))
    for name in ("pyproject.toml", "README.md"):  # pytest's settings; the README some tests read
        shutil.copy(ROOT / name, folder)
    where = run([str(python), "-c", "import airflow_provider_eightbyeight as p, airflow; print(p.__file__, "
                 "airflow.__version__)"], cwd=folder)  # fmt: skip
    origin = where.stdout.strip()
    if where.returncode or "site-packages" not in origin:
        return False, f"the package was not imported from the wheel: {origin or where.stderr[-500:]}", origin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    listed = _listed_by_airflow(python, folder, env)
    if listed:
        return False, listed, origin
    passed, summary = _pytest(python, folder, WORK / cell.name / "pytest.log", "-m", MARKERS, "tests", env=env)
    if cell.e2e:
        env["EIGHTBYEIGHT_E2E_ARTIFACTS"] = str(WORK / cell.name)  # its screenshots, apart from make test's
        e2e_passed, e2e_summary = _pytest(
            python, folder, WORK / cell.name / "e2e.log", "-m", "e2e", "tests/e2e", env=env
        )
        passed, summary = passed and e2e_passed, f"{summary}; end to end: {e2e_summary}"
    return passed, summary, origin


def one_cell(cell: Cell, wheel: Path) -> tuple[Cell, bool, str, str, float]:
    """Prepare and test one cell: ``(cell, passed, summary, Airflow version, seconds)``."""
    started = time.monotonic()
    print(f"[{cell.name}] preparing ({cell.notes}) ...", flush=True)
    try:
        python, action = prepare(cell, wheel)
        print(f"[{cell.name}] environment {action}; running the quick suite ...", flush=True)
        passed, summary, origin = test(cell, python)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        passed, summary, origin = False, str(err)[:500], ""
    print(f"[{cell.name}] {'PASSED' if passed else 'FAILED'}: {summary}", flush=True)
    versions = origin.split(" ")[-1] if origin else "?"
    return cell, passed, summary, versions, time.monotonic() - started


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    wheel = Path(argv[0]).resolve()
    wanted = set(argv[1:])
    cells = [c for c in CELLS if not wanted or c.name in wanted]
    jobs = max(1, int(os.environ.get("COMPAT_JOBS", JOBS)))
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(lambda cell: one_cell(cell, wheel), cells))
    ok = all(passed for _, passed, *_ in rows)
    print("\nCompatibility matrix (the built wheel, installed; quick suite):")
    print("| cell | Python | Airflow | result | time | notes |\n|---|---|---|---|---|---|")
    for cell, passed, summary, airflow, seconds in rows:
        print(
            f"| {cell.name} | {cell.python} | {airflow} | {'PASS' if passed else 'FAIL'}: {summary} | "
            f"{seconds / 60:.1f} min | {cell.notes} |"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
