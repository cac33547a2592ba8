"""
Full deferred transfers (520+ objects, deletes on) whose pause manifest is tampered with while the task is
deferred: a line added for an object outside the search (the path of its real copy, ``evidence: written``),
a line removed, a waiting path that leaves the destination; with a saved state of this release (it holds the
manifest's digest) and of release 0.2 (it does not). The run may only do less for it: the object outside the
search is never deleted, nothing is written outside the destination, and a re-run of the cleared task ends
with every object once, verified, deleted only on proof.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferOptions
from airflow_provider_eightbyeight.transfer.manifest import MANIFEST_DIR
from airflow_provider_eightbyeight.transfer.run import Pause, RunPolicy, TransferRun
from tests.helpers import FAST_RETRY_EXTRAS
from tests.reliability.checks import Destination, local_destination, verify
from tests.tampering import forged_copy_line

REGION = "us-east"
WINDOW = "type==callrecording"
SEARCHED = ("AVAILABLE", "PENDING")


def _pause_manifest(root: Path) -> Path:
    return sorted((root / MANIFEST_DIR).glob("*.jsonl"))[-1]


def _tamper(root: Path, how: str, emulator: Any, victim: dict, victim_path: str) -> None:
    manifest = _pause_manifest(root)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    if how == "forged_copy":
        lines.append(forged_copy_line(root, emulator, victim, victim_path, REGION))
    elif how == "removed_line":
        lines.remove(next(line for line in lines if line["status"] == "copied"))
    else:
        for line in [line for line in lines if line["status"] == "waiting" and line.get("path")][:5]:
            line["path"] = "../outside/" + line["path"].rsplit("/", 1)[-1]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _without(destination: Destination, object_id: str) -> Destination:
    """The destination as ``verify`` sees it, leaving out the copy of an object outside the search."""
    files = destination.files
    return Destination(
        destination.url,
        lambda: {k: v for k, v in files().items() if k != object_id},
        destination.leftovers,
        destination.manifest,
    )


@pytest.mark.parametrize(
    ("how", "older_state"),
    [
        ("forged_copy", False),
        ("forged_copy", True),
        ("removed_line", False),
        ("escaping_path", False),
        ("escaping_path", True),
    ],
)
def test_a_tampered_pause_manifest_narrows_the_run(make_hook, emulator, tmp_path, how, older_state):
    hook = make_hook(max_retries=10, **FAST_RETRY_EXTRAS)
    root = tmp_path / "dest"
    victim = emulator.add_object(REGION, type="voicemail", size=3000)
    earlier = TransferEngine(hook, root.as_uri(), TransferOptions()).run([hook.get_object(victim["id"], region=REGION)])
    victim_path = next(r.path for r in earlier.records if r.id == victim["id"])
    pending = [emulator.add_object(REGION, type="callrecording", size=4000, state="PENDING")["id"] for _ in range(3)]
    expected = {o["id"] for o in emulator.objects(REGION, states="AVAILABLE") if o["type"] == "callrecording"}
    expected |= set(pending)
    strategy = "bulk" if how == "escaping_path" else "objects"
    policy = RunPolicy(strategy=strategy, delete_after_transfer=True, poll_interval=0.1, not_ready_poll_interval=0.2)
    run = TransferRun(TransferEngine(hook, root.as_uri(), TransferOptions()), policy)
    outcome = run.start(hook.iter_objects(WINDOW, states=SEARCHED))
    assert isinstance(outcome, Pause)
    tampered = False
    refused = False
    while isinstance(outcome, Pause):
        state = run.state()
        run.close()
        if not tampered:
            _tamper(root, how, emulator, victim, victim_path)
            tampered = True
            if older_state:
                state.pop("manifest_sha256")
                state["version"] = 2
        for object_id in pending:
            emulator.set_object_state(object_id, "AVAILABLE")
        event = run.wait_here(outcome)
        try:
            run = TransferRun.from_state(TransferEngine(hook, root.as_uri(), TransferOptions()), policy, state)
        except ConfigurationError as err:
            assert not older_state and "changed since" in str(err)
            refused = True
            break
        outcome = run.resume(event)
    assert refused != older_state
    assert emulator.get(victim["id"])["objectState"] == "AVAILABLE"
    assert (root / victim_path).read_bytes() == emulator.content(victim["id"])
    assert not (tmp_path / "outside").exists()
    if refused:  # nothing was deleted; the cleared task runs again from the start
        assert not any(emulator.get(i)["objectState"] == "REVOKED" for i in expected)
        summary = TransferEngine(hook, root.as_uri(), TransferOptions()).run(
            hook.iter_objects(WINDOW, states=SEARCHED), delete_after_transfer=True, strategy=strategy
        )
        deleted = expected
    else:  # the state of an older release: its lines cannot be checked, so the resumed run deletes nothing
        summary = outcome
        deleted = set()
        assert summary.deleted == 0 and summary.not_deleted >= len(expected)
    verify(emulator, _without(local_destination(root), victim["id"]), summary, expected, deleted_ids=deleted)
