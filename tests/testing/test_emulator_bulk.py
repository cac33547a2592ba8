"""Bulk download (zip) flow of the emulator over real HTTP (contract section 9)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig

FORM = {"grant_type": "client_credentials"}


def session_for(emu: EightByEightEmulator, key: str | None = None, secret: str | None = None) -> requests.Session:
    resp = requests.post(emu.token_url, auth=(key or emu.key, secret or emu.secret), data=FORM, timeout=10)
    assert resp.status_code == 200
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + resp.json()["access_token"]
    return s


@pytest.fixture
def emu() -> Iterator[EightByEightEmulator]:
    cfg = EmulatorConfig(seed=5, objects_per_region=30, bulk_delay=3.0, archived_fraction=0, revoked_fraction=0)
    with EightByEightEmulator(cfg) as emulator:
        yield emulator


@pytest.fixture
def css(emu: EightByEightEmulator) -> requests.Session:
    return session_for(emu)


@pytest.fixture
def bulk(emu: EightByEightEmulator) -> str:
    return emu.storage_url("us-east") + "/bulk/download"


def test_full_flow_start_progress_zip(emu, css, bulk):
    objs = emu.objects("us-east")[:6]
    ids = [o["id"] for o in objs]
    resp = css.post(bulk + "/start", json=ids, timeout=10)
    assert resp.status_code == 200
    job = resp.json()
    assert set(job) == {"zipName", "status", "content"}
    assert job["status"] == "NOT_STARTED" and job["content"] == []
    zip_name = job["zipName"]
    assert zip_name.endswith(".zip") and len(zip_name) == 40
    # not downloadable yet
    early = css.get(f"{bulk}/{zip_name}", timeout=10)
    assert early.status_code == 404 and "NOT_STARTED" in early.json()["message"]
    emu.advance_clock(1.5)
    assert css.get(f"{bulk}/status/{zip_name}", timeout=10).json()["status"] == "IN_PROGRESS"
    emu.advance_clock(1.6)
    status = css.get(f"{bulk}/status/{zip_name}", timeout=10).json()
    assert status["status"] == "DONE"
    assert status["content"] == [f"{i}:DONE" for i in ids]
    assert "url" not in status
    resp = css.get(f"{bulk}/{zip_name}", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    assert archive.testzip() is None
    assert archive.namelist() == [o["objectName"] for o in objs]
    for obj in objs:
        data = archive.read(obj["objectName"])
        assert data == emu.content(obj["id"])
        assert hashlib.md5(data).hexdigest() == obj["checksum"]
        assert archive.getinfo(obj["objectName"]).compress_type == zipfile.ZIP_DEFLATED  # strict default


def test_zero_delay_is_done_at_once(css, emu):
    emu.config.bulk_delay = 0
    ids = [o["id"] for o in emu.objects("us-east")[:2]]
    job = css.post(emu.storage_url("us-east") + "/bulk/download/start", json=ids, timeout=10).json()
    assert job["status"] == "DONE"
    assert job["content"] == [f"{i}:DONE" for i in ids]


def test_partial_done_skips_unknown_and_archived(emu, css, bulk):
    good = emu.objects("us-east")[0]
    archived = emu.add_object("us-east", state="ARCHIVED")
    revoked = emu.add_object("us-east", state="REVOKED")
    other_region = emu.objects("uk")[0]
    ids = [good["id"], archived["id"], "missing-id", revoked["id"], other_region["id"]]
    zip_name = css.post(bulk + "/start", json=ids, timeout=10).json()["zipName"]
    emu.advance_clock(5)
    status = css.get(f"{bulk}/status/{zip_name}", timeout=10).json()
    assert status["status"] == "PARTIAL_DONE"
    assert status["content"] == [
        f"{good['id']}:DONE",
        f"{archived['id']}:ARCHIVED",
        "missing-id:NOT_FOUND",
        f"{revoked['id']}:REVOKED",
        f"{other_region['id']}:NOT_FOUND",
    ]
    archive = zipfile.ZipFile(io.BytesIO(css.get(f"{bulk}/{zip_name}", timeout=10).content))
    assert archive.namelist() == [good["objectName"]]


def test_nothing_downloadable_fails(emu, css, bulk):
    zip_name = css.post(bulk + "/start", json=["nope"], timeout=10).json()["zipName"]
    emu.advance_clock(5)
    status = css.get(f"{bulk}/status/{zip_name}", timeout=10).json()
    assert status == {"zipName": zip_name, "status": "FAILED", "content": ["nope:NOT_FOUND"]}
    assert css.get(f"{bulk}/{zip_name}", timeout=10).status_code == 404


def test_object_names_with_colon_and_plus(emu, css, bulk):
    obj = emu.add_object("us-east", object_name="ipbx:demo:callrecording:users:1000:+15551234567_E.mp3")
    zip_name = css.post(bulk + "/start", json=[obj["id"]], timeout=10).json()["zipName"]
    emu.advance_clock(5)
    archive = zipfile.ZipFile(io.BytesIO(css.get(f"{bulk}/{zip_name}", timeout=10).content))
    assert archive.namelist() == [obj["objectName"]]
    assert archive.read(obj["objectName"]) == emu.content(obj["id"])


def test_presigned_zip_url(emu, css, bulk):
    ids = [o["id"] for o in emu.objects("us-east")[:2]]
    zip_name = css.post(bulk + "/start", json=ids, timeout=10).json()["zipName"]
    assert "url" not in css.get(f"{bulk}/status/{zip_name}", params={"presignUrl": "true"}).json()
    emu.advance_clock(5)
    status = css.get(f"{bulk}/status/{zip_name}", params={"presignUrl": "true"}, timeout=10).json()
    assert "X-Amz-Expires=1800" in status["url"]
    resp = requests.get(status["url"], timeout=10)
    assert resp.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(resp.content)).namelist()) == 2


def test_statuses_cancel_clear(emu, css, bulk):
    first = css.post(bulk + "/start", json=[emu.objects("us-east")[0]["id"]], timeout=10).json()["zipName"]
    second = css.post(bulk + "/start", json=[emu.objects("us-east")[1]["id"]], timeout=10).json()["zipName"]
    listing = css.get(bulk + "/status", timeout=10).json()
    assert isinstance(listing, list)
    assert [j["zipName"] for j in listing] == [first, second]
    cancelled = css.put(f"{bulk}/cancel/{first}", timeout=10)
    assert cancelled.status_code == 200
    assert cancelled.json() == [{"zipName": first, "status": "CANCELLED", "content": []}]
    # POST is accepted too (3.1.6 spec)
    assert css.post(f"{bulk}/cancel/{second}", timeout=10).json()[0]["status"] == "CANCELLED"
    emu.advance_clock(10)
    assert css.get(f"{bulk}/status/{first}", timeout=10).json()["status"] == "CANCELLED"
    assert css.get(f"{bulk}/{first}", timeout=10).status_code == 404
    cleared = css.put(bulk + "/clear", timeout=10)
    assert cleared.status_code == 200
    assert sorted(j["zipName"] for j in cleared.json()) == sorted([first, second])
    assert css.get(bulk + "/status", timeout=10).json() == []
    assert css.get(f"{bulk}/status/{first}", timeout=10).status_code == 404


def test_cancel_after_done_keeps_status(emu, css, bulk):
    zip_name = css.post(bulk + "/start", json=[emu.objects("us-east")[0]["id"]], timeout=10).json()["zipName"]
    emu.advance_clock(5)
    assert css.put(f"{bulk}/cancel/{zip_name}", timeout=10).json()[0]["status"] == "DONE"


def test_unknown_zip_404(css, bulk):
    for method, path in (("GET", "/status/x.zip"), ("GET", "/x.zip"), ("PUT", "/cancel/x.zip")):
        resp = css.request(method, bulk + path, timeout=10)
        assert resp.status_code == 404, path
        assert "message" in resp.json()


def test_jobs_are_per_account():
    accounts = (Account(key="a", secret="a"), Account(key="b", secret="b"))
    with EightByEightEmulator(EmulatorConfig(objects_per_region=3, accounts=accounts)) as emu:
        bulk = emu.storage_url("us-east") + "/bulk/download"
        sa, sb = session_for(emu, "a", "a"), session_for(emu, "b", "b")
        zip_name = sa.post(bulk + "/start", json=[emu.objects("us-east")[0]["id"]]).json()["zipName"]
        assert sb.get(bulk + "/status").json() == []
        assert sb.get(f"{bulk}/status/{zip_name}").status_code == 404
        assert len(sa.get(bulk + "/status").json()) == 1


@pytest.mark.parametrize("body", [b"[]", b'{"ids": []}', b"[1, 2]", b'"abc"', b"nope", b""])
def test_start_bad_body_400(css, bulk, body):
    resp = css.post(bulk + "/start", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400
    assert "message" in resp.json()


def test_size_limit_names_2gb():
    cfg = EmulatorConfig(objects_per_region=0, bulk_limit_bytes=10_000)
    with EightByEightEmulator(cfg) as emu:
        a = emu.add_object("us-east", size=6000)
        b = emu.add_object("us-east", size=6000)
        s = session_for(emu)
        url = emu.storage_url("us-east") + "/bulk/download/start"
        resp = s.post(url, json=[a["id"], b["id"]], timeout=10)
        assert resp.status_code == 400
        assert "2 GB" in resp.json()["message"]
        assert s.post(url, json=[a["id"]], timeout=10).status_code == 200
        # non-downloadable objects do not count against the limit
        emu.set_object_state(b["id"], "ARCHIVED")
        assert s.post(url, json=[a["id"], b["id"]], timeout=10).status_code == 200


def test_large_zip_streams_chunked(emu, css, bulk):
    emu.config.bulk_delay = 0
    big = emu.add_object("us-east", size=20 * 1024 * 1024)
    small = emu.objects("us-east")[0]
    zip_name = css.post(bulk + "/start", json=[big["id"], small["id"]], timeout=10).json()["zipName"]
    with css.get(f"{bulk}/{zip_name}", stream=True, timeout=30) as resp:
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        buf = io.BytesIO()
        for chunk in resp.iter_content(256 * 1024):
            buf.write(chunk)
    archive = zipfile.ZipFile(buf)
    digest = hashlib.md5(archive.read(big["objectName"])).hexdigest()
    assert digest == emu.md5(big["id"])
    assert archive.read(small["objectName"]) == emu.content(small["id"])
