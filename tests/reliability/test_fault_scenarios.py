"""
Full transfers (520+ objects, mixed sizes) under injected faults, with both strategies, to local disk and S3.

After each scenario: every object present exactly once with the right bytes and MD5, no temporary or
partial file, the manifest matches the destination, nothing deleted at 8x8 that was not verified, and
the retries the summary reports equal the faults the emulator injected.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from airflow_provider_eightbyeight.testing import FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferError, TransferOptions
from tests.helpers import BUCKET, FAST_RETRY_EXTRAS, ROOT
from tests.reliability.checks import Destination, account_faults, local_destination, verify

BYTE_FAULTS = ("reset", "truncate", "corrupt")
RETRY_KINDS = ("status", "reset", "truncate", "corrupt", "latency")


def expected_ids(emulator) -> set[str]:
    return {o["id"] for o in emulator.objects("us-east", states="AVAILABLE")}


def add_large_objects(emulator, count: int = 3) -> None:
    for size in (3, 6, 9)[:count]:
        emulator.add_object("us-east", size=size * 1024 * 1024, type="screenrecording")


def transfer(hook, destination: Destination, strategy: str, *, delete: bool = False, workers: int = 8):
    engine = TransferEngine(hook, destination.url, TransferOptions(max_workers=workers, write_metadata=True))
    objects = hook.iter_objects()
    if strategy == "bulk":
        return engine.run_bulk(
            objects, delete_after_transfer=delete, poll_interval=0.05, timeout=60, limit_bytes=8 * 1024 * 1024
        )
    return engine.run(objects, delete_after_transfer=delete)


def s3_destination(client, prefix: str) -> Destination:
    def files():
        found: dict[str, list[tuple[str, bytes]]] = {}
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        key_set = set(keys)
        for key in keys:
            if "/_manifests/" in key or (key.endswith(".meta.json") and key[: -len(".meta.json")] in key_set):
                continue
            rel = key[len(prefix) :]
            data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            found.setdefault(rel.rsplit("/", 1)[-1].split("_", 1)[0], []).append((rel, data))
        return found

    def leftovers():
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]

    def manifest():
        pages = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "_manifests/").get("Contents", [])
        latest = sorted(item["Key"] for item in pages)[-1]
        body = client.get_object(Bucket=BUCKET, Key=latest)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]

    return Destination(f"s3://aws_moto@{BUCKET}/{prefix}", files, leftovers, manifest)


@pytest.fixture
def fault_hook(make_hook):
    """A hook with a generous retry budget and a short timeout (so slow answers time out)."""
    return make_hook(max_retries=10, timeout=2.0, **FAST_RETRY_EXTRAS)


# ---------------------------------------------------------------------------- one kind of fault at a time


@pytest.mark.parametrize("strategy", ["objects", "bulk"])
def test_429_storm_with_retry_after(fault_hook, emulator, tmp_path, strategy):
    add_large_objects(emulator)
    expected = expected_ids(emulator)
    route = "content" if strategy == "objects" else "bulk_status"
    emulator.add_fault(FaultRule(kind="status", route=route, status=429, retry_after=0, probability=0.3, times=80))
    emulator.add_fault(FaultRule(kind="status", route="search", status=429, retry_after="0", times=3))
    summary = transfer(fault_hook, (dest := local_destination(tmp_path)), strategy)
    verify(emulator, dest, summary, expected)
    account_faults(emulator, summary, retry_kinds=RETRY_KINDS)
    assert summary.retries >= 3


def test_5xx_bursts_and_a_proxy_html_page(fault_hook, emulator, tmp_path):
    expected = expected_ids(emulator)
    for status in (500, 502, 503):
        emulator.add_fault(FaultRule(kind="status", route="content", status=status, times=15))
    emulator.add_fault(
        FaultRule(
            kind="status",
            route="*",
            status=502,
            times=10,
            probability=0.2,
            body="<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
            content_type="text/html",
        )
    )
    summary = transfer(fault_hook, (dest := local_destination(tmp_path)), "objects")
    verify(emulator, dest, summary, expected)
    account_faults(emulator, summary, retry_kinds=RETRY_KINDS)
    assert summary.retries >= 45


@pytest.mark.parametrize("kind", BYTE_FAULTS)
@pytest.mark.parametrize("strategy", ["objects", "bulk"])
def test_broken_bodies(fault_hook, emulator, tmp_path, kind, strategy):
    add_large_objects(emulator)
    expected = expected_ids(emulator)
    route = "content" if strategy == "objects" else "bulk_download"
    emulator.add_fault(FaultRule(kind=kind, route=route, times=12, probability=0.5, after_bytes=700))
    summary = transfer(fault_hook, (dest := local_destination(tmp_path)), strategy)
    verify(emulator, dest, summary, expected)
    if strategy == "bulk" and kind == "corrupt":
        # a corrupted zip is not retried: its entries fail their MD5 and those objects come one by one
        account_faults(emulator, summary, retry_kinds=("status", "reset", "truncate", "latency"))
        assert emulator.stats()["requests"].get("content", 0) >= 1
    else:
        account_faults(emulator, summary, retry_kinds=RETRY_KINDS)
        assert summary.retries >= 1


def test_answers_slower_than_the_timeout(fault_hook, emulator, tmp_path):
    expected = expected_ids(emulator)
    emulator.add_fault(FaultRule(kind="latency", route="content", delay=3.0, times=6, probability=0.3))
    emulator.add_fault(FaultRule(kind="latency", route="search", delay=3.0, times=1))
    summary = transfer(fault_hook, (dest := local_destination(tmp_path)), "objects")
    verify(emulator, dest, summary, expected)
    account_faults(emulator, summary, retry_kinds=RETRY_KINDS)
    assert summary.retries == 7


def test_token_expiry_401_and_a_failing_token_endpoint(fault_hook, emulator, tmp_path):
    expected = expected_ids(emulator)
    emulator.add_fault(FaultRule(kind="status", route="token", status=500, times=2))
    emulator.add_fault(FaultRule(kind="latency", route="content", delay=0.01))  # stretch the run a little
    done = threading.Event()

    def revoke_mid_copy() -> None:
        # Revoke once the copy is under way (not after a fixed delay: on a loaded machine the first
        # token can come later than any delay, and a revocation before it tests nothing).
        while not done.is_set():
            if emulator.stats()["requests"].get("content", 0) >= 20:
                emulator.revoke_tokens()  # every token now answers 401
                return
            done.wait(0.005)

    revoker = threading.Thread(target=revoke_mid_copy, daemon=True)
    revoker.start()
    try:
        summary = transfer(fault_hook, (dest := local_destination(tmp_path)), "objects")
    finally:
        done.set()
        revoker.join()
    verify(emulator, dest, summary, expected)
    account_faults(emulator, summary, retry_kinds=("status",))  # the 10 ms latency is harmless
    assert summary.retries == 2  # the token endpoint's two failures
    assert fault_hook.stats.token_refreshes_after_401 >= 1
    assert emulator.stats()["token_requests"] >= 4  # 2 failed + first token + at least one after the 401


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED", "PARTIAL_DONE", "zip missing an entry"])
def test_bulk_jobs_that_do_not_deliver(fault_hook, emulator, tmp_path, outcome):
    add_large_objects(emulator)
    expected = expected_ids(emulator)
    if outcome == "zip missing an entry":
        emulator.add_fault(FaultRule(kind="zip_drop", times=3))
    else:
        emulator.add_fault(FaultRule(kind="bulk_outcome", job_status=outcome, times=3))
    summary = transfer(fault_hook, (dest := local_destination(tmp_path)), "bulk")
    verify(emulator, dest, summary, expected)
    assert summary.retries == 0
    assert emulator.stats()["requests"]["content"] >= 3  # what the jobs did not deliver came one by one


# ---------------------------------------------------------------------------- mixed faults, by seed


def mixed_rules(seed: int, strategy: str) -> list[FaultRule]:
    rng = random.Random(seed)
    body_route = "content" if strategy == "objects" else "bulk_download"
    rules = [
        FaultRule(
            kind="status",
            route="*",
            status=rng.choice([429, 500, 502, 503]),
            retry_after=0,
            probability=round(rng.uniform(0.02, 0.08), 3),
            times=rng.randint(10, 30),
        ),
        FaultRule(
            kind=rng.choice(BYTE_FAULTS),
            route=body_route,
            probability=round(rng.uniform(0.05, 0.2), 3),
            times=rng.randint(5, 15),
            after_bytes=rng.randint(0, 4000),
        ),
        FaultRule(kind="latency", route=body_route, delay=3.0, probability=0.02, times=rng.randint(1, 3)),
        FaultRule(kind="status", route="token", status=503, times=rng.randint(0, 2)),
    ]
    if strategy == "bulk":
        rules.append(FaultRule(kind="bulk_outcome", job_status=rng.choice(["FAILED", "PARTIAL_DONE"]), times=1))
        rules.append(FaultRule(kind="zip_drop", times=1))
    return rules


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("strategy", "where"), [("objects", "local"), ("bulk", "local"), ("objects", "s3"), ("bulk", "s3")]
)
def test_mixed_faults(fault_hook, emulator, tmp_path, request, seed, strategy, where):
    if where == "s3":
        client = request.getfixturevalue("s3")
        dest = s3_destination(client, f"mixed-{seed}-{strategy}/")
    else:
        dest = local_destination(tmp_path)
    add_large_objects(emulator, count=2)
    expected = expected_ids(emulator)
    for rule in mixed_rules(seed * 100 + len(strategy), strategy):
        emulator.add_fault(rule)
    summary = transfer(fault_hook, dest, strategy, delete=(seed == 3 and where == "local"))
    verify(emulator, dest, summary, expected, deleted_ids=expected if seed == 3 and where == "local" else None)
    # a corrupted zip is not retried: its entries fail their MD5 and those objects come one by one
    kinds = RETRY_KINDS if strategy == "objects" else tuple(k for k in RETRY_KINDS if k != "corrupt")
    account_faults(emulator, summary, retry_kinds=kinds)


# ---------------------------------------------------------------------------- beyond the retry budget


def test_faults_beyond_the_budget_fail_loudly_and_leave_nothing_partial(make_hook, emulator, tmp_path):
    hook = make_hook(max_retries=2, **FAST_RETRY_EXTRAS)
    expected = expected_ids(emulator)
    doomed = sorted(expected)[:3]
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=doomed[:2], after_bytes=100))
    emulator.add_fault(FaultRule(kind="status", route="content", status=503, object_ids=doomed[2:]))
    dest = local_destination(tmp_path)
    engine = TransferEngine(hook, dest.url, TransferOptions(max_workers=8))
    summary = engine.run(hook.iter_objects(), delete_after_transfer=True)
    verify(emulator, dest, summary, expected, failed_ids=set(doomed), deleted_ids=expected - set(doomed))
    with pytest.raises(TransferError) as info:
        from airflow_provider_eightbyeight.transfer.engine import raise_for_failures

        raise_for_failures(summary)
    message = str(info.value)
    for object_id in doomed[:2]:
        assert f"{object_id}: Object {object_id} failed verification on all 3 attempt(s)" in message
    assert f"{doomed[2]}: 8x8 failed to answer after 2 retries (HTTP 503" in message
    assert "Nothing partial was left behind" in message
    account_faults(emulator, summary, retry_kinds=RETRY_KINDS)


# ---------------------------------------------------------------------------- the worker killed mid-transfer


WORKER = """
import os, sys
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
EightByEightTransferOperator(task_id="killed", destination=sys.argv[1], max_workers=4, write_metadata=True).execute({})
"""


def test_worker_killed_mid_transfer_then_rerun(make_hook, emulator, tmp_path):
    hook = make_hook(**FAST_RETRY_EXTRAS)
    add_large_objects(emulator)
    expected = expected_ids(emulator)
    emulator.add_fault(FaultRule(kind="latency", route="content", delay=0.02))  # slow enough to kill mid-way
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, tmp_path.as_uri()], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = sum(1 for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith((".part", ".json")))
        if done >= 120:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = [p for p in tmp_path.rglob("*.part")]
    copied_before = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith((".part", ".json"))]
    assert 0 < len(copied_before) < len(expected)
    assert not (tmp_path / "_manifests").exists()  # the killed run never finished
    for path in copied_before:  # whatever has a final name is complete and correct
        assert hashlib.md5(path.read_bytes()).hexdigest() == emulator.md5(path.name.split("_", 1)[0])
    emulator.clear_faults()
    dest = local_destination(tmp_path)
    summary = TransferEngine(hook, dest.url, TransferOptions(max_workers=8, write_metadata=True)).run(
        hook.iter_objects()
    )
    verify(emulator, dest, summary, expected)
    assert summary.skipped >= len(copied_before) and summary.copied == len(expected) - summary.skipped
    assert all(not p.exists() for p in partial)
