"""Deletes in chunks (CHUNK shrunk to 7), two regions: each proved record deleted once, 'requested' published
before any delete call, only proved objects deleted."""

from __future__ import annotations

import collections

import pytest

from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.testing.config import Account
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR, read_manifest


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=13,
        objects_per_region=25,
        archived_fraction=0.0,
        revoked_fraction=0.0,
        regions=("us-east", "uk"),
        accounts=(Account(regions=("us-east", "uk")),),
        delete_unknown="ignore",
    )


@pytest.mark.parametrize("strategy", ["objects", "bulk"])
def test_chunked_deletes(make_hook, emulator, tmp_path, monkeypatch, strategy):
    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.store.CHUNK", 7)
    monkeypatch.setattr("airflow_provider_eightbyeight.transfer.deletes.CHUNK", 7)
    hook = make_hook()
    # first a plain copy, then damage two copies so the deleting run must replace them
    first = TransferEngine(hook, tmp_path.as_uri(), TransferOptions()).run(hook.iter_objects("", all_regions=True))
    assert first.copied == 50
    recs = first.records
    (tmp_path / recs[3].path).write_bytes(b"x")
    (tmp_path / recs[30].path).unlink()
    engine = TransferEngine(hook, tmp_path.as_uri(), TransferOptions(prove_skips=True))
    calls = []
    real = hook.delete_objects
    snapshots = []

    def spy(ids, region=None, **kw):
        ids = list(ids)
        calls.append((region, ids))
        manifests = sorted((tmp_path / MANIFEST_DIR).iterdir())
        snapshots.append({r.id: r.delete for r in read_manifest(manifests[-1])})
        return real(ids, region=region, **kw)

    hook.delete_objects = spy
    summary = engine.run(
        hook.iter_objects("", all_regions=True), delete_after_transfer=True, strategy=strategy, poll_interval=0.1
    )
    deleted_ids = [i for _, ids in calls for i in ids]
    c = collections.Counter(deleted_ids)
    final = {r.id: r for r in summary.records}
    assert max(c.values()) == 1 and len(c) == 50
    assert len(snapshots) == len(calls) > 2  # more than one chunk per region
    for snap, (_, ids) in zip(snapshots, calls, strict=True):
        assert all(snap.get(i) in ("requested", "deleted") for i in ids)
    for region, ids in calls:
        assert all(final[i].region == region for i in ids)
    assert summary.deleted == 50 and all(r.delete == "deleted" for r in final.values())
    assert {r.evidence for r in final.values()} <= {"written", "read_back"}
