"""What a resumed or failing run reads back (pause manifests, saved states, events) may narrow what it does,
never widen it: no delete without this run's proof, no cancel of a job it never started, every job it started
cancelled when it fails."""

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
        seed=23, objects_per_region=4, archived_fraction=0.0, revoked_fraction=0.0, bulk_delay=0.2, regions=(REGION,)
    )


def _policy(**kwargs: Any) -> RunPolicy:
    return RunPolicy(poll_interval=0.1, not_ready_poll_interval=0.1, not_ready_timeout=3.0, **kwargs)


def _engine(hook, dest: Path) -> TransferEngine:
    return TransferEngine(hook, dest.as_uri(), TransferOptions())


def _paused(hook, dest: Path, policy: RunPolicy, fiql: str):
    run = TransferRun(_engine(hook, dest), policy)
    outcome = run.start(hook.iter_objects(fiql, region=REGION, states=SEARCHED))
    assert isinstance(outcome, Pause)
    return run, outcome


def test_a_delete_marker_read_back_from_the_pause_manifest_deletes_without_proof(make_hook, emulator, tmp_path):
    """
    The resumed run re-proves every copy record of its pause manifest before deleting, and 'no delete without
    proof from this run'. A record that arrives already marked delete="requested" keeps that marker when its
    proof FAILS (mark_proved never clears it), and delete_marked deletes every "requested" record in the store.
    Here the record names an object outside the search whose copy is nowhere at the destination; the saved
    state's digest is the one of the file as it is now (a tampered state, as the brief allows).
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    victim = emulator.add_object(REGION, type="voicemail", size=2000)  # outside the search, never copied
    emulator.add_object(REGION, type="callrecording", size=1000)  # copied and proved in this run
    pending = emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    policy = _policy(delete_after_transfer=True)
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    path = dest / MANIFEST_DIR / state["manifest"]
    line = {
        "id": victim["id"],
        "region": REGION,
        "source": "x",
        "destination": "",
        "path": "nowhere/victim.wav",
        "size": 2000,
        "md5": emulator.md5(victim["id"]),
        "status": "copied",
        "verified": True,
        "evidence": "written",
        "delete": "requested",
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    state["manifest_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    emulator.set_object_state(pending["id"], "AVAILABLE")
    event = run.wait_here(pause)
    summary = TransferRun.from_state(_engine(hook, dest), policy, state).resume(event)
    record = {r.id: r for r in summary.records}[victim["id"]]
    assert not (dest / "nowhere" / "victim.wav").exists()
    assert victim["id"] in summary.delete_failures, summary.delete_failures  # its proof failed ...
    assert emulator.get(victim["id"])["objectState"] == "AVAILABLE", (  # ... yet it was deleted
        f"object {victim['id']} was deleted at 8x8 although this run's proof failed "
        f"({summary.delete_failures.get(victim['id'])!r}); its record: delete={record.delete!r}"
    )


def _wrong_digest(state: dict[str, Any], manifest: Path) -> None:
    state["manifest_sha256"] = "0" * 64


def _digest_not_a_string(state: dict[str, Any], manifest: Path) -> None:
    state["manifest_sha256"] = 12345


def _manifest_gone(state: dict[str, Any], manifest: Path) -> None:
    manifest.unlink()


@pytest.mark.parametrize("tamper", [_wrong_digest, _digest_not_a_string, _manifest_gone])
def test_a_refused_resume_does_not_cancel_a_job_the_run_never_started(make_hook, emulator, tmp_path, tamper, caplog):
    """
    A job named in the saved state but by no record of the pause manifest is not the run's: a resume that
    succeeds leaves it alone (test_a_bulk_job_in_the_state_that_the_run_never_started_is_not_cancelled). A
    resume that is refused (digest differs / is unreadable / manifest gone) cancels EVERY job the state names,
    so a tampered state makes the run cancel another DAG's job.
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    for _ in range(3):
        emulator.add_object(REGION, type="callrecording", size=1000)
    policy = _policy(strategy="bulk")
    run, _ = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    other = emulator.add_object(REGION, type="voicemail", size=1500)
    emulator.store.config.bulk_delay = 60.0  # the other DAG's job is still running
    [foreign] = hook.start_bulk_download([other["id"]], region=REGION)
    state["jobs"].append({"zip_name": foreign.zip_name, "region": REGION, "count": 1})
    tamper(state, dest / MANIFEST_DIR / state["manifest"])
    with caplog.at_level("WARNING"), pytest.raises(ConfigurationError):
        TransferRun.from_state(_engine(hook, dest), policy, state)
    assert foreign.zip_name in caplog.text and "not cancelled" in caplog.text  # named for a person to cancel
    status = hook.get_bulk_job(foreign.zip_name, region=REGION).status
    assert getattr(status, "value", status) != "CANCELLED", (
        f"the refused resume cancelled bulk job {foreign.zip_name}, which the run never started"
    )


class _Killed(BaseException):
    pass


def test_a_state_naming_a_crashed_runs_manifest_deletes_a_copy_that_is_gone(make_hook, emulator, tmp_path, monkeypatch):
    """
    The same defect with no manifest edited at all: run A is killed after it published "delete requested"
    and before its delete call (the window deletes.py documents). A later paused run whose saved state names
    A's manifest (and its true SHA-256) resumes; A's copy of one object has been removed meanwhile, so this
    run's proof fails for it -- and it is deleted at 8x8 anyway.
    """
    from airflow_provider_eightbyeight.transfer import deletes

    hook = make_hook()
    dest = tmp_path / "dest"
    kept = emulator.add_object(REGION, type="voicemail", size=2000)
    gone = emulator.add_object(REGION, type="voicemail", size=2000)
    policy = _policy(delete_after_transfer=True)

    def killed(self, summary):
        raise _Killed("worker killed after the manifest named the deletes")

    monkeypatch.setattr(deletes.Deleter, "delete_marked", killed)
    first = TransferRun(_engine(hook, dest), policy)
    with pytest.raises(_Killed):
        first.run_here(hook.iter_objects("type==voicemail", region=REGION, states=SEARCHED))
    monkeypatch.undo()
    crashed = dest / MANIFEST_DIR / first.manifest
    lines = [json.loads(x) for x in crashed.read_text().splitlines()]
    assert {x["id"]: x.get("delete") for x in lines} == {kept["id"]: "requested", gone["id"]: "requested"}
    assert emulator.get(gone["id"])["objectState"] == "AVAILABLE"  # A never deleted it
    (dest / next(x["path"] for x in lines if x["id"] == gone["id"])).unlink()  # its copy is removed since

    pending = emulator.add_object(REGION, type="callrecording", size=1000, state="PENDING")
    run, pause = _paused(hook, dest, policy, "type==callrecording")
    state = run.state()
    run.close()
    state["manifest"] = first.manifest  # the tampered state: another (genuine) manifest, and its true digest
    state["manifest_sha256"] = hashlib.sha256(crashed.read_bytes()).hexdigest()
    emulator.set_object_state(pending["id"], "AVAILABLE")
    summary = TransferRun.from_state(_engine(hook, dest), policy, state).resume(run.wait_here(pause))
    assert gone["id"] in summary.delete_failures, summary.delete_failures  # this run's proof failed ...
    assert emulator.get(gone["id"])["objectState"] == "AVAILABLE", (  # ... yet it was deleted
        f"object {gone['id']} was deleted at 8x8 although its copy is gone ({summary.delete_failures[gone['id']]!r})"
    )


class _Timeout(Exception):
    """What Airflow's execution_timeout raises in the main thread."""


def test_every_unfinished_job_is_cancelled_when_the_run_fails_while_cancelling(make_hook, emulator, tmp_path):
    """
    The run fails (execution_timeout) during the first cancel of _collect_bulk: the other unfinished job is
    never cancelled, because _collect_bulk emptied self.jobs before the cancel loop, so _abort finds none.
    """
    hook = make_hook()
    dest = tmp_path / "dest"
    for _ in range(4):
        emulator.add_object(REGION, type="callrecording", size=1000)
    emulator.store.config.bulk_delay = 3600.0
    run = TransferRun(_engine(hook, dest), _policy(strategy="bulk", bulk_limit_bytes=2000))
    pause = run.start(hook.iter_objects("type==callrecording", region=REGION))
    assert isinstance(pause, Pause) and len(run.jobs) >= 2
    started = len(run.jobs)
    cancel = run.zips.cancel_job

    def cancel_then_time_out(*args: Any, **kwargs: Any) -> None:
        cancel(*args, **kwargs)
        raise _Timeout("execution_timeout")

    run.zips.cancel_job = cancel_then_time_out  # type: ignore[method-assign]
    with pytest.raises(_Timeout):
        run.resume({"status": "timeout", "jobs": {}})
    cancelled = emulator.stats()["requests"].get("bulk_cancel", 0)
    assert cancelled == started, f"the run failed with {started} unfinished bulk jobs and cancelled {cancelled}"
