"""
Check the built distributions in a folder (``make dist``): the wheel holds every module of the package,
``py.typed`` and the entry points; the metadata names the version, the Python and Airflow floors and renders
on PyPI (``twine check``). Exits non-zero naming what is missing.

Usage: ``python scripts/check_dist.py dist``
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_eightbyeight"
ENTRY_POINTS = (
    ("apache_airflow_provider", "provider_info = airflow_provider_eightbyeight.get_provider_info:get_provider_info"),
    ("pytest11", "eightbyeight = airflow_provider_eightbyeight.testing.pytest_plugin"),
    ("console_scripts", "eightbyeight-emulator = airflow_provider_eightbyeight.testing.cli:main"),
    ("console_scripts", "eightbyeight-examples = airflow_provider_eightbyeight.examples:main"),
)
#: The example DAGs a pip user gets (in the wheel, as the package's example_dags; in the sdist, as example_dags/).
EXAMPLES = sorted(p.name for p in (ROOT / "example_dags").glob("example_*.py"))


def version() -> str:
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise SystemExit(f"{PACKAGE}/__init__.py has no __version__")


def check(folder: Path) -> list[str]:
    problems: list[str] = []
    ver = version()
    wheels = sorted(folder.glob(f"airflow_provider_eightbyeight-{ver}-*.whl"))
    sdists = sorted(folder.glob(f"airflow_provider_eightbyeight-{ver}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"expected one wheel and one sdist of version {ver} in {folder}, found {wheels + sdists}"]
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts}
    problems += [f"wheel lacks {m}" for m in sorted(modules - names)]
    if f"{PACKAGE}/py.typed" not in names:
        problems.append("wheel lacks py.typed (typed package marker)")
    problems += [f"wheel holds {n}" for n in sorted(names) if n.startswith(("tests/", "example_dags/", "benchmarks/"))]
    problems += [f"wheel holds compiled {n}" for n in sorted(names) if n.endswith(".pyc")]
    problems += [f"wheel lacks the example {n}" for n in EXAMPLES if f"{PACKAGE}/example_dags/{n}" not in names]
    for group, line in ENTRY_POINTS:
        section = entry_points.split(f"[{group}]", 1)
        if len(section) != 2 or line not in section[1].split("[", 1)[0]:
            problems.append(f"entry point [{group}] {line} missing")
    expected = {"Name": "airflow-provider-eightbyeight", "Version": ver}
    problems += [f"METADATA {k} is {metadata.get(k)!r}, not {v!r}" for k, v in expected.items() if metadata.get(k) != v]
    if not (metadata.get("Requires-Python") or "").startswith(">="):
        problems.append("METADATA has no Requires-Python floor")
    requires = metadata.get_all("Requires-Dist") or []
    if not any(r.replace(" ", "").startswith("apache-airflow>=") for r in requires):
        problems.append(f"METADATA does not require apache-airflow>=...: {requires}")
    if metadata.get("Description-Content-Type") != "text/markdown" or "make demo" not in (metadata.get_payload() or ""):
        problems.append("METADATA long description is not the README (markdown)")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    needs = ("pyproject.toml", "README.md", "LICENSE", f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed")
    for needed in (*needs, *(f"example_dags/{n}" for n in EXAMPLES)):
        if needed not in members:
            problems.append(f"sdist lacks {needed}")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        check=False,
        capture_output=True,
        text=True,
    )
    if twine.returncode:
        problems.append(f"twine check failed: {twine.stdout[-1500:]}{twine.stderr[-500:]}")
    if not problems:
        print(
            f"dist OK: {wheel.name} ({len(names)} files, {len(modules)} modules, py.typed, "
            f"{len(ENTRY_POINTS)} entry points, Requires-Python {metadata.get('Requires-Python')}, "
            f"{next(r for r in requires if r.startswith('apache-airflow'))}) and {sdist.name}; twine check passed"
        )
    return problems


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    problems = check(folder)
    for problem in problems:
        print(f"dist problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
