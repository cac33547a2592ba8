"""The README's main job (`make demo`) works, and a second run copies nothing new."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT, is_sidecar

pytestmark = pytest.mark.dagrun


def run_demo(demo_dir) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env["EIGHTBYEIGHT_DEMO_DIR"] = str(demo_dir)
    done = subprocess.run(
        [sys.executable, "-m", "example_dags.run_demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_copies_then_skips(tmp_path):
    first = run_demo(tmp_path)
    copied = int(re.search(r"copied: (\d+) objects", first).group(1))
    assert copied > 10 and "all MD5-verified: True" in first
    recordings = tmp_path / "recordings"
    assert f"folder: {recordings}" in first
    files = [p for p in recordings.rglob("*") if p.is_file() and "_manifests" not in p.parts]
    assert len([p for p in files if not is_sidecar(p)]) == copied
    second = run_demo(tmp_path)
    assert "copied: 0 objects" in second and f"skipped: {copied} " in second
