"""Copies to S3 through ObjectStoragePath, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json

import pytest

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.testing import EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.transfer.engine import TransferError
from tests.helpers import BUCKET


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=41, objects_per_region=25)


def keys(client, prefix: str) -> dict[str, int]:
    paginator = client.get_paginator("list_objects_v2")
    found = {}
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["Size"]
    return found


def test_objects_land_in_s3_with_the_right_keys_and_bytes(make_hook, emulator, s3):
    make_hook()
    op = EightByEightTransferOperator(
        task_id="to_s3",
        destination=f"s3://aws_moto@{BUCKET}/8x8/",
        path_template="{type}/{created:%Y-%m-%d}/{id}_{name}",
        write_metadata=True,
    )
    summary = op.execute({})
    expected = {o["id"]: o for o in emulator.objects("us-east", states="AVAILABLE")}
    assert summary["copied"] == len(expected) and summary["failed"] == 0
    assert summary["destination"] == f"s3://{BUCKET}/8x8"
    stored = keys(s3, "8x8/")
    for object_id, obj in expected.items():
        name = obj["objectName"].replace(":", "_")  # ':' is unsafe in file names; sanitised
        key = f"8x8/{obj['type']}/{obj['createdTime'][:10]}/{object_id}_{name}"
        assert stored[key] == obj["storedBytes"]
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == emulator.md5(object_id)
        sidecar = json.loads(s3.get_object(Bucket=BUCKET, Key=key + ".meta.json")["Body"].read())
        assert sidecar["transfer"]["md5"] == emulator.md5(object_id)
    manifests = [k for k in stored if k.startswith("8x8/_manifests/")]
    assert len(manifests) == 1
    # a re-run reads the manifest back from S3 and copies nothing
    again = EightByEightTransferOperator(
        task_id="to_s3", destination=f"s3://aws_moto@{BUCKET}/8x8/", path_template=op.path_template
    ).execute({})
    assert again["copied"] == 0 and again["skipped"] == len(expected)


def test_destination_conn_id_argument(make_hook, emulator, s3):
    make_hook()
    summary = EightByEightTransferOperator(
        task_id="to_s3", destination=f"s3://{BUCKET}/by-arg/", destination_conn_id="aws_moto", max_objects=3
    ).execute({})
    assert summary["copied"] + summary["archived"] == 3  # max_objects counts what the search returned
    assert len([k for k in keys(s3, "by-arg/") if "_manifests" not in k]) == summary["copied"] > 0


def test_a_failed_multipart_upload_leaves_nothing(make_hook, emulator, s3):
    make_hook(max_retries=1)
    big = emulator.add_object("us-east", size=12 * 1024 * 1024, type="screenrecording")  # > one 8 MiB part
    emulator.add_fault(FaultRule(kind="corrupt", route="content", object_ids=[big["id"]], after_bytes=10 * 2**20))
    op = EightByEightTransferOperator(task_id="big", destination=f"s3://aws_moto@{BUCKET}/big/", object_ids=[big["id"]])
    with pytest.raises(TransferError, match="failed verification"):
        op.execute({})
    assert [k for k in keys(s3, "big/") if "_manifests" not in k] == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    emulator.clear_faults()
    summary = op.execute({})
    assert summary["copied"] == 1
    [key] = [k for k in keys(s3, "big/") if "_manifests" not in k]
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == emulator.md5(big["id"])
