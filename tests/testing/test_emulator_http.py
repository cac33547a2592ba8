"""The emulator's CSS HTTP surface over real HTTP with plain ``requests`` (contract sections 2-8, 10-11)."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests

from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig

UTC = timezone.utc
FORM = {"grant_type": "client_credentials"}


def token_for(emu: EightByEightEmulator, key: str | None = None, secret: str | None = None) -> str:
    resp = requests.post(emu.token_url, auth=(key or emu.key, secret or emu.secret), data=FORM, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def session_for(emu: EightByEightEmulator, **kw: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + token_for(emu, **kw)
    s.headers["Accept"] = "application/json"
    return s


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


@pytest.fixture
def emu() -> Iterator[EightByEightEmulator]:
    with EightByEightEmulator(EmulatorConfig(seed=7, objects_per_region=60)) as emulator:
        yield emulator


@pytest.fixture
def css(emu: EightByEightEmulator) -> requests.Session:
    return session_for(emu)


@pytest.fixture
def base(emu: EightByEightEmulator) -> str:
    return emu.storage_url("us-east")


# -- section 2: token ---------------------------------------------------------------------------
class TestToken:
    def test_success_shape_matches_contract(self, emu):
        resp = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=10)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        body = resp.json()
        expected_keys = {
            "access_token", "token_type", "expires_in", "issued_at", "status", "scope",
            "refresh_token_expires_in", "refresh_count", "client_id", "developer.email",
            "application_name", "api_product_list", "api_product_list_json",
        }  # fmt: skip
        assert expected_keys <= set(body)
        for key in expected_keys - {"api_product_list_json"}:
            assert isinstance(body[key], str), key
        assert body["token_type"] == "BearerToken"
        assert body["expires_in"] == "1799"
        assert abs(int(body["issued_at"]) / 1000 - emu.now()) < 5
        assert body["status"] == "approved"
        assert body["client_id"] == "deprecated" and body["developer.email"] == "deprecated"
        assert body["refresh_token_expires_in"] == "0" and "refresh_token" not in body
        assert body["api_product_list"] == "[storage]"
        assert body["api_product_list_json"] == ["storage"]

    def test_tokens_are_unique(self, emu):
        assert len({token_for(emu) for _ in range(5)}) == 5

    def test_product_list_bracket_string(self):
        acct = Account(key="k", secret="s", products=("analytics realtime-api", "storage", "vcc"))
        with EightByEightEmulator(EmulatorConfig(objects_per_region=0, accounts=(acct,))) as emu:
            body = requests.post(emu.token_url, auth=("k", "s"), data=FORM, timeout=10).json()
        assert body["api_product_list"] == "[analytics realtime-api, storage, vcc]"
        assert body["api_product_list_json"] == ["analytics realtime-api", "storage", "vcc"]

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Basic " + base64.b64encode(b"emulator-key:wrong").decode()},
            {"Authorization": "Basic " + base64.b64encode(b"nobody:emulator-secret").decode()},
            {"Authorization": "Basic !!!notbase64"},
            {"Authorization": "Bearer something"},
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        ],
    )
    def test_bad_credentials_401(self, emu, headers):
        resp = requests.post(emu.token_url, headers=headers, data=FORM, timeout=10)
        assert resp.status_code == 401
        assert resp.json() == {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"}

    @pytest.mark.parametrize(("form", "value"), [({"grant_type": "password"}, "password"), ({}, "")])
    def test_wrong_grant_type_400(self, emu, form, value):
        resp = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=form, timeout=10)
        assert resp.status_code == 400
        assert resp.json() == {"ErrorCode": "invalid_request", "Error": f"Unsupported grant type : {value}"}

    def test_get_is_405(self, emu):
        assert requests.get(emu.token_url, timeout=10).status_code == 405

    def test_expiry_on_emulated_clock(self, emu, base):
        s = session_for(emu)
        assert s.get(base + "/regions", timeout=10).status_code == 200
        emu.advance_clock(1798)
        assert s.get(base + "/regions", timeout=10).status_code == 200
        emu.advance_clock(2)
        resp = s.get(base + "/regions", timeout=10)
        assert resp.status_code == 401
        assert "expired" in resp.json()["message"]
        # a fresh token works again
        assert session_for(emu).get(base + "/regions", timeout=10).status_code == 200

    def test_configured_lifetime(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=0, token_lifetime=60)) as emu:
            body = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=10).json()
            assert body["expires_in"] == "60"
            s = session_for(emu)
            emu.advance_clock(61)
            assert s.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 401

    def test_revoked_key_gets_token_but_css_401(self):
        acct = Account(key="rk", secret="rs", status="revoked")
        with EightByEightEmulator(EmulatorConfig(objects_per_region=0, accounts=(acct,))) as emu:
            body = requests.post(emu.token_url, auth=("rk", "rs"), data=FORM, timeout=10).json()
            assert body["status"] == "revoked"
            resp = requests.get(
                emu.storage_url("us-east") + "/regions",
                headers={"Authorization": "Bearer " + body["access_token"]},
                timeout=10,
            )
            assert resp.status_code == 401

    def test_revoke_tokens(self, emu, css, base):
        assert css.get(base + "/regions", timeout=10).status_code == 200
        assert emu.revoke_tokens() >= 1
        assert css.get(base + "/regions", timeout=10).status_code == 401


# -- auth, regions, versions (sections 1, 3, 11) -------------------------------------------------
class TestAuthAndRegions:
    def test_regions_through_any_known_region(self, emu, css):
        for region in ("us-west", "us-east", "uk", "ap", "ca"):
            resp = css.get(emu.storage_url(region) + "/regions", timeout=10)
            assert resp.status_code == 200
            assert resp.json() == ["us-east"]

    def test_regions_multi_region_account(self):
        acct = Account(key="k", secret="s", regions=("us-east", "uk"))
        with EightByEightEmulator(EmulatorConfig(objects_per_region=3, accounts=(acct,))) as emu:
            s = session_for(emu, key="k", secret="s")
            assert s.get(emu.storage_url("ca") + "/regions", timeout=10).json() == ["us-east", "uk"]
            assert s.get(emu.storage_url("uk") + "/objects", timeout=10).status_code == 200

    def test_unknown_region_404(self, emu, css):
        resp = css.get(emu.storage_url("eu") + "/regions", timeout=10)
        assert resp.status_code == 404
        resp = css.get(emu.storage_url("eu") + "/objects", timeout=10)
        assert resp.status_code == 404
        assert "Unknown region 'eu'" in resp.json()["message"]

    def test_region_not_provisioned_for_account_404(self, emu, css):
        resp = css.get(emu.storage_url("uk") + "/objects", timeout=10)
        assert resp.status_code == 404
        assert "Unknown region 'uk'" in resp.json()["message"]

    def test_unknown_version_404(self, emu, css):
        resp = css.get(emu.base_url + "/storage/us-east/v1/objects", timeout=10)
        assert resp.status_code == 404
        assert "version" in resp.json()["message"]

    def test_configurable_versions(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, api_versions=("v1", "v3"))) as emu:
            s = session_for(emu)
            assert s.get(emu.storage_url("us-east", "v1") + "/objects", timeout=10).status_code == 200

    @pytest.mark.parametrize("auth", [None, "Bearer", "Bearer nope", "Basic abc", "token"])
    def test_missing_or_bad_bearer_401(self, emu, base, auth):
        headers = {"Authorization": auth} if auth else {}
        resp = requests.get(base + "/objects", headers=headers, timeout=10)
        assert resp.status_code == 401
        assert "message" in resp.json()

    def test_key_without_storage_product_403(self):
        acct = Account(key="k", secret="s", products=("analytics",))
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, accounts=(acct,))) as emu:
            s = session_for(emu, key="k", secret="s")
            resp = s.get(emu.storage_url("us-east") + "/objects", timeout=10)
            assert resp.status_code == 403
            assert "storage" in resp.json()["message"]

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/objects"),
            ("DELETE", "/objects/x"),
            ("GET", "/objects/x/restore"),
            ("PUT", "/regions"),
            ("GET", "/bulk/download/start"),
            ("GET", "/bulk/download/clear"),
            ("POST", "/bulk/download/clear"),
            ("GET", "/bulk"),
            ("PATCH", "/objects"),
        ],
    )
    def test_wrong_method_405(self, css, base, method, path):
        resp = css.request(method, base + path, timeout=10)
        assert resp.status_code == 405
        assert "Allow" in resp.headers
        assert "message" in resp.json()

    @pytest.mark.parametrize("path", ["/nothing", "/objects/a/b/c", "/bulk/download/cancel"])
    def test_unknown_path_404(self, css, base, path):
        resp = css.get(base + path, timeout=10)
        assert resp.status_code == 404
        assert "message" in resp.json()

    def test_unknown_top_level_404(self, emu):
        resp = requests.get(emu.base_url + "/hello", timeout=10)
        assert resp.status_code == 404 and "message" in resp.json()


# -- objects: shapes, get, metadata (sections 4, 6) -----------------------------------------------
class TestObjects:
    def test_object_shape(self, emu, css, base):
        obj = css.get(base + "/objects", params={"limit": 1}, timeout=10).json()["content"][0]
        assert set(obj) == {
            "id", "type", "mimeType", "objectName", "checksumType", "checksum", "customerId", "userId",
            "storedBytes", "createdTime", "updatedTime", "objectState", "bucketId", "tags", "shared",
        }  # fmt: skip
        assert isinstance(obj["storedBytes"], int)
        assert len(obj["customerId"]) == 18 and len(obj["userId"]) == 22
        assert obj["checksumType"] == "MD5" and len(obj["checksum"]) == 32
        datetime.strptime(obj["createdTime"], "%Y-%m-%dT%H:%M:%S")
        datetime.strptime(obj["updatedTime"], "%Y-%m-%dT%H:%M:%S")
        assert obj["updatedTime"] >= obj["createdTime"]
        assert all(set(t) == {"key", "value"} and isinstance(t["value"], str) for t in obj["tags"])
        assert isinstance(obj["shared"], bool)
        assert obj == emu.get(obj["id"])

    def test_seeded_data_is_realistic(self, emu):
        objs = emu.objects("us-east")
        assert len(objs) == 60
        types = {o["type"] for o in objs}
        assert {"callrecording", "callcenterrecording", "transcription"} <= types
        lo, hi = emu.config.size_range
        assert all(lo <= o["storedBytes"] <= hi for o in objs)
        start, end = emu.config.created_start, emu.config.created_end
        for o in objs:
            created = datetime.strptime(o["createdTime"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            assert start <= created <= end
        mime = {o["type"]: o["mimeType"] for o in objs}
        assert mime["callrecording"] == "audio/mpeg" and mime["transcription"] == "application/json"
        transcripts = [o for o in objs if o["type"] == "transcription"]
        assert all(any(t["key"] == "sourceObjectType" for t in o["tags"]) for o in transcripts)
        # related objects share a bucket
        buckets = [o["bucketId"] for o in objs]
        assert len(set(buckets)) < len(buckets)
        assert len({o["id"] for o in objs}) == 60

    def test_seed_is_deterministic(self):
        a = EightByEightEmulator(EmulatorConfig(seed=3, objects_per_region=20)).objects("uk")
        b = EightByEightEmulator(EmulatorConfig(seed=3, objects_per_region=20)).objects("uk")
        c = EightByEightEmulator(EmulatorConfig(seed=4, objects_per_region=20)).objects("uk")
        assert a == b
        assert [o["id"] for o in a] != [o["id"] for o in c]

    def test_get_and_metadata_any_state(self, emu, css, base):
        archived = emu.add_object("us-east", state="ARCHIVED")
        for path in ("", "/metadata"):
            resp = css.get(base + f"/objects/{archived['id']}{path}", timeout=10)
            assert resp.status_code == 200
            assert resp.json() == archived

    def test_unknown_or_other_region_id_404(self, emu, css, base):
        assert css.get(base + "/objects/does-not-exist", timeout=10).status_code == 404
        other = emu.objects("uk")[0]["id"]
        resp = css.get(base + f"/objects/{other}", timeout=10)
        assert resp.status_code == 404
        assert css.get(base + f"/objects/{other}/content", timeout=10).status_code == 404

    def test_add_object_fields(self, emu, css, base):
        created = datetime(2026, 3, 4, 10, 15, 30, tzinfo=UTC)
        obj = emu.add_object(
            "us-east",
            type="callcenterrecording",
            size=482304,
            created=created,
            tags={"callId": "c1", "queueName": "Sales Queue"},
            object_name="int-19a0b1c2d3e-DemoCallId0001-phone-00-demotenant01.mp3",
        )
        assert obj["storedBytes"] == 482304
        assert obj["createdTime"] == "2026-03-04T10:15:30"
        assert obj["tags"] == [{"key": "callId", "value": "c1"}, {"key": "queueName", "value": "Sales Queue"}]
        assert obj["mimeType"] == "audio/mpeg"
        assert css.get(base + f"/objects/{obj['id']}", timeout=10).json() == obj

    def test_multipart_checksum_fraction(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=20, multipart_checksum_fraction=1.0)) as emu:
            objs = emu.objects("us-east")
            assert all(o["checksum"].endswith("-1") and len(o["checksum"]) == 34 for o in objs)
            assert emu.md5(objs[0]["id"]) == hashlib.md5(emu.content(objs[0]["id"])).hexdigest()


# -- search (section 5) -------------------------------------------------------------------------
@pytest.fixture
def paging_emu() -> Iterator[EightByEightEmulator]:
    cfg = EmulatorConfig(seed=11, objects_per_region=245, archived_fraction=0.0, revoked_fraction=0.0)
    with EightByEightEmulator(cfg) as emulator:
        yield emulator


class TestSearch:
    def test_worked_paging_example_245_limit_100(self, paging_emu):
        s = session_for(paging_emu)
        url = paging_emu.storage_url("us-east") + "/objects"
        seen = []
        expected = [(0, 100, 100, False), (100, 200, 100, False), (200, 300, 45, True)]
        page_key = 0
        for sent, next_key, size, last in expected:
            assert page_key == sent
            body = s.get(url, params={"pageKey": page_key, "limit": 100}, timeout=10).json()
            assert (body["pageKey"], body["pageSize"], body["lastPage"]) == (next_key, size, last)
            assert len(body["content"]) == size
            assert body["total"] == 245
            seen += [o["id"] for o in body["content"]]
            page_key = body["pageKey"]
        assert len(set(seen)) == 245
        assert seen == [o["id"] for o in paging_emu.objects("us-east")]

    def test_default_limit_100_and_past_the_end(self, paging_emu):
        s = session_for(paging_emu)
        url = paging_emu.storage_url("us-east") + "/objects"
        assert s.get(url, timeout=10).json()["pageSize"] == 100
        body = s.get(url, params={"pageKey": 1000}, timeout=10).json()
        assert body == {"content": [], "pageKey": 1100, "pageSize": 0, "lastPage": True, "total": 245}

    def test_total_pages_mode(self):
        cfg = EmulatorConfig(objects_per_region=245, archived_fraction=0, revoked_fraction=0, total_mode="pages")
        with EightByEightEmulator(cfg) as emu:
            body = session_for(emu).get(emu.storage_url("us-east") + "/objects", params={"limit": 100}).json()
            assert body["total"] == 3

    def test_only_available_by_default(self, emu, css, base):
        body = css.get(base + "/objects", timeout=10).json()
        assert {o["objectState"] for o in body["content"]} == {"AVAILABLE"}
        assert body["total"] == len(emu.objects("us-east", states=["AVAILABLE"]))

    def test_object_state_in_filter_lifts_default(self, emu, css, base):
        emu.add_object("us-east", state="ARCHIVED")
        body = css.get(base + "/objects", params={"filter": "objectState==ARCHIVED"}, timeout=10).json()
        assert body["total"] == len(emu.objects("us-east", states=["ARCHIVED"])) >= 1
        assert {o["objectState"] for o in body["content"]} == {"ARCHIVED"}
        body = css.get(base + "/objects", params={"filter": "objectState=in=(ARCHIVED,AVAILABLE)"}).json()
        assert body["total"] == len(emu.objects("us-east", states=["ARCHIVED", "AVAILABLE"]))
        body = css.get(base + "/objects", params={"filter": "objectState!=AVAILABLE", "limit": 100}).json()
        assert body["total"] == len([o for o in emu.objects("us-east") if o["objectState"] != "AVAILABLE"])

    def test_contract_examples(self, emu, css, base):
        start = datetime(2026, 11, 2, tzinfo=UTC)
        end = datetime(2026, 11, 5, tzinfo=UTC)
        flt = f"type==callcenterrecording;createdTime=ge={ms(start)};createdTime=le={ms(end)}"
        body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
        expected = [
            o["id"]
            for o in emu.objects("us-east", states=["AVAILABLE"])
            if o["type"] == "callcenterrecording"
            and start.strftime("%Y-%m-%dT%H:%M:%S") <= o["createdTime"] <= end.strftime("%Y-%m-%dT%H:%M:%S")
        ]
        assert expected and sorted(o["id"] for o in body["content"]) == sorted(expected)
        flt = "type==callrecording;(objectState==AVAILABLE,objectState==REVOKED)"
        body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
        assert body["total"] == len(
            [o for o in emu.objects("us-east", states=["AVAILABLE", "REVOKED"]) if o["type"] == "callrecording"]
        )

    def test_tag_selectors_and_numeric_compare(self, emu, css, base):
        flt = "sourceObjectType==callcenterrecording"
        body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
        assert body["total"] > 0
        assert all({"key": "sourceObjectType", "value": "callcenterrecording"} in o["tags"] for o in body["content"])
        body = css.get(base + "/objects", params={"filter": "duration=gt=600000"}, timeout=10).json()
        durations = [int(t["value"]) for o in body["content"] for t in o["tags"] if t["key"] == "duration"]
        assert durations and all(d > 600000 for d in durations)

    def test_aliases_name_size_objectid(self, emu, css, base):
        obj = emu.add_object("us-east", size=5000, object_name="ipbx:demo:a+b.mp3")
        for flt in (
            f"objectId=={obj['id']}",
            "name=='ipbx:demo:a+b.mp3'",
            f"size==5000;id=={obj['id']}",
            f"storedBytes=ge=5000;storedBytes=le=5000;objectName=={obj['objectName']}",
        ):
            body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
            assert [o["id"] for o in body["content"]] == [obj["id"]], flt

    def test_quoted_values_with_reserved_characters(self, emu, css, base):
        obj = emu.add_object("us-east", type="callcenterrecording", tags={"queueName": "Tier 2, Escalations (B)"})
        for flt in ("queueName=='Tier 2, Escalations (B)'", 'queueName=="Tier 2, Escalations (B)"'):
            body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
            assert [o["id"] for o in body["content"]] == [obj["id"]]
        body = css.get(base + "/objects", params={"filter": "queueName==Sales Queue"}, timeout=10).json()
        assert all({"key": "queueName", "value": "Sales Queue"} in o["tags"] for o in body["content"])

    def test_epoch_ms_window_exact_bounds(self, emu, css, base):
        t = datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
        inside = emu.add_object("us-east", created=t)
        emu.add_object("us-east", created=datetime(2027, 1, 1, 12, 0, 1, tzinfo=UTC))
        flt = f"createdTime=ge={ms(t)};createdTime=lt={ms(t) + 1000}"
        body = css.get(base + "/objects", params={"filter": flt}, timeout=10).json()
        assert [o["id"] for o in body["content"]] == [inside["id"]]
        iso = "createdTime=ge=2027-01-01T12:00:01"
        refused = css.get(base + "/objects", params={"filter": iso})
        assert refused.status_code == 400 and "epoch milliseconds" in refused.text  # strict: filters take epoch ms
        emu.config.filter_times = "any"  # the lenient reading accepts ISO too
        assert css.get(base + "/objects", params={"filter": iso}).json()["total"] == 1

    def test_or_and_precedence_over_http(self, emu, css, base):
        flt = "type==meeting,type==voicemail;objectState==AVAILABLE"
        body = css.get(base + "/objects", params={"filter": flt, "limit": 100}, timeout=10).json()
        objs = emu.objects("us-east")
        expected = {o["id"] for o in objs if o["type"] == "meeting"} | {
            o["id"] for o in objs if o["type"] == "voicemail" and o["objectState"] == "AVAILABLE"
        }
        assert {o["id"] for o in body["content"]} == expected

    def test_in_out_over_http(self, emu, css, base):
        body = css.get(base + "/objects", params={"filter": "type=in=(meeting,voicemail)"}, timeout=10).json()
        assert body["total"] > 0 and {o["type"] for o in body["content"]} <= {"meeting", "voicemail"}
        body = css.get(base + "/objects", params={"filter": "type=out=(callrecording,transcription)"}).json()
        assert body["total"] > 0
        assert not {o["type"] for o in body["content"]} & {"callrecording", "transcription"}

    def test_unknown_selector_is_empty_not_error(self, css, base):
        resp = css.get(base + "/objects", params={"filter": "nosuchfield==x"}, timeout=10)
        assert resp.status_code == 200 and resp.json()["total"] == 0

    def test_strict_mode(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=5, strict=True)) as emu:
            s = session_for(emu)
            url = emu.storage_url("us-east") + "/objects"
            resp = s.get(url, params={"filter": "nosuchfield==x"}, headers={"Content-Type": "application/json"})
            assert resp.status_code == 400 and "nosuchfield" in resp.json()["message"]
            assert s.get(url, timeout=10).status_code == 400  # no Content-Type
            ok = s.get(url, params={"filter": "type==meeting"}, headers={"Content-Type": "application/json"})
            assert ok.status_code == 200

    @pytest.mark.parametrize(
        ("flt", "fragment"),
        [
            ("type==", "expected a value"),
            ("(type==a", "expected ')'"),
            ("type=like=a", "comparison operator"),
            ("queueName==Billing (EMEA)", "quote"),
            ("type=='x", "unterminated"),
        ],
    )
    def test_bad_filter_400(self, css, base, flt, fragment):
        resp = css.get(base + "/objects", params={"filter": flt}, timeout=10)
        assert resp.status_code == 400
        assert fragment in resp.json()["message"]
        assert "position" in resp.json()["message"]

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"limit": -5},
            {"limit": 101},
            {"limit": "ten"},
            {"pageKey": "x"},
            {"pageKey": -1},
            {"pageKey": "1.5"},
            {"sortDirection": "UP"},
        ],
    )
    def test_bad_params_400(self, css, base, params):
        resp = css.get(base + "/objects", params=params, timeout=10)
        assert resp.status_code == 400
        assert "message" in resp.json()

    def test_bad_presign_flag_400(self, emu, css, base):
        obj = emu.objects("us-east", states=["AVAILABLE"])[0]
        resp = css.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "maybe"}, timeout=10)
        assert resp.status_code == 400 and "presignUrl" in resp.json()["message"]

    def test_limit_bounds_ok_and_clamp(self, css, base):
        assert css.get(base + "/objects", params={"limit": 1}).json()["pageSize"] == 1
        assert css.get(base + "/objects", params={"limit": 100}).status_code == 200
        with EightByEightEmulator(EmulatorConfig(objects_per_region=150, limit_over_max="clamp")) as emu:
            body = session_for(emu).get(emu.storage_url("us-east") + "/objects", params={"limit": 200}).json()
            assert body["pageSize"] == 100 and body["pageKey"] == 100

    def test_unknown_query_params_ignored(self, css, base):
        resp = css.get(base + "/objects", params={"foo": "bar", "limit": 2}, timeout=10)
        assert resp.status_code == 200 and resp.json()["pageSize"] == 2

    def test_default_sort_created_desc(self, emu, css, base):
        items = css.get(base + "/objects", timeout=10).json()["content"]
        keys = [(o["createdTime"], o["id"]) for o in items]
        assert keys == sorted(keys, reverse=True)

    def test_sort_fields_and_directions(self, emu, css, base):
        for field, key in (
            ("storedBytes", lambda o: o["storedBytes"]),
            ("objectName", lambda o: o["objectName"]),
            ("name", lambda o: o["objectName"]),
            ("createdTime", lambda o: o["createdTime"]),
        ):
            for direction in ("asc", "DESC", "Asc"):
                items = css.get(
                    base + "/objects", params={"sortField": field, "sortDirection": direction}, timeout=10
                ).json()["content"]
                values = [key(o) for o in items]
                assert values == sorted(values, reverse=direction.upper() == "DESC"), (field, direction)

    def test_sort_by_tag_numeric_and_ties_stable(self, emu, css, base):
        emu.config.unstable_ties = False  # the lenient reading: ties by id
        for _ in range(3):
            emu.add_object("us-east", type="meeting", tags={"duration": "5"}, created=datetime(2027, 1, 1, tzinfo=UTC))
        emu.add_object("us-east", type="meeting", tags={"duration": "40"})
        items = css.get(
            base + "/objects",
            params={"filter": "type==meeting", "sortField": "duration", "sortDirection": "ASC"},
        ).json()["content"]
        durations = [int(next(t["value"] for t in o["tags"] if t["key"] == "duration")) for o in items]
        assert durations == sorted(durations)
        fives = [o["id"] for o in items if {"key": "duration", "value": "5"} in o["tags"]]
        assert fives == sorted(fives)
        again = css.get(
            base + "/objects",
            params={"filter": "type==meeting", "sortField": "duration", "sortDirection": "ASC"},
        ).json()["content"]
        assert [o["id"] for o in again] == [o["id"] for o in items]

    def test_ground_truth_objects_match_search(self, emu, css, base):
        everything = []
        page_key = 0
        while True:
            body = css.get(
                base + "/objects",
                params={"filter": "objectState=in=(AVAILABLE,ARCHIVED,REVOKED,PENDING,DELETED,FAILED)",
                        "pageKey": page_key, "limit": 7},
            ).json()  # fmt: skip
            everything += body["content"]
            if body["lastPage"]:
                break
            page_key = body["pageKey"]
        assert everything == emu.objects("us-east")


# -- content and presigned URLs (section 7.1) -----------------------------------------------------
class TestContent:
    def test_bytes_md5_and_headers(self, emu, css, base):
        for obj in emu.objects("us-east", states=["AVAILABLE"])[:5]:
            resp = css.get(base + f"/objects/{obj['id']}/content", timeout=10)
            assert resp.status_code == 200
            assert resp.headers["Content-Type"] == obj["mimeType"]
            assert int(resp.headers["Content-Length"]) == obj["storedBytes"] == len(resp.content)
            assert resp.content == emu.content(obj["id"])
            assert hashlib.md5(resp.content).hexdigest() == emu.md5(obj["id"]) == obj["checksum"]

    def test_content_is_deterministic_and_distinct(self, emu):
        a, b = emu.objects("us-east")[:2]
        assert emu.content(a["id"]) == emu.content(a["id"])
        assert emu.content(a["id"])[:1024] != emu.content(b["id"])[:1024]

    def test_zero_byte_object(self, emu, css, base):
        obj = emu.add_object("us-east", size=0)
        resp = css.get(base + f"/objects/{obj['id']}/content", timeout=10)
        assert resp.status_code == 200 and resp.content == b""
        assert obj["checksum"] == hashlib.md5(b"").hexdigest()

    def test_range_requests(self, emu, css, base):
        obj = emu.add_object("us-east", size=300_000)
        data = emu.content(obj["id"])
        url = base + f"/objects/{obj['id']}/content"
        resp = css.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
        assert resp.status_code == 206
        assert resp.headers["Content-Range"] == "bytes 1000-1999/300000"
        assert resp.content == data[1000:2000]
        assert css.get(url, headers={"Range": "bytes=299990-"}).content == data[299990:]
        assert css.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
        assert css.get(url, headers={"Range": "bytes=300000-"}).status_code == 416

    @pytest.mark.parametrize("state", ["ARCHIVED", "REVOKED", "PENDING", "DELETED", "FAILED"])
    def test_non_available_content_400(self, emu, css, base, state):
        emu.config.non_available_content_status = 400  # fixed (the strict default varies by object)
        obj = emu.add_object("us-east", state=state)
        resp = css.get(base + f"/objects/{obj['id']}/content", timeout=10)
        assert resp.status_code == 400
        assert state in resp.json()["message"]

    def test_non_available_status_configurable(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, non_available_content_status=403)) as emu:
            obj = emu.add_object("us-east", state="ARCHIVED")
            resp = session_for(emu).get(emu.storage_url("us-east") + f"/objects/{obj['id']}/content")
            assert resp.status_code == 403

    def test_presigned_url_default_shape_and_fetch_without_auth(self, emu, css, base):
        obj = emu.objects("us-east", states=["AVAILABLE"])[0]
        resp = css.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "true"}, timeout=10)
        assert resp.status_code == 200
        url = resp.json()["url"]
        assert url.startswith(emu.base_url + "/_presigned/")
        assert "X-Amz-Expires=1800" in url and "X-Amz-Signature=" in url
        got = requests.get(url, timeout=10)
        assert got.status_code == 200
        assert got.content == emu.content(obj["id"])
        assert got.headers["Content-Type"] == obj["mimeType"]

    def test_presigned_url_expiry_and_tampering(self, emu, css, base):
        obj = emu.objects("us-east", states=["AVAILABLE"])[0]
        url = css.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "true"}).json()["url"]
        assert requests.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403
        assert requests.get(emu.base_url + "/_presigned/unknown?X-Amz-Signature=x", timeout=10).status_code == 404
        emu.advance_clock(1799)
        assert requests.get(url, timeout=10).status_code == 200
        emu.advance_clock(2)
        resp = requests.get(url, timeout=10)
        assert resp.status_code == 403 and b"expired" in resp.content

    @pytest.mark.parametrize("shape", ["presignedUrl", "text", "json-string", "redirect"])
    def test_presign_shapes(self, shape):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=3, presign_shape=shape)) as emu:
            s = session_for(emu)
            obj = emu.objects("us-east", states=["AVAILABLE"])[0]
            url = emu.storage_url("us-east") + f"/objects/{obj['id']}/content"
            resp = s.get(url, params={"presignUrl": "true"}, allow_redirects=False, timeout=10)
            if shape == "presignedUrl":
                link = resp.json()["presignedUrl"]
            elif shape == "text":
                assert resp.headers["Content-Type"].startswith("text/plain")
                link = resp.text
            elif shape == "json-string":
                link = resp.json()
                assert isinstance(link, str)
            else:
                assert resp.status_code == 302
                link = resp.headers["Location"]
                followed = s.get(url, params={"presignUrl": "true"}, timeout=10)
                assert followed.content == emu.content(obj["id"])
            assert "/_presigned/" in link
            assert requests.get(link, timeout=10).content == emu.content(obj["id"])

    def test_presign_of_archived_object_uses_non_available_status(self, emu, css, base):
        emu.config.non_available_content_status = 400
        obj = emu.add_object("us-east", state="ARCHIVED")
        resp = css.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "true"}, timeout=10)
        assert resp.status_code == 400

    def test_64mib_object_streams_with_flat_memory(self, emu, css, base):
        obj = emu.add_object("us-east", size=64 * 1024 * 1024)
        digest = hashlib.md5()
        total = 0
        tracemalloc.start()
        try:
            with css.get(base + f"/objects/{obj['id']}/content", stream=True, timeout=30) as resp:
                assert resp.status_code == 200
                for chunk in resp.iter_content(256 * 1024):
                    digest.update(chunk)
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total == 64 * 1024 * 1024
        assert digest.hexdigest() == emu.md5(obj["id"]) == obj["checksum"]
        assert peak < 16 * 1024 * 1024, f"peak traced memory {peak} bytes"
        assert emu.stats()["content_bytes_sent"] >= total


# -- restore (section 7.2) ----------------------------------------------------------------------
class TestRestore:
    def test_flow_archived_to_available_and_back(self, emu, css, base):
        emu.config.restore_pending_state = "ARCHIVED"  # the lenient reading; strict shows PENDING
        emu.config.non_available_content_status = 400
        obj = emu.add_object("us-east", state="ARCHIVED")
        url = base + f"/objects/{obj['id']}"
        resp = css.post(url + "/restore", json={"expirationDays": 3}, timeout=10)
        assert resp.status_code == 200 and resp.json() == {"expirationDays": 3}
        assert css.get(url, timeout=10).json()["objectState"] == "ARCHIVED"  # still restoring
        assert css.get(url + "/content", timeout=10).status_code == 400
        emu.advance_clock(2.5)
        now_available = css.get(url, timeout=10).json()
        assert now_available["objectState"] == "AVAILABLE"
        assert now_available["updatedTime"] > obj["updatedTime"]
        assert css.get(url + "/content", timeout=10).content == emu.content(obj["id"])
        emu.advance_clock(3 * 86400)
        assert css.get(url, timeout=10).status_code == 401  # the token expired meanwhile
        assert session_for(emu).get(url, timeout=10).json()["objectState"] == "ARCHIVED"

    def test_default_days_and_pending_state(self):
        cfg = EmulatorConfig(objects_per_region=1, restore_pending_state="PENDING", restore_delay=100)
        with EightByEightEmulator(cfg) as emu:
            s = session_for(emu)
            obj = emu.add_object("us-east", state="ARCHIVED")
            url = emu.storage_url("us-east") + f"/objects/{obj['id']}"
            resp = s.post(url + "/restore", timeout=10)
            assert resp.status_code == 200 and resp.json() == {"expirationDays": 7}
            assert s.get(url, timeout=10).json()["objectState"] == "PENDING"
            # a repeated request keeps the first schedule
            assert s.post(url + "/restore", json={"expirationDays": 2}).json() == {"expirationDays": 7}
            emu.advance_clock(100)
            assert s.get(url, timeout=10).json()["objectState"] == "AVAILABLE"
            emu.advance_clock(7 * 86400 - 1)
            s = session_for(emu)
            assert s.get(url, timeout=10).json()["objectState"] == "AVAILABLE"
            emu.advance_clock(2)
            assert s.get(url, timeout=10).json()["objectState"] == "ARCHIVED"

    def test_available_is_noop(self, emu, css, base):
        obj = emu.add_object("us-east")
        resp = css.post(base + f"/objects/{obj['id']}/restore", json={"expirationDays": 1}, timeout=10)
        assert resp.status_code == 200 and resp.json() == {"expirationDays": 1}
        assert emu.get(obj["id"])["objectState"] == "AVAILABLE"

    @pytest.mark.parametrize("state", ["REVOKED", "DELETED"])
    def test_revoked_deleted_400(self, emu, css, base, state):
        obj = emu.add_object("us-east", state=state)
        assert css.post(base + f"/objects/{obj['id']}/restore", timeout=10).status_code == 400

    @pytest.mark.parametrize(
        "body",
        [
            {"expirationDays": 0},
            {"expirationDays": 11},
            {"expirationDays": "3"},
            {"expirationDays": 2.5},
            {"expirationDays": True},
            [1],
        ],
    )
    def test_bad_bodies_400(self, emu, css, base, body):
        obj = emu.add_object("us-east", state="ARCHIVED")
        resp = css.post(base + f"/objects/{obj['id']}/restore", json=body, timeout=10)
        assert resp.status_code == 400
        assert emu.get(obj["id"])["objectState"] == "ARCHIVED"

    def test_malformed_json_400(self, emu, css, base):
        obj = emu.add_object("us-east", state="ARCHIVED")
        resp = css.post(
            base + f"/objects/{obj['id']}/restore",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert resp.status_code == 400 and "JSON" in resp.json()["message"]

    def test_unknown_object_404(self, css, base):
        assert css.post(base + "/objects/nope/restore", timeout=10).status_code == 404

    def test_read_only_key_403(self):
        acct = Account(key="ro", secret="ro", can_edit=False)
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, accounts=(acct,))) as emu:
            obj = emu.add_object("us-east", state="ARCHIVED")
            s = session_for(emu, key="ro", secret="ro")
            assert s.post(emu.storage_url("us-east") + f"/objects/{obj['id']}/restore").status_code == 403


# -- buckets (section 8) ------------------------------------------------------------------------
class TestBuckets:
    def test_page_shape_and_bucket_response(self, emu, css, base):
        body = css.get(base + "/buckets", params={"limit": 5}, timeout=10).json()
        assert set(body) == {"content", "pageKey", "pageSize", "lastPage", "total"}
        assert body["pageKey"] == 5 and body["pageSize"] == 5
        bucket = body["content"][0]
        assert set(bucket) == {"bucketId", "customerId", "userId", "createdTime", "updatedTime", "tags", "objectList"}
        assert bucket["objectList"] and all(o["bucketId"] == bucket["bucketId"] for o in bucket["objectList"])
        one = css.get(base + f"/buckets/{bucket['bucketId']}", timeout=10).json()
        assert one == bucket

    def test_related_objects_share_bucket(self, emu, css, base):
        body = css.get(base + "/buckets", params={"limit": 100}, timeout=10).json()
        multi = [b for b in body["content"] if len(b["objectList"]) > 1]
        assert multi
        call_ids = {t["value"] for o in multi[0]["objectList"] for t in o["tags"] if t["key"] == "callId"}
        assert len(call_ids) == 1

    def test_filter_by_id_alias_and_name_tag(self, emu, css, base):
        bucket_id = emu.objects("us-east")[0]["bucketId"]
        body = css.get(base + "/buckets", params={"filter": f"id=={bucket_id}"}, timeout=10).json()
        assert [b["bucketId"] for b in body["content"]] == [bucket_id]
        name = next(t["value"] for t in body["content"][0]["tags"] if t["key"] == "name")
        body = css.get(base + "/buckets", params={"filter": f"name=='{name}'"}, timeout=10).json()
        assert bucket_id in [b["bucketId"] for b in body["content"]]

    def test_add_object_to_existing_bucket(self, emu, css, base):
        first = emu.add_object("us-east", type="callcenterrecording")
        second = emu.add_object("us-east", type="transcription", bucket_id=first["bucketId"])
        bucket = css.get(base + f"/buckets/{first['bucketId']}", timeout=10).json()
        assert [o["id"] for o in bucket["objectList"]] == [first["id"], second["id"]]

    def test_unknown_bucket_404_and_bad_filter_400(self, css, base):
        assert css.get(base + "/buckets/nope", timeout=10).status_code == 404
        assert css.get(base + "/buckets", params={"filter": "id=="}, timeout=10).status_code == 400


# -- delete (section 10) ------------------------------------------------------------------------
class TestDelete:
    def test_delete_marks_revoked(self, emu, css, base):
        emu.config.delete_unknown = "ignore"  # the lenient reading; strict answers 404 (tested below)
        emu.config.non_available_content_status = 400
        obj = emu.add_object("us-east")
        resp = css.delete(base + "/bulk", json=[obj["id"], "unknown-id"], timeout=10)
        assert resp.status_code == 204 and resp.content == b""
        after = emu.get(obj["id"])
        assert after["objectState"] == "REVOKED"
        assert after["updatedTime"] >= obj["updatedTime"]
        search = css.get(base + "/objects", params={"filter": f"id=={obj['id']}"}).json()
        assert search["total"] == 0
        search = css.get(base + "/objects", params={"filter": f"objectState==REVOKED;id=={obj['id']}"}).json()
        assert [o["id"] for o in search["content"]] == [obj["id"]]
        assert css.get(base + f"/objects/{obj['id']}/content").status_code == 400

    @pytest.mark.parametrize("body", [b"[]", b"{}", b'["a", 3]', b"not json", b'"id"', b""])
    def test_bad_body_400(self, css, base, body):
        resp = css.delete(base + "/bulk", data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert resp.status_code == 400

    def test_read_only_key_403(self):
        acct = Account(key="ro", secret="ro", can_edit=False)
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, accounts=(acct,))) as emu:
            obj = emu.objects("us-east")[0]
            s = session_for(emu, key="ro", secret="ro")
            assert s.delete(emu.storage_url("us-east") + "/bulk", json=[obj["id"]]).status_code == 403
            assert emu.get(obj["id"])["objectState"] == obj["objectState"]

    def test_strict_unknown_ids_404(self):
        with EightByEightEmulator(EmulatorConfig(objects_per_region=1, strict=True)) as emu:
            s = session_for(emu)
            resp = s.delete(emu.storage_url("us-east") + "/bulk", json=["nope"], timeout=10)
            assert resp.status_code == 404

    def test_other_region_ids_untouched(self, emu, css, base):
        other = emu.objects("uk", states=["AVAILABLE"])[0]
        assert css.delete(base + "/bulk", json=[other["id"]], timeout=10).status_code == 404  # strict: reported
        assert emu.get(other["id"])["objectState"] == "AVAILABLE"


class TestStrictDefaults:
    """The readings of the contract hardest on a client are the defaults (EmulatorConfig.lenient() for the rest)."""

    def test_unknown_ids_in_a_delete_are_reported_and_known_ones_deleted(self, emu, css, base):
        obj = emu.add_object("us-east")
        resp = css.delete(base + "/bulk", json=[obj["id"], "unknown-id"], timeout=10)
        assert resp.status_code == 404 and "unknown-id" in resp.text
        assert emu.get(obj["id"])["objectState"] == "REVOKED"

    def test_ties_come_back_in_a_different_order_per_query(self, emu, css, base):
        when = datetime(2027, 2, 1, tzinfo=UTC)
        for _ in range(30):
            emu.add_object("us-east", type="meeting", created=when)
        params = {"filter": "type==meeting", "sortField": "createdTime", "limit": 100}
        orders = {tuple(o["id"] for o in css.get(base + "/objects", params=params).json()["content"]) for _ in range(4)}
        assert len(orders) > 1

    def test_content_refusals_vary_by_object_and_zips_are_deflated(self, emu, css, base):
        codes = set()
        for _ in range(40):
            obj = emu.add_object("us-east", state="PENDING")
            codes.add(css.get(base + f"/objects/{obj['id']}/content", timeout=10).status_code)
        assert codes == {400, 404, 409, 410}
        assert emu.config.zip_compression == "deflate" and emu.config.bulk_limit_bytes == 2_000_000_000
        assert emu.config.restore_pending_state == "PENDING"
        assert EmulatorConfig.lenient().restore_pending_state == "ARCHIVED"
