"""
Adversarial review of the untrusted resume: a deferred/resumed transfer treats everything it reads back
(its saved state, its pause manifest, the destination) as untrusted input. It may narrow what the run does,
never widen it: no delete without this run's proof matching 8x8's checksum, no write outside the
destination, one fate per object the search saw, deferred and inline runs placing objects alike, and a
malformed saved state or pause manifest ending the resume with a clear :class:`ConfigurationError`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.testing import EmulatorConfig
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun

REGION = "us-east"
SEARCHED = ("AVAILABLE", "PENDING")


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=23,
        objects_per_region=4,
        archived_fraction=0.0,
        revoked_fraction=0.0,
        bulk_delay=0.2,
        regions=(REGION,),
    )


def _policy(**kwargs: Any) -> RunPolicy:
    return RunPolicy(poll_interval=0.1, not_ready_poll_interval=0.1, not_ready_timeout=3.0, **kwargs)


def _pause_manifest(dest: Path, state: dict[str, Any]) -> Path:
    return dest / MANIFEST_DIR / state["manifest"]


def _paused(hook, dest: Path, policy: RunPolicy, fiql: str, options: TransferOptions | None = None):
    run = TransferRun(TransferEngine(hook, dest.as_uri(), options or TransferOptions()), policy)
    outcome = run.start(hook.iter_objects(fiql, region=REGION, states=SEARCHED))
    assert isinstance(outcome, Pause), "the run was expected to pause (it waits for a PENDING object or a job)"
    return run, outcome


def _line(**fields: Any) -> dict[str, Any]:
    base = {"region": REGION, "source": "forged", "destination": "", "path": "", "size": None, "md5": None}
    base.update(fields)
    return base


# --------------------------------------------------------------------------- defects


def test_legacy_state_forged_waiting_line_does_not_delete_an_object_outside_the_search(make_hook, emulator, tmp_path):
    """
    A saved state of an older release (no digest) cannot tell the lines its run wrote from lines added since.
    A forged ``waiting`` line naming an object outside the search must not make the resumed run copy it and
    then delete it at 8x8: that widens the run (an object the search never saw is deleted).
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    victim = emulator.add_object(REGION, type="voicemail", size=2000)
    pending = emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    state.pop("manifest_sha256", None)  # as release 0.2 saved it
    state["version"] = 2
    run.close()
    with _pause_manifest(dest, state).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(_line(id=victim["id"], status="waiting", extra={"wait": "pending"})) + "\n")
    emulator.set_object_state(pending["id"], "AVAILABLE")
    event = run.wait_here(pause)
    summary = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state).resume(
        event
    )
    records = {r.id: r for r in summary.records}
    assert emulator.get(victim["id"])["objectState"] == "AVAILABLE", (
        f"the object {victim['id']} outside the search, named only by a line added to the pause manifest of a "
        f"state without digest, was deleted at 8x8 (its record: {records.get(victim['id'])})"
    )
    assert victim["id"] not in records or records[victim["id"]].delete is None


def test_deferred_and_inline_place_a_pending_object_alike_when_a_file_left_during_the_pause(
    make_hook, emulator, tmp_path
):
    """
    X renders to ``same.mp3``, which holds a file of unknown origin, so X is written to ``same~<X>.mp3``; the
    run keeps ``same.mp3`` taken. The foreign file is removed during the pause. When PENDING Y (also
    ``same.mp3``) becomes AVAILABLE, the inline run still has ``same.mp3`` taken (Y goes beside it), but the
    deferred run only re-takes record paths, so Y lands at ``same.mp3``: the two modes place Y differently.
    """
    hook = make_hook()
    options = TransferOptions(path_template="{name}")
    emulator.add_object(REGION, type="callrecording", size=3000, object_name="same.mp3")
    later = emulator.add_object(REGION, type="callrecording", size=3000, object_name="same.mp3", state="PENDING")

    def path_of_later(dest: Path, *, deferred: bool) -> str:
        (dest).mkdir(parents=True)
        (dest / "same.mp3").write_bytes(b"somebody else's file")
        policy = _policy()
        run, pause = _paused(hook, dest, policy, "objectName==same.mp3", options)
        (dest / "same.mp3").unlink()  # removed while the run waits
        emulator.set_object_state(later["id"], "AVAILABLE")
        event = run.wait_here(pause)
        if deferred:
            state = run.state()
            run.close()
            run = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), options), policy, state)
        summary = run.resume(event)
        emulator.set_object_state(later["id"], "PENDING")  # for the other run
        return {r.id: r for r in summary.records}[later["id"]].path

    inline = path_of_later(tmp_path / "inline", deferred=False)
    deferred = path_of_later(tmp_path / "deferred", deferred=True)
    assert inline == deferred, f"inline placed the pending object at {inline!r}, the deferred run at {deferred!r}"


def test_a_bulk_job_in_the_state_that_the_run_never_started_is_not_cancelled(make_hook, emulator, tmp_path):
    """
    Every job a run starts has ``waiting`` records in its (digest-checked) pause manifest. A job named in the
    state that no record names is not the run's: the resumed run must not cancel (or collect) it.
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    for _ in range(3):
        emulator.add_object(REGION, type="callrecording", size=1000)
    policy = _policy(strategy="bulk")
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    event = run.wait_here(pause)
    other = emulator.add_object(REGION, type="voicemail", size=1500)
    emulator.store.config.bulk_delay = 60.0  # the other DAG's job is still running when this run resumes
    [foreign] = hook.start_bulk_download([other["id"]], region=REGION)  # another DAG's job, same account
    state["jobs"].append({"zip_name": foreign.zip_name, "region": REGION, "count": 1})
    resumed = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state)
    summary = resumed.resume(event)
    status = hook.get_bulk_job(foreign.zip_name, region=REGION).status
    assert status != "CANCELLED", (
        f"the resumed run cancelled bulk job {foreign.zip_name}, which it never started (no record of its pause "
        "manifest names it)"
    )
    assert other["id"] not in {r.id for r in summary.records}


def _v1_items_malformed(state: dict[str, Any], dest: Path) -> None:
    state.pop("manifest_sha256", None)
    state.update(version=1, restoring=[])
    state["jobs"] = [{"zip_name": "z", "region": REGION, "count": 1, "items": [["only-an-id"]]}]


def _v1_without_restoring(state: dict[str, Any], dest: Path) -> None:
    state.pop("manifest_sha256", None)
    state["version"] = 1


def _job_not_a_mapping(state: dict[str, Any], dest: Path) -> None:
    state["jobs"] = ["a-zip-name"]


def _job_zip_name_not_a_string(state: dict[str, Any], dest: Path) -> None:
    state["jobs"] = [{"zip_name": {"$ne": ""}, "region": REGION}]


def _job_region_a_list(state: dict[str, Any], dest: Path) -> None:
    state["jobs"] = [{"zip_name": "z.zip", "region": [REGION, "eu-west"]}]


def _nul_in_manifest_name(state: dict[str, Any], dest: Path) -> None:
    state["manifest"] = "x\x00.jsonl"


def _deeply_nested_manifest_line(state: dict[str, Any], dest: Path) -> None:
    with _pause_manifest(dest, state).open("a", encoding="utf-8") as handle:
        handle.write("[" * 100_000 + "\n")


@pytest.mark.parametrize(
    "tamper",
    [
        _v1_items_malformed,
        _v1_without_restoring,
        _job_not_a_mapping,
        _job_zip_name_not_a_string,
        _job_region_a_list,
        _nul_in_manifest_name,
        _deeply_nested_manifest_line,
    ],
)
def test_a_malformed_state_or_pause_manifest_ends_the_resume_with_a_clear_error(make_hook, emulator, tmp_path, tamper):
    hook = make_hook()
    dest = tmp_path / "dest"
    emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    tamper(state, dest)
    try:
        resumed = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state)
    except ConfigurationError:
        return  # a clear error, nothing deleted
    except Exception as err:
        pytest.fail(f"{tamper.__name__}: from_state crashed with {type(err).__name__}: {str(err)[:200]}")
    try:
        resumed.resume(run.wait_here(pause))
    except ConfigurationError:
        return
    except Exception as err:
        pytest.fail(
            f"{tamper.__name__}: from_state accepted the malformed state; the resume then crashed with "
            f"{type(err).__name__}: {str(err)[:200]}"
        )
    pytest.fail(f"{tamper.__name__}: the malformed state was accepted and the run resumed as if it were sound")


def test_a_delete_needs_bytes_matching_the_checksum_at_8x8_not_only_the_records_md5(make_hook, emulator, tmp_path):
    """
    Defence in depth: a forged pause manifest whose digest is forged in the state too (write access to both)
    claims that ``victim`` was written at ``decoy.bin`` with the decoy's own MD5. The run reads the decoy back,
    finds the record's MD5, and deletes ``victim`` although no byte of it is at the destination: the proof is
    checked against the record's MD5, never against 8x8's checksum.
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    victim = emulator.add_object(REGION, type="voicemail", size=2000)
    emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = RunPolicy(delete_after_transfer=True, not_ready_poll_interval=0.1, not_ready_timeout=0.5)
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    decoy = b"not the victim's bytes"
    (dest / "decoy.bin").write_bytes(decoy)
    manifest = _pause_manifest(dest, state)
    line = _line(
        id=victim["id"],
        path="decoy.bin",
        size=len(decoy),
        md5=hashlib.md5(decoy).hexdigest(),
        status="copied",
        verified=True,
        evidence="written",
        state="AVAILABLE",
    )
    with manifest.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    state["manifest_sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    event = run.wait_here(pause)
    summary = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state).resume(
        event
    )
    assert emulator.get(victim["id"])["objectState"] == "AVAILABLE", (
        f"object {victim['id']} was deleted at 8x8 on the read-back of decoy.bin, whose MD5 "
        f"{line['md5']} is not 8x8's checksum {emulator.md5(victim['id'])} (record: "
        f"{ {r.id: r for r in summary.records}.get(victim['id']) })"
    )


# --------------------------------------------------------------------------- attacks that hold


def test_crlf_line_endings_in_the_pause_manifest_end_the_resume(make_hook, emulator, tmp_path):
    """Rewriting the pause manifest with CRLF (same records) changes its bytes: the resume is refused."""
    hook = make_hook()
    dest = tmp_path / "dest"
    emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, _ = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    manifest = _pause_manifest(dest, state)
    manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(ConfigurationError, match="changed since"):
        TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state)
    assert all(o["objectState"] != "REVOKED" for o in emulator.objects(REGION, states="AVAILABLE,REVOKED"))


def test_a_copy_swapped_during_the_pause_for_another_objects_copy_is_not_deleted(make_hook, emulator, tmp_path):
    """Two copies made before the pause swap places: neither read-back matches, neither object is deleted."""
    hook = make_hook()
    dest = tmp_path / "dest"
    for size in (1100, 1200):
        emulator.add_object(REGION, type="callrecording", size=size)
    pending = emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    copies = [json.loads(x) for x in _pause_manifest(dest, state).read_text().splitlines() if '"status":"copied"' in x]
    first, second = copies[:2]
    a, b = dest / first["path"], dest / second["path"]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    emulator.set_object_state(pending["id"], "AVAILABLE")
    event = run.wait_here(pause)
    summary = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state).resume(
        event
    )
    records = {r.id: r for r in summary.records}
    for line in (first, second):
        assert emulator.get(line["id"])["objectState"] == "AVAILABLE"
        assert records[line["id"]].delete is None
        assert "changed since" in summary.delete_failures[line["id"]]
    assert records[pending["id"]].delete == "deleted"
