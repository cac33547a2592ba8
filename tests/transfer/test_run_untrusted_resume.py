"""
A resumed run treats its pause manifest as untrusted input: it may narrow what the run does, never widen it.

- a line added to the pause manifest (an id outside the search, ``evidence: written``, the path of a real
  copy) is never deleted at 8x8 nor counted as this run's;
- a waiting record's path is re-sanitised and stays under the destination;
- the paths a deferred run takes are the ones an inline run takes (a failed object keeps its planned path).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun
from tests.tampering import forged_copy_line

REGION = "us-east"
SEARCHED = ("AVAILABLE", "PENDING")


@pytest.fixture
def emulator_config():
    return EmulatorConfig(
        seed=17,
        objects_per_region=6,
        archived_fraction=0.0,
        revoked_fraction=0.0,
        bulk_delay=0.2,
        regions=(REGION,),
    )


def _policy(**kwargs) -> RunPolicy:
    return RunPolicy(poll_interval=0.1, not_ready_poll_interval=0.1, not_ready_timeout=3.0, **kwargs)


def _pause_manifest(dest: Path) -> Path:
    [path] = sorted((dest / MANIFEST_DIR).glob("*.jsonl"))[-1:]
    return path


def _forge_copy_line(dest: Path, emulator, victim: dict, victim_path: str) -> None:
    """Append a line that claims this run wrote and verified ``victim`` (which the run never searched)."""
    with _pause_manifest(dest).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(forged_copy_line(dest, emulator, victim, victim_path, REGION)) + "\n")


def _start_paused(hook, dest: Path, policy: RunPolicy, fiql: str) -> tuple[TransferRun, Pause]:
    run = TransferRun(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy)
    outcome = run.start(hook.iter_objects(fiql, region=REGION, states=SEARCHED))
    assert isinstance(outcome, Pause)
    return run, outcome


def _victim_copied_earlier(hook, emulator, dest: Path) -> tuple[dict, str]:
    """A voicemail copied to ``dest`` by an earlier run (a real, verified copy), not in the later search."""
    victim = emulator.add_object(REGION, type="voicemail", size=2000)
    earlier = TransferEngine(hook, dest.as_uri(), TransferOptions()).run(
        hook.iter_objects("type==voicemail", region=REGION)
    )
    [record] = [r for r in earlier.records if r.id == victim["id"]]
    assert record.status == "copied"
    return victim, record.path


@pytest.mark.parametrize("older_state", [False, True])
def test_a_forged_copy_line_in_the_pause_manifest_is_never_deleted(make_hook, emulator, tmp_path, older_state):
    hook = make_hook()
    dest = tmp_path / "dest"
    victim, victim_path = _victim_copied_earlier(hook, emulator, dest)
    pending = emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, pause = _start_paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    if older_state:  # as release 0.2 saved it: no digest of the pause manifest
        state.pop("manifest_sha256", None)
        state["version"] = 2
    run.close()
    _forge_copy_line(dest, emulator, victim, victim_path)
    emulator.set_object_state(pending["id"], "AVAILABLE")
    event = run.wait_here(pause)
    engine = TransferEngine(hook, dest.as_uri(), TransferOptions())
    if not older_state:  # the manifest changed since the pause: the resume ends, nothing deleted
        with pytest.raises(ConfigurationError, match="changed since"):
            TransferRun.from_state(engine, policy, state)
        assert emulator.get(victim["id"])["objectState"] == "AVAILABLE"
        assert all(o["objectState"] == "AVAILABLE" for o in emulator.objects(REGION, states="AVAILABLE,REVOKED"))
        return
    summary = TransferRun.from_state(engine, policy, state).resume(event)  # resumes; deletes nothing at all
    assert emulator.get(victim["id"])["objectState"] == "AVAILABLE"
    assert all(o["objectState"] == "AVAILABLE" for o in emulator.objects(REGION, states="AVAILABLE,REVOKED"))
    records = {r.id: r for r in summary.records}
    assert records[pending["id"]].status == "copied" and records[pending["id"]].delete is None
    assert summary.deleted == 0 and summary.not_deleted == len(records)
    assert "older release" in summary.delete_failures[victim["id"]]


def test_a_waiting_path_that_leaves_the_destination_is_not_used(make_hook, emulator, tmp_path):
    hook = make_hook()
    dest = tmp_path / "dest"
    policy = _policy(strategy="bulk")
    run, pause = _start_paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    state.pop("manifest_sha256", None)
    state["version"] = 2
    run.close()
    manifest = _pause_manifest(dest)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    waiting = [line for line in lines if line["status"] == "waiting"]
    assert waiting
    waiting[0]["path"] = "../outside/x.bin"
    target = waiting[0]["id"]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    event = run.wait_here(pause)
    resumed = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), TransferOptions()), policy, state)
    summary = resumed.resume(event)
    assert not (tmp_path / "outside").exists()
    record = {r.id: r for r in summary.records}[target]
    assert record.status == "copied"
    assert ".." not in record.path.split("/")
    assert (dest / record.path).is_file()


def _failed_and_pending_with_one_name(emulator) -> tuple[dict, dict]:
    failing = emulator.add_object(REGION, type="callrecording", size=3000, object_name="same.mp3")
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[failing["id"]]))
    later = emulator.add_object(REGION, type="callrecording", size=3000, object_name="same.mp3", state="PENDING")
    return failing, later


def _path_of_later(hook, emulator, dest: Path, later: dict, *, deferred: bool) -> str:
    policy = _policy()
    options = TransferOptions(path_template="{name}")
    run = TransferRun(TransferEngine(hook, dest.as_uri(), options), policy)
    outcome = run.start(hook.iter_objects("objectName==same.mp3", region=REGION, states=SEARCHED))
    assert isinstance(outcome, Pause)
    emulator.set_object_state(later["id"], "AVAILABLE")
    event = run.wait_here(outcome)
    if deferred:
        state = run.state()
        run.close()
        run = TransferRun.from_state(TransferEngine(hook, dest.as_uri(), options), policy, state)
    summary = run.resume(event)
    emulator.set_object_state(later["id"], "PENDING")  # for the other run
    return {r.id: r for r in summary.records}[later["id"]].path


def test_a_failed_objects_path_stays_taken_deferred_or_not(make_hook, emulator, tmp_path):
    hook = make_hook(max_retries=0)
    _failing, later = _failed_and_pending_with_one_name(emulator)
    inline = _path_of_later(hook, emulator, tmp_path / "inline", later, deferred=False)
    deferred = _path_of_later(hook, emulator, tmp_path / "deferred", later, deferred=True)
    assert inline == deferred == f"same~{later['id'][:12]}.mp3"
