"""A hand-edited earlier-manifest line with "id": null must not leave a transaction open (the re-run goes on)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=5, objects_per_region=12, archived_fraction=0.0, revoked_fraction=0.0, regions=("us-east",)
    )


def test_null_id_line_in_old_manifest(make_hook, emulator, tmp_path):
    hook = make_hook()
    first = TransferEngine(hook, tmp_path.as_uri(), TransferOptions()).run(hook.iter_objects("", region="us-east"))
    assert first.copied == 12
    [manifest] = list((tmp_path / MANIFEST_DIR).iterdir())
    line = json.loads(manifest.read_text().splitlines()[0])
    line["id"] = None  # a hand-edited / foreign line: valid JSON, parses as a record
    with manifest.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    (tmp_path / first.records[1].path).write_bytes(b"damaged")  # a file is found: history is read
    again = TransferEngine(hook, tmp_path.as_uri(), TransferOptions()).run(hook.iter_objects("", region="us-east"))
    assert again.failed == 0 and again.skipped == 11 and again.copied == 1  # the foreign line is ignored
