"""The transfer engine and operator against the emulator, to local disk."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError
from airflow_provider_eightbyeight.models import StoredObject
from airflow_provider_eightbyeight.operators import (
    EightByEightDeleteObjectsOperator,
    EightByEightListObjectsOperator,
    EightByEightTransferOperator,
)
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine, TransferError, TransferOptions
from airflow_provider_eightbyeight.transfer.paths import PathTemplateError
from tests.helpers import is_sidecar


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=31, objects_per_region=40, bulk_delay=0.2, restore_delay=0.3)


@pytest.fixture
def conn(make_hook):
    make_hook()  # defines AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT for the operators
    return "eightbyeight_default"


def run_op(op, ti=None):
    """Execute an operator outside a DAG run, with a minimal context."""
    return op.execute({"ti": ti} if ti else {})


def copied_files(root: Path) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*"):
        if not path.is_file() or "_manifests" in path.parts:
            continue
        if is_sidecar(path):
            continue
        out[path.name.split("_", 1)[0]] = path
    return out


def manifest_records(root: Path) -> list[dict]:
    [path] = sorted((root / "_manifests").glob("*.jsonl"))[-1:]
    return [json.loads(line) for line in path.read_text().splitlines()]


def available_ids(emulator) -> set[str]:
    return {o["id"] for o in emulator.objects("us-east", states="AVAILABLE")}


# ---------------------------------------------------------------------------- list operator


def test_list_operator_summaries_ids_and_batches(conn, emulator):
    summaries = run_op(EightByEightListObjectsOperator(task_id="l", object_types=["callrecording"]))
    want = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "callrecording"}
    assert {s["id"] for s in summaries} == want
    assert json.loads(json.dumps(summaries)) == summaries
    assert set(summaries[0]) == {"id", "type", "name", "size", "checksum", "state", "created", "region", "tags"}
    ids = run_op(EightByEightListObjectsOperator(task_id="l2", return_ids=True, max_objects=5))
    assert len(ids) == 5 and all(isinstance(i, str) for i in ids)
    batches = run_op(EightByEightListObjectsOperator(task_id="l3", batch_size=7))
    assert [len(b) for b in batches[:-1]] == [7] * (len(batches) - 1)
    assert {i for b in batches for i in b} == available_ids(emulator)


def test_list_operator_time_window_accepts_iso_and_epoch_ms(conn, emulator):
    from airflow_provider_eightbyeight.timeutil import parse_api_time, to_epoch_ms

    start, end = "2026-11-03T00:00:00Z", to_epoch_ms("2026-11-05T00:00:00Z")
    got = run_op(EightByEightListObjectsOperator(task_id="w", created_after=start, created_before=end, return_ids=True))
    want = {
        o["id"]
        for o in emulator.objects("us-east", states="AVAILABLE")
        if to_epoch_ms(start) <= to_epoch_ms(parse_api_time(o["createdTime"])) < end
    }
    assert set(got) == want and want


def test_bad_search_arguments_name_the_argument(conn):
    with pytest.raises(ConfigurationError, match="created_after"):
        run_op(EightByEightListObjectsOperator(task_id="b", created_after="last tuesday"))
    with pytest.raises(ConfigurationError, match="tags must be a dict"):
        run_op(EightByEightListObjectsOperator(task_id="t", tags="direction=INBOUND"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy"):
        EightByEightTransferOperator(task_id="x", destination="file:///tmp/x", strategy="fast")
    with pytest.raises(ValueError, match="on_archived"):
        EightByEightTransferOperator(task_id="x", destination="file:///tmp/x", on_archived="ignore")


# ---------------------------------------------------------------------------- transfer operator


def test_transfer_copies_verifies_and_reports(conn, emulator, tmp_path):
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), write_metadata=True)
    summary = run_op(op)
    expected = available_ids(emulator)
    archived = {o["id"] for o in emulator.objects("us-east", states="ARCHIVED")}
    assert summary["copied"] == len(expected) and summary["failed"] == 0
    assert summary["archived"] == len(archived) > 0  # reported, not silently skipped
    files = copied_files(tmp_path)
    assert set(files) == expected
    for object_id, path in files.items():
        assert path.read_bytes() == emulator.content(object_id)
        sidecar = json.loads(path.with_name(path.name + ".meta.json").read_text())
        assert sidecar["transfer"]["md5"] == emulator.md5(object_id) and sidecar["transfer"]["verified"]
    records = manifest_records(tmp_path)
    assert {r["id"] for r in records if r["status"] == "archived"} == archived
    assert summary["bytes_copied"] == sum(p.stat().st_size for p in files.values())
    assert summary["manifest"].startswith(tmp_path.as_uri())
    assert json.loads(json.dumps(summary)) == summary


def test_rerun_skips_present_copies_and_overwrite_forces(conn, emulator, tmp_path):
    op = EightByEightTransferOperator(task_id="t", destination=str(tmp_path), max_workers=4)
    first = run_op(op)
    victim = next(iter(copied_files(tmp_path).values()))
    victim.write_bytes(b"tampered")  # a broken copy must be replaced, not trusted
    second = run_op(EightByEightTransferOperator(task_id="t", destination=str(tmp_path), max_workers=4))
    assert second["copied"] == 1 and second["skipped"] == first["copied"] - 1
    assert victim.read_bytes() == emulator.content(victim.name.split("_", 1)[0])
    third = run_op(EightByEightTransferOperator(task_id="t", destination=str(tmp_path), overwrite=True))
    assert third["copied"] == first["copied"] and third["skipped"] == 0


def test_copies_left_by_a_run_without_manifest_are_verified_by_reading_them(conn, emulator, tmp_path):
    run_op(EightByEightTransferOperator(task_id="t", destination=str(tmp_path)))
    for manifest in (tmp_path / "_manifests").iterdir():
        manifest.unlink()  # as if the worker died before writing it
    again = run_op(EightByEightTransferOperator(task_id="t", destination=str(tmp_path)))
    assert again["copied"] == 0 and again["skipped"] == len(available_ids(emulator))


def test_explicit_ids_with_unknown_and_archived(conn, emulator, tmp_path):
    good = sorted(available_ids(emulator))[:3]
    archived = emulator.objects("us-east", states="ARCHIVED")[0]["id"]
    op = EightByEightTransferOperator(
        task_id="t", destination=str(tmp_path), object_ids=[*good, "no-such-id", archived], fail_on_error=False
    )
    summary = run_op(op)
    assert summary["copied"] == 3 and summary["archived"] == 1 and summary["failed"] == 1
    assert "no-such-id" in summary["failures"] and "not found at 8x8" in summary["failures"]["no-such-id"]
    with pytest.raises(TransferError, match=r"1 object\(s\) could not be copied.*no-such-id"):
        run_op(EightByEightTransferOperator(task_id="t2", destination=str(tmp_path), object_ids=[*good, "no-such-id"]))
    assert run_op(EightByEightTransferOperator(task_id="t3", destination=str(tmp_path), object_ids=[]))["copied"] == 0


def test_on_archived_fail_and_restore(conn, emulator, tmp_path):
    archived = {o["id"] for o in emulator.objects("us-east", states="ARCHIVED")}
    with pytest.raises(TransferError, match="ARCHIVED"):
        run_op(EightByEightTransferOperator(task_id="f", destination=str(tmp_path / "f"), on_archived="fail"))
    assert available_ids(emulator) <= set(copied_files(tmp_path / "f"))  # the rest was still copied
    summary = run_op(
        EightByEightTransferOperator(
            task_id="r", destination=str(tmp_path / "r"), on_archived="restore", restore_poll_interval=0.2
        )
    )
    assert summary["archived"] == 0 and summary["failed"] == 0
    assert archived <= set(copied_files(tmp_path / "r"))
    assert emulator.stats()["requests"]["restore"] == len(archived)


def test_a_failing_object_fails_the_task_after_the_rest_is_copied(conn, emulator, tmp_path):
    victim = sorted(available_ids(emulator))[0]
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[victim], after_bytes=5))
    with pytest.raises(TransferError, match=rf"{victim}.*failed verification"):
        run_op(EightByEightTransferOperator(task_id="t", destination=str(tmp_path)))
    files = copied_files(tmp_path)
    assert set(files) == available_ids(emulator) - {victim}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]
    [failed] = [r for r in manifest_records(tmp_path) if r["status"] == "failed"]
    assert failed["id"] == victim


def test_delete_after_transfer_deletes_only_what_was_verified(conn, emulator, tmp_path):
    victim = sorted(available_ids(emulator))[0]
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[victim], after_bytes=5))
    summary = run_op(
        EightByEightTransferOperator(
            task_id="t", destination=str(tmp_path), delete_after_transfer=True, fail_on_error=False
        )
    )
    copied = set(copied_files(tmp_path))
    assert summary["deleted"] == len(copied) == summary["copied"]
    assert emulator.get(victim)["objectState"] == "AVAILABLE"
    assert all(emulator.get(i)["objectState"] == "REVOKED" for i in copied)


def test_unverifiable_checksums_are_copied_but_never_deleted(make_hook, tmp_path):
    from airflow_provider_eightbyeight.testing import EightByEightEmulator

    with EightByEightEmulator(EmulatorConfig(seed=4, objects_per_region=8, multipart_checksum_fraction=1.0)) as emu:
        hook = make_hook("multi", key=emu.key, secret=emu.secret, api_base_url=emu.base_url)
        engine = TransferEngine(hook, str(tmp_path))
        summary = engine.run(hook.iter_objects(), delete_after_transfer=True)
        assert summary.copied == len(emu.objects("us-east", states="AVAILABLE")) > 0
        assert summary.deleted == 0 and summary.not_deleted == summary.copied
        assert all("not verified" in reason for reason in summary.delete_failures.values())
        assert all(o["objectState"] != "REVOKED" for o in emu.objects("us-east"))


def test_path_template_fields_collisions_and_errors(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    objs = list(hook.iter_objects(max_objects=6))
    same_name = [StoredObject.from_api(dict(o.raw, objectName="same.mp3"), "us-east") for o in objs[:3]]
    engine = TransferEngine(hook, str(tmp_path), TransferOptions(path_template="{region}/{name}"))
    summary = engine.run(same_name)
    assert summary.copied == 3
    names = sorted(p.name for p in (tmp_path / "us-east").iterdir())
    assert names[0] == "same.mp3" and all(n.startswith("same~") and n.endswith(".mp3") for n in names[1:])
    with pytest.raises(ConfigurationError, match="attribute access"):
        run_op(EightByEightTransferOperator(task_id="p", destination=str(tmp_path), path_template="{id.__class__}"))
    with pytest.raises(PathTemplateError, match="overwrite each other"):
        TransferOptions(path_template="{type}/{region}")


def test_destination_errors_are_clear(conn, tmp_path):
    with pytest.raises(ConfigurationError, match="relative path"):
        run_op(EightByEightTransferOperator(task_id="d", destination="data/8x8"))
    with pytest.raises(ConfigurationError, match="destination must be a URL"):
        run_op(EightByEightTransferOperator(task_id="d", destination=""))


def test_progress_and_summary_lines(make_hook, emulator, tmp_path, caplog):
    hook = make_hook()
    log = logging.getLogger("tests.transfer")
    caplog.set_level(logging.INFO, logger="tests.transfer")
    options = TransferOptions(max_workers=2, progress_interval=0)
    summary = TransferEngine(hook, str(tmp_path), options, log=log).run(hook.iter_objects())
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")]
    # a search is copied as it pages, so no total is known in advance: objects, MB and rate so far
    assert len(progress) == summary.copied and progress[-1].startswith(f"Progress: {summary.copied} objects")
    assert progress[-1].endswith("MB/s")
    lines = [r.getMessage() for r in caplog.records]
    at = next(i for i, line in enumerate(lines) if line.startswith("Transfer finished:"))
    final = lines[at : at + 5]  # short lines, so a log view shows each whole: counts, bytes, where, manifest
    assert f"{summary.copied} copied" in final[0] and all(len(line) <= 100 for line in final[:3]), final
    assert final[3] == f"Destination: {summary.destination}" and final[4] == f"Manifest: {summary.manifest}"
    planned = TransferEngine(hook, str(tmp_path / "b"), options, log=log).plan(hook.iter_objects())
    caplog.clear()
    list(TransferEngine(hook, str(tmp_path / "b"), options, log=log).copy_all(planned))  # a list: totals and ETA
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")]
    assert progress[-1].startswith(f"Progress: {len(planned) - 1}/{len(planned)} objects") and "ETA" in progress[-1]


def test_progress_of_a_run_with_failures_says_what_failed(make_hook, emulator, tmp_path, caplog):
    hook = make_hook()
    objects = list(hook.iter_objects())[:6]
    for victim in objects[:2]:
        emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[victim.id], after_bytes=5))
    log = logging.getLogger("tests.transfer")
    caplog.set_level(logging.INFO, logger="tests.transfer")
    options = TransferOptions(max_workers=1, progress_interval=0)
    summary = TransferEngine(hook, str(tmp_path), options, log=log).run(iter(objects))
    assert summary.failed == 2, summary
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")]
    assert progress and all("failed" in line for line in progress[-1:]), progress
    assert any(f"{summary.copied} copied" in line for line in progress) or summary.copied == 0, progress
    assert all(" copied" in line for line in progress)  # the MB are those copied, not of every object done


def test_bulk_jobs_are_logged_after_the_search_with_their_regions(conn, emulator, tmp_path, make_hook, caplog):
    from airflow_provider_eightbyeight.transfer.run import RunPolicy, TransferRun

    hook = make_hook()
    log = logging.getLogger("tests.transfer")
    caplog.set_level(logging.INFO, logger="tests.transfer")
    engine = TransferEngine(hook, tmp_path.as_uri(), log=log)
    run = TransferRun(engine, RunPolicy(strategy="bulk"))
    assert run.start(hook.iter_objects()) is not None and run.jobs
    lines = [r.getMessage() for r in caplog.records]
    found = next(i for i, line in enumerate(lines) if line.startswith("Found "))
    started = next(i for i, line in enumerate(lines) if line.startswith("Started "))
    assert found < started, lines  # in the order they happen: the search, then the jobs it led to
    assert "us-east" in lines[started] and "per region" in lines[started], lines[started]
    run.cancel()


def test_bulk_strategy_with_fallbacks(conn, emulator, tmp_path, make_hook):
    hook = make_hook()
    engine = TransferEngine(hook, str(tmp_path))
    objs = list(hook.iter_objects())
    emulator.set_object_state(objs[0].id, "ARCHIVED")  # archived after listing: left out of the zip
    summary = engine.run_bulk(objs, poll_interval=0.1, timeout=30, limit_bytes=sum(o.size or 0 for o in objs) // 2)
    assert summary.copied == len(objs) - 1 and summary.archived == 1 and summary.failed == 0  # its state changed
    assert set(copied_files(tmp_path)) == {o.id for o in objs[1:]}
    stats = emulator.stats()["requests"]
    assert stats["bulk_start"] >= 2 and stats["bulk_download"] == stats["bulk_start"]
    assert stats.get("content", 0) <= 1  # only the archived one was tried on its own


def test_delete_operator_requires_confirmation_for_a_filter(conn, emulator):
    with pytest.raises(ConfigurationError, match="confirm_delete_by_filter"):
        run_op(EightByEightDeleteObjectsOperator(task_id="d", object_types=["voicemail"]))
    voicemails = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "voicemail"}
    result = run_op(
        EightByEightDeleteObjectsOperator(task_id="d", object_types=["voicemail"], confirm_delete_by_filter=True)
    )
    assert set(result["deleted"]) == voicemails and result["failed"] == {}
    ids = sorted(available_ids(emulator))[:2]
    assert run_op(EightByEightDeleteObjectsOperator(task_id="e", object_ids=ids))["deleted"] == ids


def test_openlineage_facets_name_the_regions_and_the_destination(conn, emulator, tmp_path):
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), max_objects=2)
    run_op(op)
    lineage = op.get_openlineage_facets_on_complete(None)
    host = emulator.base_url.split("://", 1)[1]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"eightbyeight://{host}", "storage/us-east")]
    [output] = lineage.outputs
    assert output.namespace == "file" and output.name == str(tmp_path)


def test_airflows_openlineage_provider_extracts_the_facets(conn, emulator, tmp_path):
    """Through the OpenLineage provider's own extractor manager, as its listener asks after a task succeeds."""
    manager = pytest.importorskip("airflow.providers.openlineage.extractors.manager")
    from airflow.utils.state import TaskInstanceState

    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), max_objects=2)
    run_op(op)
    lineage = manager.ExtractorManager().extract_metadata(
        SimpleNamespace(run_id="r"), op, TaskInstanceState.SUCCESS, SimpleNamespace(task_id="t")
    )
    host = emulator.base_url.split("://", 1)[1]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"eightbyeight://{host}", "storage/us-east")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(tmp_path))]


def test_default_args_reach_the_shared_search_arguments():
    from airflow.providers.common.compat.sdk import DAG

    with DAG("defaults", schedule=None, default_args={"eightbyeight_conn_id": "other", "region": "uk"}):
        listing = EightByEightListObjectsOperator(task_id="l")
        copy = EightByEightTransferOperator(task_id="c", destination="file:///tmp/x")
    assert (listing.eightbyeight_conn_id, listing.region) == ("other", "uk")
    assert (copy.eightbyeight_conn_id, copy.region) == ("other", "uk")
    assert set(EightByEightTransferOperator.template_fields) >= {"eightbyeight_conn_id", "created_after", "tags"}


def test_archived_objects_are_still_searched_when_a_value_merely_mentions_objectstate():
    op = EightByEightListObjectsOperator(task_id="x", filter='queueName=="objectState"')
    assert op.object_filter(extra_states=("ARCHIVED",)).states == ("AVAILABLE", "ARCHIVED")
    explicit = EightByEightListObjectsOperator(task_id="y", filter="objectState==REVOKED")
    assert explicit.object_filter(extra_states=("ARCHIVED",)).states == ()  # the filter already chose states


def test_copying_starts_before_the_search_has_finished(conn, emulator, tmp_path):
    """The operator streams the search: the first object is copied while later pages are still unread (issue 9)."""
    for _ in range(300):
        emulator.add_object("us-east", size=500)
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), max_workers=2)
    real_search, real_download = op.hook.iter_objects, op.hook.download_object
    yielded: list[int] = [0]
    at_first_download: list[int] = []

    def counting_search(*args, **kwargs):
        for obj in real_search(*args, **kwargs):
            yielded[0] += 1
            yield obj

    def noting_download(*args, **kwargs):
        at_first_download.append(yielded[0])
        return real_download(*args, **kwargs)

    op.hook.iter_objects = counting_search
    op.hook.download_object = noting_download
    summary = run_op(op)
    assert summary["copied"] >= 300 and at_first_download[0] < 100 < yielded[0]
