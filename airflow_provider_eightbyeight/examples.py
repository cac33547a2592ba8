"""
The example DAGs shipped in the package (``airflow_provider_eightbyeight/example_dags``), and the command that
copies them into a dags folder::

    eightbyeight-examples                 # into $AIRFLOW__CORE__DAGS_FOLDER, else $AIRFLOW_HOME/dags
    eightbyeight-examples ~/airflow/dags  # or into a folder named here

A copy never replaces a file the user changed: such a file is kept and named, and ``--force`` replaces it. Each
file is written under a temporary name first and renamed, so a dags folder never holds half an example.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

PACKAGE = "airflow_provider_eightbyeight.example_dags"
#: What a copy did with one example: written, already identical, or kept because the user's file differs.
COPIED, UNCHANGED, KEPT = "copied", "unchanged", "kept (differs; --force replaces it)"


def example_files() -> dict[str, bytes]:
    """The shipped example DAG files, by file name."""
    folder = resources.files(PACKAGE)
    return {
        item.name: item.read_bytes()
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.startswith("example_") and item.name.endswith(".py")
    }


def default_dags_folder(environ: Mapping[str, str] | None = None) -> Path:
    """
    Airflow's dags folder as its environment names it, without importing Airflow.

    :param environ: the environment (default ``os.environ``): ``AIRFLOW__CORE__DAGS_FOLDER``, else
        ``$AIRFLOW_HOME/dags``, else ``~/airflow/dags`` (Airflow's defaults; a dags folder set only in
        ``airflow.cfg`` is not read: name it on the command line).
    """
    env = os.environ if environ is None else environ
    if env.get("AIRFLOW__CORE__DAGS_FOLDER"):
        return Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).expanduser()
    return Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser() / "dags"


def copy_examples(folder: Path, *, force: bool = False) -> list[tuple[str, str]]:
    """
    Copy the example DAGs into ``folder`` (created if missing).

    :param folder: the dags folder.
    :param force: replace a file of the same name whose content differs (otherwise it is kept).
    :return: ``(file name, what was done)`` for each example.
    :raises NotADirectoryError: when ``folder`` exists and is not a folder.
    """
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder: name the dags folder to copy the examples into")
    folder.mkdir(parents=True, exist_ok=True)
    done: list[tuple[str, str]] = []
    for name, content in example_files().items():
        target = folder / name
        if target.exists():
            if target.read_bytes() == content:
                done.append((name, UNCHANGED))
                continue
            if not force:
                done.append((name, KEPT))
                continue
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        done.append((name, COPIED))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """``eightbyeight-examples [DAGS_FOLDER] [--force]``; returns a process exit code."""
    parser = argparse.ArgumentParser(
        prog="eightbyeight-examples",
        description="Copy the 8x8 provider's example DAGs into an Airflow dags folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=None,
        help="the dags folder (default: $AIRFLOW__CORE__DAGS_FOLDER, else $AIRFLOW_HOME/dags, else ~/airflow/dags)",
    )
    parser.add_argument("--force", action="store_true", help="replace example files that were changed there")
    args = parser.parse_args(argv)
    folder = args.folder or default_dags_folder()
    try:
        done = copy_examples(folder, force=args.force)
    except OSError as err:
        parser.exit(1, f"eightbyeight-examples: {err}\n")
    for name, action in done:
        print(f"{action:>9}  {folder / name}")
    print(
        "They use the connection eightbyeight_default and write where the Airflow Variable "
        "eightbyeight_destination says (each file names its default at its top)."
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
