"""Bad input from users, from 8x8 and from zips: a clear error naming the problem, or safe handling."""

from __future__ import annotations

import json
import zipfile

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError, InvalidRequestError
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import BulkJob, StoredObject
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferEngine

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "/absolute/evil.mp3",
    "..\\..\\windows\\system32\\evil.mp3",
    "nul\x00byte\x01ctrl\x1f.mp3",
    "CON.mp3",
    "a" * 1000 + ".mp3",
    "通話録音 ☎ Ünïcode.mp3",
    "collide?.mp3",
    "collide*.mp3",
]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=71, objects_per_region=12, archived_fraction=0, revoked_fraction=0)


def inside(root, path) -> bool:
    return root.resolve() in path.resolve().parents


def test_hostile_object_names_land_inside_the_destination(make_hook, emulator, tmp_path):
    hook = make_hook()
    ids = [emulator.add_object("us-east", object_name=name, type="callrecording")["id"] for name in HOSTILE_NAMES]
    dest = tmp_path / "dest"
    engine = TransferEngine(hook, str(dest))
    summary = engine.run(hook.iter_objects(f"id=in=({','.join(ids)})"))
    assert summary.copied == len(ids) and summary.failed == 0
    files = [p for p in dest.rglob("*") if p.is_file() and "_manifests" not in p.parts]
    assert len(files) == len(ids)  # the two names that sanitise alike did not overwrite each other
    assert all(inside(dest, p) for p in files)
    assert not (tmp_path / "etc").exists() and not list(tmp_path.glob("*.mp3"))
    by_id = {p.name.split("_", 1)[0]: p for p in files}
    for object_id in ids:
        assert by_id[object_id].read_bytes() == emulator.content(object_id)
        assert len(by_id[object_id].name.encode()) <= 255


def make_zip(path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data)


def test_hostile_zip_entries_cannot_escape_or_substitute(make_hook, emulator, tmp_path):
    hook = make_hook()
    objs = list(hook.iter_objects(max_objects=4))
    dest = tmp_path / "dest"
    engine = TransferEngine(hook, str(dest))
    planned = engine.plan(objs)
    zip_path = tmp_path / "hostile.zip"
    make_zip(
        zip_path,
        [
            ("../../escaped.mp3", b"zip slip"),  # not requested: ignored
            ("/etc/cron.d/evil", b"absolute"),  # not requested: ignored
            (objs[0].name or "", emulator.content(objs[0].id)),  # good
            (objs[1].name or "", b"wrong bytes of the right name"),  # fails MD5: downloaded alone
            (objs[2].name or "", emulator.content(objs[2].id)),  # duplicate entry name:
            (objs[2].name or "", b"second copy"),  # ambiguous, downloaded alone
            # objs[3] missing from the zip: downloaded alone
        ],
    )
    job = BulkJob(zip_name="hostile.zip", status="DONE")
    emulator.reset_stats()
    records = engine.copy_from_zip(job, zip_path, planned)
    assert sorted(r.status for r in records) == ["copied"] * 4
    for item in planned:
        assert item.target.path and (dest / item.relative_path).read_bytes() == emulator.content(item.obj.id)
    assert emulator.stats()["requests"]["content"] == 3  # objs 1, 2 and 3 came one by one
    assert not (tmp_path / "escaped.mp3").exists() and not list(tmp_path.rglob("evil"))
    files = [p for p in dest.rglob("*") if p.is_file()]
    assert len(files) == 4 and all(inside(dest, p) for p in files)


def test_a_zip_that_is_not_a_zip_falls_back(make_hook, emulator, tmp_path):
    hook = make_hook()
    objs = list(hook.iter_objects(max_objects=2))
    engine = TransferEngine(hook, str(tmp_path / "d"))
    emulator.add_fault(FaultRule(kind="corrupt", route="bulk_download", after_bytes=0))
    job = hook.wait_for_bulk_job(hook.start_bulk_download(objs)[0].zip_name, poll_interval=0.1, timeout=10)
    records = engine.copy_finished_job(job, "us-east", engine.plan(objs))
    assert [r.status for r in records] == ["copied", "copied"]


def test_unknown_filter_fields(make_hook, emulator):
    hook = make_hook()
    assert hook.list_objects("noSuchField==x") == []  # 8x8 treats an unknown selector as no match
    emulator.config.strict = True
    with pytest.raises(InvalidRequestError, match=r"Unknown filter selector"):
        hook.list_objects("noSuchField==x")


def test_ten_thousand_ids_are_batched(make_hook, emulator):
    hook = make_hook()
    ids = [f"missing-{i:05d}" for i in range(9_990)] + [o["id"] for o in emulator.objects("us-east")[:10]]
    result = hook.delete_objects(ids)
    assert len(result.deleted) == 10 and len(result.not_found) == 9_990 and not result.failed
    # each batch of 100 is read first; only the one holding ids 8x8 knows is sent
    assert emulator.stats()["requests"]["delete"] == 1
    assert all(o["objectState"] == "REVOKED" for o in emulator.objects("us-east")[:10])


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("", lambda objs: objs == []),  # an empty body with 200
        ("{}", lambda objs: objs == []),
        (
            json.dumps({"content": [{"id": "a1", "storedBytes": "2048", "createdTime": "2026-03-04T10:15:30Z"}]}),
            lambda objs: objs[0].size == 2048 and objs[0].created.isoformat() == "2026-03-04T10:15:30+00:00",
        ),
        (
            json.dumps(
                {
                    "content": [
                        {"id": "a2", "createdTime": "2026-03-04T11:15:30+01:00", "newField": {"x": 1}, "tags": None},
                        {"objectName": "no id"},  # no usable id: a stand-in that names it, never dropped
                    ],
                    "lastPage": True,
                    "surprise": 1,
                }
            ),
            lambda objs: (
                [o.id for o in objs if not o.problem] == ["a2"]
                and objs[0].created.hour == 10
                and objs[0].tags == {}
                and objs[1].id.startswith("<no id>/")
                and objs[1].name == "no id"
            ),
        ),
        (
            json.dumps([{"content": [{"id": "a3", "updatedTime": 1772619341000}], "lastPage": True}]),
            lambda objs: objs[0].updated.year == 2026,
        ),
    ],
    ids=["empty-body", "empty-object", "string-size-zoned-time", "missing-and-extra-fields", "list-of-pages"],
)
def test_odd_search_responses_are_read_leniently(make_hook, emulator, body, check):
    hook = make_hook()
    hook.get_regions()
    emulator.add_fault(
        FaultRule(kind="status", route="search", status=200, body=body, content_type="application/json", times=1)
    )
    assert check(hook.list_objects())


def test_object_metadata_without_checksum_or_size_still_downloads(make_hook, emulator, tmp_path):
    hook = make_hook()
    obj = next(hook.iter_objects())
    bare = StoredObject.from_api({"id": obj.id, "objectState": "AVAILABLE"}, "us-east")
    result = hook.download_object(bare, tmp_path / "bare.bin")
    assert result.md5 == emulator.md5(obj.id) and not result.verified


def test_bad_arguments_are_refused_before_any_request(make_hook, emulator):
    hook = make_hook()
    cases = [
        (lambda: hook.restore_object("x", expiration_days=0), "1 to 10"),
        (lambda: hook.restore_object("x", expiration_days=11), "1 to 10"),
        (lambda: hook.start_bulk_download([]), "non-empty list"),
        (lambda: hook.get_object(""), "non-empty string"),
        (lambda: hook.get_object("a\nb"), "control characters"),
        (lambda: list(hook.iter_objects(page_size=0)), "page_size"),
        (lambda: hook.delete_objects(["a"], batch_size=0), "batch_size"),
        (lambda: EightByEightHook.plan_bulk_batches([StoredObject(id="big", size=3 * 2**30)]), "exceeds"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            call()
    assert emulator.stats()["total_requests"] == 0


def test_secrets_are_registered_with_airflows_masker(make_hook):
    from airflow.providers.common.compat.sdk import redact

    hook = make_hook()
    token = hook.get_token()
    secret = hook.settings.secret
    text = redact(f"key {secret} and token {token}")
    assert secret not in text and token not in text and "***" in text


@pytest.mark.parametrize("workers", [0, 129, True, 2.5])
def test_max_workers_outside_1_to_128_is_refused_with_the_range(workers):
    from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator
    from airflow_provider_eightbyeight.transfer.engine import TransferOptions

    with pytest.raises(ValueError, match=r"from 1 to 128"):
        EightByEightTransferOperator(task_id="t", destination="file:///tmp/x/", max_workers=workers)
    with pytest.raises(ConfigurationError, match=r"from 1 to 128"):
        TransferOptions(max_workers=workers)


def test_the_largest_worker_count_is_accepted():
    from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator
    from airflow_provider_eightbyeight.transfer.engine import DEFAULT_MAX_WORKERS, TransferOptions

    assert EightByEightTransferOperator(task_id="t", destination="file:///tmp/x/", max_workers=128).max_workers == 128
    assert TransferOptions(max_workers=128).max_workers == 128
    assert TransferOptions().max_workers == DEFAULT_MAX_WORKERS == 64


@pytest.mark.parametrize(
    ("argument", "value", "options"),
    [
        ("strategy", "zip", "policy"),
        ("on_archived", "ignore", "policy"),
        ("on_not_ready", "later", "policy"),
        ("restore_expiration_days", 11, "policy"),
        ("restore_expiration_days", 0, "policy"),
        ("restore_expiration_days", "7", "policy"),
        ("restore_expiration_days", True, "policy"),
        ("max_workers", 0, "options"),
        ("max_workers", "8", "options"),
    ],
)
def test_the_operator_refuses_an_argument_with_the_runs_own_rule_and_words(argument, value, options):
    """One validation of options: the operator's refusal is the run's (same exception class and message)."""
    from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator
    from airflow_provider_eightbyeight.transfer.options import RunPolicy, TransferOptions

    with pytest.raises(ConfigurationError) as by_run:
        (RunPolicy if options == "policy" else TransferOptions)(**{argument: value})
    with pytest.raises(ConfigurationError) as by_operator:
        EightByEightTransferOperator(task_id="t", destination="file:///tmp/x/", **{argument: value})
    assert str(by_operator.value) == str(by_run.value)
    assert argument in str(by_operator.value) and repr(value) in str(by_operator.value)
