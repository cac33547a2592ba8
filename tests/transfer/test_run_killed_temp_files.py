"""
A run killed with SIGKILL leaves its temporary files (bulk zips up to 2 GB, ``.part`` files, the run store)
only in its own run folder and the destination's, and the next run removes them: nothing piles up in the
system's temp folder, nothing is left in ``_manifests/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR

REGION = "us-east"

#: The child copies with the bulk strategy and kills itself at one step: ``zip`` once the zip is downloaded
#: (as extraction begins), ``manifest`` in the middle of writing the manifest.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, zipfile
    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
    from airflow_provider_eightbyeight.transfer import manifest
    from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions

    step, destination = sys.argv[1], sys.argv[2]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if step == "zip":
        zipfile.ZipFile.__init__ = die
    else:
        real = manifest.sink_factory

        def sink_factory(path, *args, **kwargs):
            made = real(path, *args, **kwargs)

            class Dying:
                def __enter__(self):
                    self.opened = made()  # kept: a collected generator would close the file
                    handle = self.opened.__enter__()
                    handle.write(b"{}")
                    handle.flush()
                    die()

                def __exit__(self, *exc):
                    return False

            return Dying

        manifest.sink_factory = sink_factory
    hook = EightByEightHook("eightbyeight_default")
    TransferEngine(hook, destination, TransferOptions()).run(
        hook.iter_objects("", region="us-east"), strategy="bulk", poll_interval=0.1
    )
    """
)


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=9, objects_per_region=12, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.1, regions=(REGION,)
    )


def _ours(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(("8x8-", ".8x8-")))


@pytest.mark.parametrize("step", ["zip", "manifest"])
def test_the_next_run_removes_what_a_killed_run_left(make_hook, emulator, tmp_path, monkeypatch, step):
    hook = make_hook()
    temp = tmp_path / "tmp"
    temp.mkdir()
    dest = tmp_path / "dest"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, step, dest.as_uri()],
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    left = _ours(temp)
    assert left, "the killed run left nothing to clean up: the test did not kill it mid-run"
    if step == "manifest":
        assert [p for p in (dest / MANIFEST_DIR).iterdir() if p.name.endswith(".part")]
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    summary = TransferEngine(hook, dest.as_uri(), TransferOptions()).run(
        hook.iter_objects("", region=REGION), strategy="bulk", poll_interval=0.1
    )
    assert summary.copied + summary.skipped == 12 and summary.failed == 0
    assert _ours(temp) == []
    parts = [p for p in dest.rglob("*") if p.name.endswith(".part")]
    assert parts == []
