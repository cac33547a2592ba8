"""The transfer operator's extra links: the destination and the manifest in the object store's console."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.operators.links import (
    XCOM_KEY,
    EightByEightDestinationLink,
    EightByEightManifestLink,
    browsable_url,
    pushed_places,
)
from tests.helpers import FakeTI

AWS = "https://s3.console.aws.amazon.com/s3"
GCS = "https://console.cloud.google.com/storage/browser"


@pytest.mark.parametrize(
    ("url", "folder", "expected"),
    [
        ("s3://my-bucket/8x8/", True, f"{AWS}/buckets/my-bucket?prefix=8x8/"),
        ("s3://my-bucket/8x8", True, f"{AWS}/buckets/my-bucket?prefix=8x8/"),
        ("s3://aws_default@my-bucket/8x8/", True, f"{AWS}/buckets/my-bucket?prefix=8x8/"),  # no conn id
        ("s3://my-bucket", True, f"{AWS}/buckets/my-bucket?prefix="),
        ("s3://my-bucket/a b/é/", True, f"{AWS}/buckets/my-bucket?prefix=a%20b/%C3%A9/"),
        ("s3://bk1/8x8/_manifests/x.jsonl", False, f"{AWS}/object/bk1?prefix=8x8/_manifests/x.jsonl"),
        ("gs://bucket.example/8x8/", True, f"{GCS}/bucket.example/8x8/"),
        ("gs://bucket/8x8/_manifests/x.jsonl", False, f"{GCS}/_details/bucket/8x8/_manifests/x.jsonl"),
        ("file:///data/8x8/", True, ""),  # a local folder: no console (the log names it)
        ("/data/8x8", True, ""),
        ("s3://my-bucket/8x8/", False, ""),  # a folder is not an object
        ("s3://my-bucket/x?versionId=1", False, ""),
        ("s3://UPPER/x", False, ""),  # not a bucket name
        ("s3://a/x", False, ""),
        ("s3://my-bucket/x\n", False, ""),
        ("ftp://host/x", False, ""),
        ("", True, ""),
        (None, True, ""),
        (42, True, ""),
        (["s3://my-bucket/x"], False, ""),
    ],
)
def test_console_addresses(url, folder, expected):
    assert browsable_url(url, folder=folder) == expected


@given(st.one_of(st.text(max_size=80), st.binary(max_size=20), st.integers(), st.none()), st.booleans())
def test_any_value_read_back_gives_a_console_address_or_nothing(value, folder):
    link = browsable_url(value, folder=folder)
    assert link == "" or link.startswith((AWS, GCS))
    assert "\n" not in link and " " not in link


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"destination": "s3://b/x/", "manifest": "s3://b/x/m"},
            {"destination": "s3://b/x/", "manifest": "s3://b/x/m"},
        ),
        ({"destination": 5, "manifest": "s3://b/m", "other": "s3://b/o"}, {"manifest": "s3://b/m"}),
        ("s3://b/x/", {}),
        (None, {}),
    ],
)
def test_what_xcom_gives_back_is_narrowed(value, expected):
    assert pushed_places(value) == expected


@pytest.fixture
def conn(make_hook):
    make_hook()  # defines AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT for the operators
    return "eightbyeight_default"


def test_the_operator_pushes_both_places_when_its_run_starts(conn, emulator, tmp_path):
    ti = FakeTI()
    op = EightByEightTransferOperator(task_id="t", destination=tmp_path.as_uri(), max_objects=2)
    summary = op.execute({"ti": ti})
    assert ti.store[XCOM_KEY] == {"destination": summary["destination"], "manifest": summary["manifest"]}
    assert {type(link) for link in op.operator_extra_links} == {EightByEightDestinationLink, EightByEightManifestLink}


def _link_of(link: Any, op: Any, ti: Any) -> str:
    """The link as the UI shows it: on Airflow 3 the task pushed it to XCom at its end; Airflow 2 asks the link."""
    if not AIRFLOW_V_3_0_PLUS:
        return link.get_link(op, ti_key=ti.key)
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, key=link.xcom_key)
            .one_or_none()
        )
        assert row is not None, f"no XCom {link.xcom_key}"
        return XComModel.deserialize_value(row)
