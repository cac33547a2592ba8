"""
A destination that is full before the manifest is written (a real tmpfs of a few pages): the task's error
names the manifest, the destination, the counts and the objects not copied, says nothing was deleted, and
chains the disk's own error.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import (
    ManifestWriteError,
    TransferEngine,
    TransferError,
    TransferOptions,
)

REGION = "us-east"
PAGE = 4096


@pytest.fixture
def emulator_config():
    return EmulatorConfig(seed=5, objects_per_region=0, regions=(REGION,))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16-page tmpfs: four 4-page objects fill it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={16 * PAGE}", "tmpfs", str(mount)], check=False)
    if made.returncode:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("delete", [False, True])
def test_a_full_disk_before_the_manifest_names_everything(make_hook, emulator, small_disk, delete):
    hook = make_hook()
    ids = [emulator.add_object(REGION, size=4 * PAGE)["id"] for _ in range(5)]  # the fifth does not fit
    engine = TransferEngine(hook, small_disk.as_uri(), TransferOptions(path_template="{id}", max_workers=1))
    with pytest.raises(ManifestWriteError) as raised:
        engine.run(hook.iter_objects("", region=REGION), delete_after_transfer=delete)
    err = raised.value
    text = str(err)
    assert isinstance(err, TransferError)  # callers catching TransferError still do
    assert "_manifests/" in text and small_disk.as_uri() in text
    assert "4 copied" in text and "1 failed" in text
    assert "nothing was deleted at 8x8" in text
    failed = [i for i in ids if not (small_disk / i).exists()]
    assert len(failed) == 1 and failed[0] in text  # the object not copied is named, with why
    assert isinstance(err.__cause__, OSError) and err.__cause__.errno == errno.ENOSPC
    assert all(emulator.get(i)["objectState"] == "AVAILABLE" for i in ids)
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".part")]
