"""Metadata sidecars are ``<file>.meta.json``; those release 0.1 wrote as ``<file>.json`` still count as evidence."""

from __future__ import annotations

import hashlib
import json

from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import Evidence, Status


def test_a_transcripts_sidecar_is_not_named_json_json(make_hook, emulator, tmp_path):
    hook = make_hook()
    t = emulator.add_object("us-east", type="transcription", object_name="call-transcript.json", size=2000)
    options = TransferOptions(path_template="{name}", write_metadata=True)
    summary = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects(f"id=={t['id']}"))
    assert summary.copied == 1
    sidecar = tmp_path / "call-transcript.json.meta.json"
    assert json.loads(sidecar.read_text())["object"]["id"] == t["id"]
    assert not (tmp_path / "call-transcript.json.json").exists()


def test_a_copy_described_by_an_old_style_sidecar_is_still_known_as_this_objects(make_hook, emulator, tmp_path):
    """A 0.1 copy (no manifest left, sidecar at <file>.json) is recognised by its sidecar, not read as foreign."""
    hook = make_hook()
    a = emulator.add_object("us-east", object_name="rec.mp3", size=4000)
    content = emulator.content(a["id"])
    (tmp_path / "rec.mp3").write_bytes(content)
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    (tmp_path / "rec.mp3.json").write_text(json.dumps({"object": {"id": a["id"]}, "transfer": {"md5": md5}}))
    options = TransferOptions(path_template="{name}", write_metadata=True)
    summary = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects(f"id=={a['id']}"))
    [record] = summary.records
    assert record.status == Status.SKIPPED and record.path == "rec.mp3" and record.evidence == Evidence.SIDECAR
    assert json.loads((tmp_path / "rec.mp3.meta.json").read_text())["object"]["id"] == a["id"]
    # another object's old-style sidecar does not make the file that object's: it is foreign, never replaced
    b = emulator.add_object("us-east", object_name="other.mp3", size=4000)
    (tmp_path / "other.mp3").write_bytes(b"someone else's file")
    (tmp_path / "other.mp3.json").write_text(json.dumps({"object": {"id": "not-" + b["id"]}}))
    summary = TransferEngine(hook, tmp_path.as_uri(), options).run(hook.iter_objects(f"id=={b['id']}"))
    [record] = summary.records
    assert record.status == Status.COPIED and record.path != "other.mp3"
    assert (tmp_path / "other.mp3").read_bytes() == b"someone else's file"
