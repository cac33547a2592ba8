"""Checks the reliability scenarios share: what must hold after every transfer, and the suite's figures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_eightbyeight.testing import EightByEightEmulator
from tests.helpers import is_sidecar

FIGURES: dict[str, int] = {
    "scenarios": 0,
    "faults injected": 0,
    "retries": 0,
    "objects verified": 0,
    "objects lost": 0,
    "duplicates": 0,
}


@dataclass
class Destination:
    """Where a scenario copies to, and how to read it back."""

    url: str
    files: Callable[[], dict[str, list[tuple[str, bytes]]]]
    leftovers: Callable[[], list[str]]
    manifest: Callable[[], list[dict]]
    extra: dict[str, Any] = field(default_factory=dict)


def local_destination(root: Path) -> Destination:
    def files() -> dict[str, list[tuple[str, bytes]]]:
        found: dict[str, list[tuple[str, bytes]]] = {}
        for path in root.rglob("*"):
            if not path.is_file() or "_manifests" in path.parts or path.name.endswith(".part"):
                continue
            if is_sidecar(path):
                continue
            rel = path.relative_to(root).as_posix()
            found.setdefault(path.name.split("_", 1)[0], []).append((rel, path.read_bytes()))
        return found

    def leftovers() -> list[str]:
        return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.name.endswith(".part")]

    def manifest() -> list[dict]:
        paths = sorted((root / "_manifests").glob("*.jsonl"))
        return [json.loads(line) for line in paths[-1].read_text().splitlines()] if paths else []

    return Destination(root.as_uri(), files, leftovers, manifest)


def verify(
    emulator: EightByEightEmulator,
    destination: Destination,
    summary: Any,
    expected_ids: set[str],
    *,
    failed_ids: set[str] = frozenset(),  # type: ignore[assignment]
    deleted_ids: set[str] | None = None,
) -> None:
    """The promises, object by object; adds to the suite's figures."""
    files = destination.files()
    duplicates = {i: p for i, p in files.items() if len(p) > 1}
    lost = expected_ids - failed_ids - set(files)
    FIGURES["scenarios"] += 1
    FIGURES["duplicates"] += len(duplicates)
    FIGURES["objects lost"] += len(lost)
    assert not duplicates, f"objects present more than once: {duplicates}"
    assert not lost, f"objects lost: {sorted(lost)[:20]}"
    assert not (set(files) - expected_ids), "unexpected files at the destination"
    assert not (set(files) & failed_ids), "an object reported failed has a file"
    for object_id, [(path, data)] in files.items():
        assert hashlib.md5(data).hexdigest() == emulator.md5(object_id), f"wrong bytes in {path}"
    FIGURES["objects verified"] += len(files)
    assert destination.leftovers() == [], "temporary or partial files left behind"
    records = {r["id"]: r for r in destination.manifest()}
    for object_id, [(path, data)] in files.items():
        record = records[object_id]
        assert record["status"] in ("copied", "restored", "skipped") and record["path"] == path
        assert record["md5"] == hashlib.md5(data).hexdigest() and record["size"] == len(data)
    assert {i for i, r in records.items() if r["status"] == "failed"} == set(failed_ids)
    assert summary.failed == len(failed_ids)
    state = {o["id"]: o["objectState"] for r in emulator.regions for o in emulator.objects(r)}
    if deleted_ids is not None:
        revoked = {i for i in expected_ids if state[i] == "REVOKED"}
        assert revoked == deleted_ids
        assert not (revoked & failed_ids), "an object whose copy failed was deleted at 8x8"
        assert all(records[i]["deleted_at_source"] and records[i]["verified"] for i in revoked)


def account_faults(emulator: EightByEightEmulator, summary: Any, *, retry_kinds: tuple[str, ...]) -> None:
    """
    Every injected fault of a retry-causing kind is in the summary: it cost one retry, or it was the
    last straw of an object that failed (its final attempt is not retried).
    """
    injected = emulator.stats()["faults_injected"]
    caused = sum(injected.get(kind, 0) for kind in retry_kinds)
    FIGURES["faults injected"] += sum(injected.values())
    FIGURES["retries"] += summary.retries
    # A latency fault adds to another fault on the same request (the emulator counts both); when it outlasts
    # the client's timeout, the one request costs one retry for the two. So each latency fault may account
    # for at most one other.
    overlap = injected.get("latency", 0) if "latency" in retry_kinds else 0
    assert caused - overlap <= summary.retries + summary.failed <= caused, (
        f"summary reports {summary.retries} retries and {summary.failed} failures for {injected}"
    )
