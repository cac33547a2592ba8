"""Fault injection, admin API, transport robustness and concurrency of the emulator."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import random
import socket
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig, FaultRule

FORM = {"grant_type": "client_credentials"}


def session_for(emu: EightByEightEmulator) -> requests.Session:
    resp = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=10)
    assert resp.status_code == 200
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + resp.json()["access_token"]
    return s


@pytest.fixture
def emu() -> Iterator[EightByEightEmulator]:
    cfg = EmulatorConfig(seed=9, objects_per_region=10, archived_fraction=0, revoked_fraction=0, bulk_delay=0)
    with EightByEightEmulator(cfg) as emulator:
        yield emulator


@pytest.fixture
def css(emu: EightByEightEmulator) -> requests.Session:
    return session_for(emu)


@pytest.fixture
def big(emu: EightByEightEmulator) -> dict:
    return emu.add_object("us-east", size=1024 * 1024)


def content_url(emu: EightByEightEmulator, obj: dict) -> str:
    return emu.storage_url("us-east") + f"/objects/{obj['id']}/content"


# -- fault kinds --------------------------------------------------------------------------------
class TestFaultKinds:
    def test_status_429_with_retry_after_then_recovers(self, emu, css, big):
        emu.add_fault(FaultRule(kind="status", route="content", status=429, retry_after=7, times=2))
        for _ in range(2):
            resp = css.get(content_url(emu, big), timeout=10)
            assert resp.status_code == 429
            assert resp.headers["Retry-After"] == "7"
            assert "message" in resp.json()
        ok = css.get(content_url(emu, big), timeout=10)
        assert ok.status_code == 200 and ok.content == emu.content(big["id"])
        stats = emu.stats()
        assert stats["faults_injected"] == {"status": 2}
        assert stats["status_counts"]["429"] == 2
        assert emu.fault_rules() == []

    def test_status_html_proxy_page(self, emu, css):
        emu.add_fault(
            FaultRule(kind="status", route="search", status=502, body="<html><h1>Bad Gateway</h1></html>",
                      content_type="text/html", times=1)
        )  # fmt: skip
        resp = css.get(emu.storage_url("us-east") + "/objects", timeout=10)
        assert resp.status_code == 502
        assert resp.headers["Content-Type"] == "text/html"
        assert "<h1>Bad Gateway</h1>" in resp.text

    def test_status_on_token_endpoint(self, emu):
        emu.add_fault(FaultRule(kind="status", route="token", status=503, retry_after=1, times=1))
        first = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=10)
        assert first.status_code == 503 and first.headers["Retry-After"] == "1"
        second = requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=10)
        assert second.status_code == 200
        assert emu.stats()["token_requests"] == 2

    def test_status_fault_happens_before_side_effects(self, emu, css):
        obj = emu.objects("us-east")[0]
        emu.add_fault(FaultRule(kind="status", route="delete", status=500, times=1))
        resp = css.delete(emu.storage_url("us-east") + "/bulk", json=[obj["id"]], timeout=10)
        assert resp.status_code == 500
        assert emu.get(obj["id"])["objectState"] == "AVAILABLE"

    def test_reset_raises_connection_error(self, emu, css, big):
        emu.add_fault(FaultRule(kind="reset", route="content", after_bytes=1000, times=1))
        with pytest.raises(requests.exceptions.ConnectionError):  # ChunkedEncodingError or ConnectionError
            try:
                css.get(content_url(emu, big), timeout=10)
            except requests.exceptions.ChunkedEncodingError as exc:
                raise requests.exceptions.ConnectionError(str(exc)) from exc
        assert emu.stats()["faults_injected"] == {"reset": 1}
        assert css.get(content_url(emu, big), timeout=10).content == emu.content(big["id"])

    def test_reset_is_a_tcp_rst(self, emu, big):
        token = session_for(emu).headers["Authorization"]
        emu.add_fault(FaultRule(kind="reset", route="content", after_bytes=10, times=1))
        path = f"/storage/us-east/v3/objects/{big['id']}/content"
        with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode())
            received = b""
            with pytest.raises(ConnectionResetError):
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    received += data
                    time.sleep(0.05)
        head, _, body = received.partition(b"\r\n\r\n")
        assert b"Content-Length: 1048576" in head
        assert len(body) <= 10

    def test_truncate_sends_exactly_after_bytes_then_eof(self, emu, css, big):
        emu.add_fault(FaultRule(kind="truncate", route="content", after_bytes=300_000, times=1))
        received = bytearray()
        resp = css.get(content_url(emu, big), stream=True, timeout=10)
        assert resp.headers["Content-Length"] == str(1024 * 1024)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in resp.iter_content(65536):
                received += chunk
        resp.close()
        # urllib3 may drop the last partial read when it raises; what it did hand over is a prefix
        assert 0 < len(received) <= 300_000
        assert bytes(received) == emu.content(big["id"])[: len(received)]
        assert emu.stats()["faults_injected"] == {"truncate": 1}

    def test_truncate_on_the_wire_is_exact_and_clean(self, emu, big):
        token = session_for(emu).headers["Authorization"]
        emu.add_fault(FaultRule(kind="truncate", route="content", after_bytes=300_000, times=1))
        path = f"/storage/us-east/v3/objects/{big['id']}/content"
        raw = raw_exchange(emu, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode())
        head, _, body = raw.partition(b"\r\n\r\n")
        assert status_of(raw) == 200 and b"Content-Length: 1048576" in head
        assert body == emu.content(big["id"])[:300_000]  # exactly after_bytes, then a clean EOF

    def test_corrupt_same_length_md5_mismatch(self, emu, css, big):
        emu.add_fault(FaultRule(kind="corrupt", route="content", after_bytes=5000, times=1))
        resp = css.get(content_url(emu, big), timeout=10)
        expected = emu.content(big["id"])
        assert resp.status_code == 200 and len(resp.content) == len(expected)
        assert hashlib.md5(resp.content).hexdigest() != emu.md5(big["id"])
        diffs = [i for i, (a, b) in enumerate(zip(resp.content, expected, strict=True)) if a != b]
        assert diffs[0] == 5000 and diffs == list(range(5000, len(expected), 65536))
        assert css.get(content_url(emu, big), timeout=10).content == expected

    def test_latency(self, emu, css):
        emu.add_fault(FaultRule(kind="latency", route="regions", delay=0.4, times=1))
        start = time.monotonic()
        resp = css.get(emu.storage_url("us-east") + "/regions", timeout=10)
        assert resp.status_code == 200 and resp.json() == ["us-east"]
        assert time.monotonic() - start >= 0.4
        start = time.monotonic()
        css.get(emu.storage_url("us-east") + "/regions", timeout=10)
        assert time.monotonic() - start < 0.3

    def test_latency_combines_with_another_fault(self, emu, css):
        emu.add_fault(FaultRule(kind="latency", route="regions", delay=0.2, times=1))
        emu.add_fault(FaultRule(kind="status", route="regions", status=503, times=1))
        start = time.monotonic()
        assert css.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 503
        assert time.monotonic() - start >= 0.2
        assert emu.stats()["faults_injected"] == {"latency": 1, "status": 1}

    def test_truncate_chunked_zip(self, emu, css):
        ids = [o["id"] for o in emu.objects("us-east")[:3]]
        bulk = emu.storage_url("us-east") + "/bulk/download"
        zip_name = css.post(bulk + "/start", json=ids, timeout=10).json()["zipName"]
        emu.add_fault(FaultRule(kind="truncate", route="bulk_download", after_bytes=2000, times=1))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            css.get(f"{bulk}/{zip_name}", timeout=10)
        assert css.get(f"{bulk}/{zip_name}", timeout=10).status_code == 200

    def test_presigned_route_faults(self, emu, css, big):
        url = css.get(content_url(emu, big), params={"presignUrl": "true"}, timeout=10).json()["url"]
        emu.add_fault(FaultRule(kind="status", route="presigned", status=503, times=1))
        assert requests.get(url, timeout=10).status_code == 503
        assert requests.get(url, timeout=10).content == emu.content(big["id"])


# -- rule targeting -----------------------------------------------------------------------------
class TestRuleTargeting:
    def test_object_ids_limit(self, emu, css):
        a, b = emu.objects("us-east")[:2]
        emu.add_fault(FaultRule(kind="status", route="*", status=500, object_ids=[a["id"]]))
        assert css.get(content_url(emu, a), timeout=10).status_code == 500
        assert css.get(emu.storage_url("us-east") + f"/objects/{a['id']}", timeout=10).status_code == 500
        assert css.get(content_url(emu, b), timeout=10).status_code == 200
        assert css.get(emu.storage_url("us-east") + "/objects", timeout=10).status_code == 200
        # bulk start bodies and bulk zips count as "about" their ids
        bulk = emu.storage_url("us-east") + "/bulk/download/start"
        assert css.post(bulk, json=[b["id"], a["id"]], timeout=10).status_code == 500
        assert css.post(bulk, json=[b["id"]], timeout=10).status_code == 200

    def test_keep_accepts_a_delete_but_leaves_the_object(self, emu, css):
        """8x8 answering 204 to a batch delete it did only in part: the ids of ``object_ids`` stay as they were."""
        a, b, c = (o["id"] for o in emu.objects("us-east")[:3])
        emu.add_fault(FaultRule(kind="keep", object_ids=[b], times=1))
        deleted = css.delete(emu.storage_url("us-east") + "/bulk", json=[a, b, c], timeout=10)
        assert deleted.status_code == 204
        assert [emu.get(i)["objectState"] for i in (a, b, c)] == ["REVOKED", "AVAILABLE", "REVOKED"]
        assert emu.stats()["faults_injected"] == {"keep": 1}
        # without object_ids, the first id of the batch is kept
        d, e = [o["id"] for o in emu.objects("us-east", states="AVAILABLE") if o["id"] != b][:2]
        emu.add_fault(FaultRule(kind="keep", times=1))
        assert css.delete(emu.storage_url("us-east") + "/bulk", json=[d, e], timeout=10).status_code == 204
        assert [emu.get(i)["objectState"] for i in (d, e)] == ["AVAILABLE", "REVOKED"]

    def test_method_limit(self, emu, css):
        emu.add_fault(FaultRule(kind="status", route="bulk_cancel", method="put", status=405))
        bulk = emu.storage_url("us-east") + "/bulk/download"
        zip_name = css.post(bulk + "/start", json=[emu.objects("us-east")[0]["id"]]).json()["zipName"]
        assert css.put(f"{bulk}/cancel/{zip_name}", timeout=10).status_code == 405
        assert css.post(f"{bulk}/cancel/{zip_name}", timeout=10).status_code == 200

    def test_wildcard_skips_admin(self, emu, css):
        emu.add_fault(FaultRule(kind="status", status=503))
        assert css.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 503
        assert requests.get(emu.base_url + "/_emulator/health", timeout=10).status_code == 200

    def test_probability_is_deterministic(self):
        def pattern() -> list[int]:
            with EightByEightEmulator(EmulatorConfig(seed=1, objects_per_region=0)) as emu:
                emu.add_fault(FaultRule(kind="status", route="regions", status=503, probability=0.5))
                s = session_for(emu)
                url = emu.storage_url("us-east") + "/regions"
                return [s.get(url, timeout=10).status_code for _ in range(30)]

        first, second = pattern(), pattern()
        assert first == second
        assert 3 < first.count(503) < 27 and 3 < first.count(200) < 27

    def test_rule_validation(self):
        with pytest.raises(ValueError):
            FaultRule(kind="explode")
        with pytest.raises(ValueError):
            FaultRule(kind="status", route="nowhere")
        with pytest.raises(ValueError):
            FaultRule(kind="status", probability=2)
        with pytest.raises(ValueError):
            FaultRule.from_dict({"kind": "status", "colour": "red"})
        rule = FaultRule.from_dict({"kind": "status", "route": "content", "object_ids": ["a"], "times": 1})
        assert rule.status == 503 and rule.object_ids == ("a",)
        assert FaultRule.from_dict(rule.to_dict()) == rule


# -- admin API ----------------------------------------------------------------------------------
class TestAdmin:
    def test_health_and_info(self, emu):
        assert requests.get(emu.base_url + "/_emulator/health", timeout=10).json() == {"status": "ok"}
        info = requests.get(emu.base_url + "/_emulator/info", timeout=10).json()
        assert info["base_url"] == emu.base_url and info["token_url"] == emu.token_url
        assert info["regions"] == ["us-west", "us-east", "uk", "ap", "ca"]
        assert info["accounts"] == [
            {"key": emu.key, "secret": emu.secret, "regions": ["us-east"], "products": ["storage"]}
        ]

    def test_objects_ground_truth_with_md5(self, emu):
        listing = requests.get(emu.base_url + "/_emulator/objects", params={"region": "us-east"}, timeout=10).json()
        assert len(listing) == 10
        for item in listing:
            assert item["md5"] == emu.md5(item["id"])
            assert {k: v for k, v in item.items() if k not in ("md5", "region")} == emu.get(item["id"])
        assert requests.get(emu.base_url + "/_emulator/objects", params={"region": "eu"}).status_code == 404

    def test_add_objects_and_set_state(self, emu, css):
        resp = requests.post(
            emu.base_url + "/_emulator/objects",
            json={
                "region": "us-east",
                "objects": [
                    {"type": "meeting", "size": 2048, "created": "2026-01-02T03:04:05", "tags": {"sessionId": "s1"}},
                    {"type": "voicemail", "created": 1767225600000, "state": "ARCHIVED", "object_name": "vm.mp3"},
                ],
            },
            timeout=10,
        )
        assert resp.status_code == 200
        created = resp.json()["objects"]
        assert created[0]["storedBytes"] == 2048 and created[0]["createdTime"] == "2026-01-02T03:04:05"
        assert created[0]["tags"] == [{"key": "sessionId", "value": "s1"}]
        assert created[1]["objectState"] == "ARCHIVED" and created[1]["createdTime"] == "2026-01-01T00:00:00"
        assert emu.get(created[1]["id"])["objectName"] == "vm.mp3"
        resp = requests.post(
            emu.base_url + f"/_emulator/objects/{created[1]['id']}/state", json={"state": "AVAILABLE"}, timeout=10
        )
        assert resp.json()["objectState"] == "AVAILABLE"
        assert css.get(content_url(emu, created[1]), timeout=10).status_code == 200
        bad = requests.post(emu.base_url + f"/_emulator/objects/{created[1]['id']}/state", json={"state": "GONE"})
        assert bad.status_code == 400
        bad = requests.post(emu.base_url + "/_emulator/objects", json={"region": "us-east", "objects": [{"x": 1}]})
        assert bad.status_code == 400

    def test_faults_stats_clock(self, emu, css):
        admin = emu.base_url + "/_emulator"
        rule = {"kind": "status", "route": "regions", "status": 429, "retry_after": 2, "times": 1}
        resp = requests.post(admin + "/faults", json={"rules": [rule]}, timeout=10)
        assert resp.status_code == 200 and resp.json()["rules"][0]["remaining"] == 1
        assert requests.get(admin + "/faults", timeout=10).json()["rules"][0]["kind"] == "status"
        assert css.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 429
        stats = requests.get(admin + "/stats", timeout=10).json()
        assert stats["faults_injected"] == {"status": 1}
        assert stats["requests"]["regions"] == 1 and stats["token_requests"] == 1
        assert stats["total_requests"] == 2
        requests.post(admin + "/faults", json={"rules": [rule]}, timeout=10)
        assert requests.delete(admin + "/faults", timeout=10).json() == {"rules": []}
        assert requests.post(admin + "/stats/reset", timeout=10).status_code == 200
        assert emu.stats()["total_requests"] == 0
        assert requests.post(admin + "/faults", json={"rules": [{"kind": "nope"}]}).status_code == 400
        before = emu.now()
        resp = requests.post(admin + "/clock", json={"advance_seconds": 1000}, timeout=10)
        assert resp.status_code == 200 and emu.now() - before >= 1000
        assert css.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 200
        requests.post(admin + "/clock", json={"advance_seconds": 800}, timeout=10)
        assert css.get(emu.storage_url("us-east") + "/regions", timeout=10).status_code == 401
        assert requests.post(admin + "/clock", json={"advance_seconds": "x"}).status_code == 400

    def test_admin_errors(self, emu):
        assert requests.get(emu.base_url + "/_emulator/nothing", timeout=10).status_code == 404
        assert requests.put(emu.base_url + "/_emulator/health", timeout=10).status_code == 405
        resp = requests.post(emu.base_url + "/_emulator/clock", data=b"{", timeout=10)
        assert resp.status_code == 400

    def test_stats_route_names(self, emu, css):
        obj = emu.objects("us-east")[0]
        base = emu.storage_url("us-east")
        css.get(base + "/objects")
        css.get(base + f"/objects/{obj['id']}")
        css.get(base + f"/objects/{obj['id']}/metadata")
        css.get(base + f"/objects/{obj['id']}/content")
        css.get(base + "/buckets")
        css.get(base + f"/buckets/{obj['bucketId']}")
        stats = emu.stats()
        for name in ("token", "search", "get_object", "metadata", "content", "buckets", "get_bucket"):
            assert stats["requests"][name] == 1, name
        assert stats["status_counts"] == {"200": 7}


# -- transport robustness -----------------------------------------------------------------------
def raw_exchange(emu: EightByEightEmulator, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


class TestRobustness:
    @pytest.mark.parametrize(
        "payload",
        [
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            b"POST /oauth/v2/token HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST /oauth/v2/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"FOO /storage/us-east/v3/objects HTTP/1.1\r\n\r\n",
            b"GET /storage/us-east/v3/objects HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
            b"POST /storage/us-east/v3/bulk/download/start HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\xfd{[",
            b"GET /storage/%ZZ/v3/objects?filter=%ZZ HTTP/1.1\r\n\r\n",
        ],
    )
    def test_malformed_requests_are_4xx(self, emu, payload):
        raw = raw_exchange(emu, payload)
        assert 400 <= status_of(raw) < 500, raw[:200]

    def test_chunked_request_body_accepted(self, emu):
        body = b"grant_type=client_credentials"
        auth = requests.auth._basic_auth_str(emu.key, emu.secret)  # type: ignore[attr-defined]
        payload = (
            b"POST /oauth/v2/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: {auth}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
        raw = raw_exchange(emu, payload)
        assert status_of(raw) == 200 and b"access_token" in raw

    def test_random_requests_never_5xx(self, emu, css):
        rng = random.Random(1234)
        obj = emu.objects("us-east")[0]["id"]
        paths = [
            "/objects", f"/objects/{obj}", f"/objects/{obj}/content", f"/objects/{obj}/restore", "/buckets",
            "/bulk", "/bulk/download/start", "/bulk/download/status", "/bulk/download/x.zip", "/regions",
            "/bulk/download/clear", "/bulk/download/cancel/x.zip", "/objects/%2F..%2F", "/buckets/%00",
        ]  # fmt: skip
        params = [
            {}, {"filter": "(((("}, {"filter": "a=="}, {"limit": "1e9"}, {"pageKey": "-0"},
            {"sortField": "\u00e9"}, {"filter": "type=in=()"}, {"presignUrl": "TRUE"}, {"limit": ""},
            {"filter": "objectState=in=(AVAILABLE" + ",X" * 200 + ")"}, {"sortDirection": ""},
        ]  # fmt: skip
        bodies = [None, b"", b"[]", b"{}", b"null", b'["' + obj.encode() + b'"]', b"\x00\x01", b"[" * 1000]
        statuses = set()
        for _ in range(250):
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
            region = rng.choice(["us-east", "uk", "eu", ""])
            resp = css.request(
                method,
                emu.base_url + f"/storage/{region}/v3" + rng.choice(paths),
                params=rng.choice(params),
                data=rng.choice(bodies),
                timeout=10,
            )
            statuses.add(resp.status_code)
            assert resp.status_code < 500, (method, resp.request.url, resp.text[:200])
        assert statuses & {200, 204} and statuses & {400, 404, 405}

    def test_head_has_headers_but_no_body(self, emu, css):
        obj = emu.objects("us-east")[0]
        resp = css.head(content_url(emu, obj), timeout=10)
        assert resp.status_code == 200 and resp.content == b""
        assert resp.headers["Content-Length"] == str(obj["storedBytes"])
        assert css.get(content_url(emu, obj), timeout=10).content == emu.content(obj["id"])  # connection still usable

    def test_http10_zip_is_close_delimited(self, emu, css):
        token = css.headers["Authorization"]
        zip_name = css.post(
            emu.storage_url("us-east") + "/bulk/download/start", json=[emu.objects("us-east")[0]["id"]], timeout=10
        ).json()["zipName"]
        raw = raw_exchange(
            emu, f"GET /storage/us-east/v3/bulk/download/{zip_name} HTTP/1.0\r\nAuthorization: {token}\r\n\r\n".encode()
        )
        head, _, body = raw.partition(b"\r\n\r\n")
        assert status_of(raw) == 200 and b"chunked" not in head and b"Connection: close" in head
        assert zipfile.ZipFile(io.BytesIO(body)).namelist() == [emu.objects("us-east")[0]["objectName"]]

    def test_keep_alive_reuses_one_connection(self, emu):
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
        try:
            for _ in range(5):
                conn.request("GET", "/_emulator/health")
                resp = conn.getresponse()
                assert resp.status == 200 and json.loads(resp.read()) == {"status": "ok"}
                assert resp.getheader("Connection") != "close"
            sock = conn.sock
            conn.request("GET", "/storage/us-east/v3/objects")  # 401, still keep-alive
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 401 and conn.sock is sock
        finally:
            conn.close()

    def test_stop_closes_idle_keep_alive_connections(self):
        emu = EightByEightEmulator(EmulatorConfig(objects_per_region=0)).start()
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
        conn.request("GET", "/_emulator/health")
        conn.getresponse().read()
        start = time.monotonic()
        emu.stop()
        assert time.monotonic() - start < 2
        assert not emu.running
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{emu.port}/_emulator/health", timeout=2)
        conn.close()


def test_parallel_downloads(emu):
    objs = [emu.add_object("us-east", size=2 * 1024 * 1024) for _ in range(16)]
    emu.add_fault(FaultRule(kind="latency", route="content", delay=0.2))

    def fetch(obj: dict) -> str:
        s = session_for(emu)
        digest = hashlib.md5()
        with s.get(content_url(emu, obj), stream=True, timeout=30) as resp:
            for chunk in resp.iter_content(256 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        digests = list(pool.map(fetch, objs))
    elapsed = time.monotonic() - start
    assert digests == [emu.md5(o["id"]) for o in objs]
    assert emu.stats()["max_concurrent_requests"] >= 8
    assert elapsed < 16 * 0.2  # the 0.2 s latencies overlapped
