"""StoredObject parsing, connection settings, retry policy and token cache (pure code)."""

from __future__ import annotations

import json
import pickle
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_eightbyeight.connection import ConnectionSettings
from airflow_provider_eightbyeight.errors import ConfigurationError, EightByEightError, NotFoundError
from airflow_provider_eightbyeight.hooks.retry import RetryPolicy, is_retryable_status, parse_retry_after
from airflow_provider_eightbyeight.hooks.token_cache import AccessToken, TokenCache, cache_key
from airflow_provider_eightbyeight.models import BulkJob, BulkJobStatus, StoredObject, is_plain_md5

CONTRACT_OBJECT = {
    "id": "3b1f9c2e-1111-4a2b-9c3d-000000000001",
    "type": "callcenterrecording",
    "mimeType": "audio/mpeg",
    "objectName": "int-19a0b1c2d3e-DemoCallId0001-phone-00-demotenant01.mp3",
    "checksumType": "MD5",
    "checksum": "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e",
    "customerId": "0012J00000DEMO0AAA",
    "userId": "dEmOuSeRiD0000000000aa",
    "storedBytes": 482304,
    "createdTime": "2026-03-04T10:15:30",
    "updatedTime": "2026-03-04T10:15:41",
    "objectState": "AVAILABLE",
    "bucketId": "9a8b7c6d-2222-4e5f-8a9b-000000000002",
    "tags": [
        {"key": "callId", "value": "int-19a0b1c2d3e-DemoCallId0001-phone-00-demotenant01"},
        {"key": "direction", "value": "INBOUND"},
        {"key": "startTime", "value": "1772619330000"},
        {"key": "duration", "value": "61000"},
    ],
    "shared": False,
}


class TestStoredObject:
    def test_contract_example(self):
        obj = StoredObject.from_api(CONTRACT_OBJECT, "us-east")
        assert obj.id == CONTRACT_OBJECT["id"]
        assert obj.name == CONTRACT_OBJECT["objectName"]
        assert obj.size == 482304
        assert obj.created == datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)
        assert obj.updated == datetime(2026, 3, 4, 10, 15, 41, tzinfo=timezone.utc)
        assert obj.tags["direction"] == "INBOUND"
        assert obj.md5 == "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e"
        assert obj.is_available
        assert obj.region == "us-east"
        assert obj.raw == CONTRACT_OBJECT
        summary = obj.to_summary()
        assert json.loads(json.dumps(summary)) == summary
        assert summary["created"] == "2026-03-04T10:15:30+00:00"

    def test_lenient_variants(self):
        data = dict(
            CONTRACT_OBJECT,
            storedBytes="1024",
            updatedTime=1772619341000,
            checksum="0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-1",
            tags=[{"id": "t1", "key": "n", "value": 5}],
            extraField={"x": 1},
        )
        del data["shared"]
        obj = StoredObject.from_api(data)
        assert obj.size == 1024
        assert obj.updated == datetime(2026, 3, 4, 10, 15, 41, tzinfo=timezone.utc)
        assert obj.md5 is None  # multipart tag: nothing to verify
        assert obj.tags == {"n": "5"}
        assert obj.shared is None
        assert obj.raw["extraField"] == {"x": 1}

    def test_missing_fields_and_garbage_times(self):
        obj = StoredObject.from_api({"id": "x", "createdTime": "garbage", "storedBytes": "n/a"})
        assert (obj.created, obj.size, obj.type, obj.tags) == (None, None, None, {})

    @pytest.mark.parametrize("bad", [{}, {"type": "x"}, [], "id"])
    def test_no_id_is_an_error(self, bad):
        with pytest.raises(ValueError):
            StoredObject.from_api(bad)

    def test_md5_shape(self):
        assert is_plain_md5("0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e")
        assert not is_plain_md5("0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-2")
        assert not is_plain_md5(None)


class TestBulkJob:
    def test_known_and_unknown_statuses(self):
        job = BulkJob.from_api({"zipName": "z.zip", "status": "done", "content": ["a:DONE"]})
        assert job.status is BulkJobStatus.DONE and job.is_terminal and job.has_zip
        assert job.content == ("a:DONE",)
        odd = BulkJob.from_api({"zipName": "z.zip", "status": "QUEUED"})
        assert odd.status == "QUEUED" and not odd.is_terminal
        assert not BulkJob.from_api({"zipName": "z", "status": "FAILED"}).has_zip
        with pytest.raises(ValueError):
            BulkJob.from_api({"status": "DONE"})


def conn(**kwargs):
    base = {"conn_id": "c", "login": "key", "password": "s3cr3t", "host": None, "port": None, "extra": {}}
    base.update(kwargs)
    return SimpleNamespace(extra_dejson=base.pop("extra"), **base)


class TestConnectionSettings:
    def test_defaults_point_at_8x8(self):
        s = ConnectionSettings.from_connection(conn())
        assert s.api_base_url == "https://api.8x8.com"
        assert s.token_url == "https://api.8x8.com/oauth/v2/token"
        assert s.storage_root("uk") == "https://api.8x8.com/storage/uk/v3"
        assert (s.region, s.max_retries, s.timeout) == (None, 5, 60.0)
        assert "s3cr3t" not in repr(s)

    def test_extras_and_loopback_http(self):
        s = ConnectionSettings.from_connection(
            conn(
                extra={
                    "api_base_url": "http://127.0.0.1:8080/",
                    "region": "uk",
                    "timeout": "30",
                    "max_retries": 2,
                    "api_version": "v4",
                }
            )
        )
        assert s.api_base_url == "http://127.0.0.1:8080"
        assert s.token_url == "http://127.0.0.1:8080/oauth/v2/token"
        assert s.storage_root("uk") == "http://127.0.0.1:8080/storage/uk/v4"
        assert (s.region, s.timeout, s.max_retries) == ("uk", 30.0, 2)

    def test_prefixed_extras_and_overrides(self):
        s = ConnectionSettings.from_connection(
            conn(extra={"extra__eightbyeight__region": "uk"}), region="ap", timeout=None
        )
        assert s.region == "ap"

    def test_host_field_is_a_fallback_base_url(self):
        assert ConnectionSettings.from_connection(conn(host="api.example.com")).api_base_url == (
            "https://api.example.com"
        )

    def test_path_prefix_is_kept_but_api_paths_are_refused(self):
        assert ConnectionSettings.from_connection(
            conn(extra={"api_base_url": "https://gw.example.com/eightbyeight"})
        ).storage_root("uk") == ("https://gw.example.com/eightbyeight/storage/uk/v3")
        with pytest.raises(ConfigurationError, match="includes an API path"):
            ConnectionSettings.from_connection(conn(extra={"api_base_url": "https://api.8x8.com/storage/uk/v3"}))

    @pytest.mark.parametrize(
        ("kwargs", "pattern"),
        [
            ({"login": ""}, "no API key"),
            ({"password": "  "}, "no secret"),
            ({"extra": {"api_base_url": "http://api.8x8.com"}}, "plain http"),
            ({"extra": {"api_base_url": "ftp://x"}}, "not an http"),
            ({"extra": {"api_base_url": 5}}, "must be a string URL"),
            ({"extra": {"timeout": "soon"}}, "timeout must be a number"),
            ({"extra": {"timeout": 0}}, "timeout must be a number"),
            ({"extra": {"max_retries": 2.5}}, "max_retries must be a whole number"),
            ({"extra": {"max_retries": 99}}, "<= 20"),
            ({"extra": {"max_retries": True}}, "max_retries"),
            ({"extra": {"allow_insecure": "maybe"}}, "true or false"),
            ({"extra": {"region": ["uk"]}}, "region must be a string"),
            ({"extra": {"region": "us east"}}, "not a region name"),
            ({"extra": {"api_version": "v3/x"}}, "single path segment"),
            ({"extra": {"token_url": "https://x/t?key=1"}}, "query string"),
        ],
    )
    def test_bad_settings_name_the_problem_and_fix(self, kwargs, pattern):
        with pytest.raises(ConfigurationError, match=pattern) as info:
            ConnectionSettings.from_connection(conn(**kwargs))
        assert "s3cr3t" not in str(info.value)

    @pytest.mark.parametrize(("value", "expected"), [("y", True), ("Y", True), ("n", False), ("", False)])
    def test_a_checkbox_of_airflow_2s_form_reads_as_its_flag(self, value, expected):
        """Airflow 2's Flask form sends a ticked box as WTForms' "y" (its Test button posts the form as it is)."""
        extra = {"api_base_url": "http://gw.internal", "allow_insecure": "y", "verify": value}
        s = ConnectionSettings.from_connection(conn(extra=extra))
        assert s.api_base_url == "http://gw.internal"
        assert s.verify is (expected or value == "")  # an empty box: the default, verify

    def test_insecure_is_allowed_when_asked(self):
        s = ConnectionSettings.from_connection(
            conn(extra={"api_base_url": "http://gw.internal", "allow_insecure": "true"})
        )
        assert s.api_base_url == "http://gw.internal"

    def test_unknown_extras_warn(self, caplog):
        ConnectionSettings.from_connection(conn(extra={"regoin": "uk"}))
        assert "regoin" in caplog.text


class TestRetryPolicy:
    def test_statuses(self):
        assert all(is_retryable_status(s) for s in (429, 500, 502, 503, 504, 599))
        assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 405))

    def test_retry_after_forms(self):
        assert parse_retry_after("3") == 3.0
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
        assert parse_retry_after("-1") is None
        assert parse_retry_after("soon") is None
        assert parse_retry_after(None) is None

    def test_backoff_grows_with_jitter_and_is_capped(self):
        policy = RetryPolicy(max_retries=5, backoff=1.0, max_wait=5.0)
        for n, ceiling in enumerate((1, 2, 4, 5, 5)):
            delays = [policy.delay(n) for _ in range(50)]
            assert all(ceiling / 2 <= d <= ceiling for d in delays)
            assert len(set(delays)) > 1  # jittered
        assert policy.delay(0, retry_after=3.0) == 3.0
        assert policy.delay(0, retry_after=300.0) == 300.0  # the server's wish, not the backoff cap
        assert policy.delay(0, retry_after=86400.0) == 900.0  # within reason

    def test_http_dates_in_retry_after_are_gmt(self, monkeypatch):
        monkeypatch.setenv("TZ", "America/New_York")  # a local zone that is not UTC
        time.tzset()
        now = 1_790_000_000.0  # 2026-09-21T14:13:20Z
        for text in (
            "Mon, 21 Sep 2026 14:15:00 GMT",
            "Mon, 21 Sep 2026 14:15:00 -0000",
            "Mon, 21 Sep 2026 14:15:00 +0000",
        ):
            assert parse_retry_after(text, now=now) == 100.0, text
        monkeypatch.undo()
        time.tzset()

    def test_budget_is_bounded(self):
        budget = RetryPolicy(max_retries=2).budget()
        assert [budget.take() for _ in range(4)] == [True, True, False, False]
        assert budget.used == 2


class TestTokenCache:
    def test_one_fetch_for_concurrent_callers_and_refresh_when_due(self):
        cache = TokenCache()
        key = cache_key("https://t", "k", "s")
        calls = []

        def fetch():
            calls.append(1)
            time.sleep(0.05)
            return AccessToken.issued(f"tok{len(calls)}", lifetime=3600)

        results = []
        threads = [threading.Thread(target=lambda: results.append(cache.get(key, fetch).value)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1 and set(results) == {"tok1"}
        assert cache.get(key, fetch, rejected="tok1").value == "tok2"
        assert cache.get(key, fetch, rejected="tok1").value == "tok2"  # someone else already replaced it
        assert len(calls) == 2

    def test_margin(self):
        token = AccessToken.issued("t", lifetime=1799, now=0.0)
        assert token.refresh_at == 1739.0
        assert token.is_fresh(now=1738.9) and not token.is_fresh(now=1739.0)
        assert AccessToken.issued("t", lifetime=10, now=0.0).refresh_at == 5.0
        assert "'t'" not in repr(token)

    def test_secret_enters_the_key_only_as_a_digest(self):
        assert "s3cr3t" not in "".join(cache_key("u", "k", "s3cr3t"))


class TestErrors:
    def test_message_parts_and_pickling(self):
        err = NotFoundError("Not found", status=404, method="GET", path="/x", server_message="nope", hint="Fix it")
        assert str(err) == "Not found (HTTP 404 on GET /x); 8x8 said: nope. Fix it"
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is NotFoundError and str(clone) == str(err) and clone.status == 404
        assert isinstance(err, EightByEightError)

    def test_long_server_messages_are_cut(self):
        err = EightByEightError("x", server_message="a" * 5000)
        assert len(str(err)) < 600


def test_the_oauth_url_extra_and_its_old_name_token_url():
    from airflow_provider_eightbyeight.connection import ConnectionSettings
    from airflow_provider_eightbyeight.errors import ConfigurationError as _ConfigurationError

    def settings(**extra):
        fields = {"conn_id": "c", "login": "k", "password": "s", "host": None, "port": None, "extra_dejson": extra}
        return ConnectionSettings.from_connection(type("Conn", (), fields)())

    base = {"api_base_url": "http://127.0.0.1:9"}
    assert settings(**base).token_url == "http://127.0.0.1:9/oauth/v2/token"
    assert settings(**base, oauth_url="http://127.0.0.1:9/t").token_url == "http://127.0.0.1:9/t"
    assert settings(**base, token_url="http://127.0.0.1:9/old").token_url == "http://127.0.0.1:9/old"
    with pytest.raises(_ConfigurationError, match="both oauth_url and its old name token_url"):
        settings(**base, oauth_url="http://127.0.0.1:9/a", token_url="http://127.0.0.1:9/b")
