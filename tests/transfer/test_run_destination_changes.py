"""
The destination changes under a run: a file removed after its folder was listed is copied again (not
failed); which object a path belongs to follows the manifests in the order they were published.
"""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from airflow_provider_eightbyeight.transfer.store import RunStore

REGION = "us-east"


@pytest.fixture
def emulator_config():
    return EmulatorConfig(seed=21, objects_per_region=2, archived_fraction=0.0, revoked_fraction=0.0, regions=(REGION,))


@pytest.mark.parametrize("prove_skips", [False, True])
def test_a_file_removed_after_its_folder_was_listed_is_copied_again(make_hook, emulator, tmp_path, prove_skips):
    hook = make_hook()
    options = TransferOptions(path_template="{id}", prove_skips=prove_skips)
    first = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects("", region=REGION))
    assert first.copied == 2
    engine = TransferEngine(hook, tmp_path.as_uri(), options)
    one, two = engine.plan(list(hook.iter_objects("", region=REGION)))
    _, skipped = engine.place(one)  # lists the folder: both copies are there
    assert skipped is not None and skipped.status == "skipped"
    (tmp_path / two.relative_path).unlink()  # gone since the listing
    record = engine.copy_one(two)
    engine.close()
    assert record.status == "copied", record.reason
    assert record.path == two.relative_path
    assert (tmp_path / two.relative_path).read_bytes() == emulator.content(two.obj.id)


def _manifest(root, name: str, object_id: str, published: float) -> None:
    folder = root / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    line = {"id": object_id, "region": REGION, "source": "s", "destination": "d", "path": "shared/x.mp3"}
    line |= {"size": 3, "md5": "0" * 32, "status": "copied", "verified": True}
    path = folder / name
    path.write_text(json.dumps(line) + "\n")
    os.utime(path, (published, published))


def test_the_manifest_published_last_says_whose_a_path_is(tmp_path):
    # run A started first (its manifest's name sorts first) but published after run B
    _manifest(tmp_path, "20261201T000000000000Z_a.jsonl", "object-of-a", published=2_000_000_000)
    _manifest(tmp_path, "20261201T010000000000Z_b.jsonl", "object-of-b", published=1_900_000_000)
    store = RunStore()
    try:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        store.load_history(ObjectStoragePath(tmp_path.as_uri()))
        assert store.owner("shared/x.mp3") == "object-of-a"
    finally:
        store.close()
