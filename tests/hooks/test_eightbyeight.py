"""EightByEightHook against the emulator over real HTTP: auth, regions, search, content, bulk, errors."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    BulkJobError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    ObjectNotAvailableError,
    PermissionDeniedError,
    RateLimitError,
    RegionError,
    TransportError,
)
from airflow_provider_eightbyeight.filters import ObjectFilter
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.models import BulkJobStatus, StoredObject
from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.timeutil import parse_api_time

KEY, SECRET = "key-main", "Sup3r-S3cret-Value-0042"
TWO_REGIONS = Account(key="key-two", secret="secret-two", regions=("us-east", "uk"))
READ_ONLY = Account(key="key-ro", secret="secret-ro", can_edit=False)
NO_STORAGE = Account(key="key-nostorage", secret="secret-ns", products=("analytics realtime-api", "vcc"))
REVOKED = Account(key="key-revoked", secret="secret-rv", status="revoked")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=11,
        objects_per_region=40,
        accounts=(Account(key=KEY, secret=SECRET), TWO_REGIONS, READ_ONLY, NO_STORAGE, REVOKED),
        bulk_delay=0.3,
        restore_delay=0.3,
    )


def stdlib_log(hook: EightByEightHook) -> EightByEightHook:
    """Send the hook's log records to a stdlib logger, so caplog sees them at every level."""
    hook._log = logging.getLogger("tests.eightbyeight")  # type: ignore[assignment]
    return hook


def available(emulator: EightByEightEmulator, region: str = "us-east") -> list[dict]:
    return [o for o in emulator.objects(region) if o["objectState"] == "AVAILABLE"]


def created_ms(obj: dict) -> int:
    created = parse_api_time(obj["createdTime"])
    assert created is not None
    return int(created.timestamp() * 1000)


# ---------------------------------------------------------------------------- construction


def test_creating_a_hook_does_no_io_and_reads_the_connection_lazily(emulator, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOT_DEFINED_YET", raising=False)
    hook = EightByEightHook("not_defined_yet")
    assert emulator.stats()["total_requests"] == 0
    assert "not_defined_yet" in repr(hook)
    monkeypatch.setenv("AIRFLOW_CONN_NOT_DEFINED_YET", emulator.connection_uri())
    assert hook.get_regions() == ["us-east"]


def test_connection_from_uri_and_json_env_vars(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BY_URI", emulator.connection_uri(region="us-east"))
    monkeypatch.setenv("AIRFLOW_CONN_BY_JSON", emulator.connection_json(region="us-east"))
    for conn_id in ("by_uri", "by_json"):
        hook = EightByEightHook(conn_id)
        assert hook.settings.api_base_url == emulator.base_url
        assert hook.settings.region == "us-east"
        assert hook.test_connection() == (True, "Authenticated; regions: us-east")


# ---------------------------------------------------------------------------- token


def test_token_is_cached_and_shared_by_hooks_of_one_connection(make_hook, emulator):
    first = make_hook(key=KEY, secret=SECRET)
    first.get_regions()
    first.list_objects(max_objects=5)
    second = EightByEightHook("eightbyeight_default")
    second.list_objects(max_objects=5)
    assert emulator.stats()["token_requests"] == 1
    assert first.stats.token_requests == 1 and second.stats.token_requests == 0


def test_sixteen_threads_starting_at_once_send_one_token_request(make_hook, emulator):
    hooks = [make_hook(key=KEY, secret=SECRET) for _ in range(16)]
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def run(h: EightByEightHook) -> None:
        try:
            barrier.wait()
            h.get_regions()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(h,)) for h in hooks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert emulator.stats()["token_requests"] == 1


def test_token_is_refreshed_before_it_expires(make_hook, emulator):
    emulator.config.token_lifetime = 2  # refresh margin becomes 1 s
    hook = make_hook(key=KEY, secret=SECRET)
    hook.get_regions(refresh=True)
    hook.get_regions(refresh=True)
    assert emulator.stats()["token_requests"] == 1
    time.sleep(1.1)
    hook.get_regions(refresh=True)
    assert emulator.stats()["token_requests"] == 2
    assert hook.stats.token_refreshes_after_401 == 0


def test_token_expiring_mid_run_is_replaced_once_on_401(make_hook, emulator):
    hook = make_hook(key=KEY, secret=SECRET)
    ids = [o.id for o in hook.iter_objects(page_size=10, max_objects=10)]
    emulator.advance_clock(3600)  # every issued token is now expired at the server
    more = [o.id for o in hook.iter_objects(page_size=10)]
    assert ids == more[:10]
    assert hook.stats.token_refreshes_after_401 == 1
    assert emulator.stats()["token_requests"] == 2


# ---------------------------------------------------------------------------- errors with their own messages


@pytest.mark.parametrize(
    ("key", "secret", "error", "pattern"),
    [
        (KEY, "wrong-secret", AuthenticationError, r"rejected the API key and secret .* login \(API key\)"),
        ("no-such-key", SECRET, AuthenticationError, "rejected the API key and secret"),
        (REVOKED.key, REVOKED.secret, AuthenticationError, "revoked"),
        (NO_STORAGE.key, NO_STORAGE.secret, PermissionDeniedError, "Call Recordings & Storage"),
    ],
)
def test_credential_problems_each_have_their_own_message(make_hook, key, secret, error, pattern):
    hook = make_hook(key=key, secret=secret)
    with pytest.raises(error, match=pattern) as info:
        hook.get_regions()
    assert secret not in str(info.value)
    ok, message = hook.test_connection()
    # the same words, without the connection id (the UI's Test button tests a copy under a random id)
    assert not ok and message == str(info.value).replace("connection 'eightbyeight_default'", "this connection")
    assert "eightbyeight_default" not in message


def test_revoked_message_from_the_token_endpoint_is_recognised(make_hook, emulator):
    emulator.add_fault(
        FaultRule(
            kind="status",
            route="token",
            status=401,
            body='{"ErrorCode": "invalid_client", "Error": "Developer App is revoked"}',
            content_type="application/json",
        )
    )
    with pytest.raises(AuthenticationError, match=r"revoked or unapproved.*Create a new key"):
        make_hook(key=KEY, secret=SECRET).get_regions()


def test_unknown_region_lists_the_accounts_regions(make_hook):
    hook = make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    with pytest.raises(RegionError, match=r"'ca' is not one of this account's regions \(us-east, uk\)"):
        hook.list_objects(region="ca")
    with pytest.raises(RegionError, match="not one of"):
        hook.list_objects(region="mars")


def test_unknown_object_is_not_found(hook):
    with pytest.raises(NotFoundError, match=r"HTTP 404 on GET /storage/us-east/v3/objects/nope"):
        hook.get_object("nope")


def test_invalid_fiql_quotes_the_server(hook):
    with pytest.raises(
        InvalidRequestError, match=r"HTTP 400 on GET /storage/us-east/v3/objects\); 8x8 said: Invalid FIQL.+"
    ):
        hook.list_objects("type==(")


def test_read_only_key_cannot_restore_or_delete(make_hook, emulator):
    hook = make_hook(key=READ_ONLY.key, secret=READ_ONLY.secret)
    archived = [o for o in emulator.objects("us-east") if o["objectState"] == "ARCHIVED"]
    assert archived
    with pytest.raises(PermissionDeniedError, match="allowed to edit objects"):
        hook.restore_object(archived[0]["id"])
    with pytest.raises(PermissionDeniedError):
        hook.delete_objects([available(emulator)[0]["id"]])


# ---------------------------------------------------------------------------- regions


def test_single_region_is_discovered(hook):
    assert hook.get_regions() == ["us-east"]
    assert hook.resolve_regions() == ["us-east"]
    assert hook.resolve_region() == "us-east"


def test_several_regions_need_a_choice(make_hook, emulator):
    hook = make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    assert hook.get_regions() == ["us-east", "uk"]
    with pytest.raises(RegionError, match=r"several regions \(us-east, uk\) and none was chosen"):
        hook.resolve_regions()
    assert hook.resolve_regions(all_regions=True) == ["us-east", "uk"]
    assert hook.resolve_regions("uk") == ["uk"]
    found = {o.region for o in hook.iter_objects(all_regions=True)}
    assert found == {"us-east", "uk"}
    ids = sorted(o.id for o in hook.iter_objects(all_regions=True))
    assert ids == sorted(o["id"] for r in ("us-east", "uk") for o in available(emulator, r))


def test_region_precedence(make_hook):
    hook = make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret, region="uk")
    assert hook.resolve_regions() == ["uk"]
    assert hook.resolve_regions("us-east") == ["us-east"]
    assert hook.resolve_regions(all_regions=True) == ["us-east", "uk"]
    hook_arg = make_hook(
        "other",
        key=TWO_REGIONS.key,
        secret=TWO_REGIONS.secret,
        region="uk",
        hook_kwargs={"region": "us-east"},
    )
    assert hook_arg.resolve_regions() == ["us-east"]


def test_test_connection_reports_the_regions(make_hook):
    hook = make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    assert hook.test_connection() == (
        True,
        "Authenticated; regions: us-east, uk. Tasks that name no region search every region of the account "
        "(set Region to limit them to one).",
    )
    wrong = make_hook("wrong_region", key=TWO_REGIONS.key, secret=TWO_REGIONS.secret, region="ap")
    ok, message = wrong.test_connection()
    assert not ok and "'ap' is not one of this account's regions (us-east, uk)" in message


# ---------------------------------------------------------------------------- search


class TestPagination:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(seed=3, objects_per_region=270, accounts=(Account(key=KEY, secret=SECRET),))

    def test_every_id_exactly_once_across_pages(self, make_hook, emulator):
        hook = make_hook(key=KEY, secret=SECRET)
        expected = available(emulator)
        assert len(expected) > 250
        emulator.reset_stats()
        ids = [o.id for o in hook.iter_objects()]
        assert len(ids) == len(set(ids)) == len(expected)
        assert set(ids) == {o["id"] for o in expected}
        assert emulator.stats()["requests"]["search"] == math.ceil(len(expected) / 100)

    def test_sorting_and_small_pages(self, make_hook, emulator):
        hook = make_hook(key=KEY, secret=SECRET)
        objs = list(hook.iter_objects(page_size=7, sort_field="createdTime", sort_direction="DESC"))
        assert len(objs) == len(available(emulator))
        created = [o.created for o in objs]
        assert created == sorted(created, reverse=True)

    def test_all_states_when_asked(self, make_hook, emulator):
        hook = make_hook(key=KEY, secret=SECRET)
        every = list(hook.iter_objects(states=["AVAILABLE", "ARCHIVED", "REVOKED", "PENDING", "DELETED", "FAILED"]))
        assert len(every) == len(emulator.objects("us-east"))
        archived = list(hook.iter_objects(states="ARCHIVED"))
        assert archived and all(o.state == "ARCHIVED" for o in archived)

    def test_max_objects(self, make_hook):
        hook = make_hook(key=KEY, secret=SECRET)
        assert len(list(hook.iter_objects(max_objects=3, page_size=2))) == 3

    def test_objects_added_while_paging_are_not_repeated(self, make_hook, emulator):
        hook = make_hook(key=KEY, secret=SECRET)
        iterator = hook.iter_objects(sort_direction="DESC", page_size=50)
        seen = [next(iterator).id for _ in range(50)]
        newest = datetime(2027, 1, 1, tzinfo=timezone.utc)
        for _ in range(5):  # newer objects shift DESC offsets by five
            emulator.add_object("us-east", created=newest)
        seen += [o.id for o in iterator]
        assert len(seen) == len(set(seen))


def test_bad_search_arguments_are_refused_before_any_request(hook, emulator):
    with pytest.raises(ConfigurationError, match="sort_direction"):
        list(hook.iter_objects(sort_direction="UP"))
    with pytest.raises(ConfigurationError, match="page_size"):
        list(hook.iter_objects(page_size=0))
    with pytest.raises(ConfigurationError, match="Unknown object state"):
        list(hook.iter_objects(states=["GONE"]))
    assert emulator.stats()["total_requests"] == 0


def test_page_size_above_100_is_lowered(hook, emulator, caplog):
    stdlib_log(hook)
    objs = list(hook.iter_objects(page_size=500))
    assert len(objs) == len(available(emulator))
    assert "above 8x8's maximum" in caplog.text


class TestFilters:
    def expected(self, emulator, predicate):
        return sorted(o["id"] for o in available(emulator) if predicate(o))

    def got(self, hook, flt):
        return sorted(o.id for o in hook.iter_objects(flt))

    def test_by_type(self, hook, emulator):
        want = self.expected(emulator, lambda o: o["type"] in ("callrecording", "transcription"))
        assert want
        assert self.got(hook, ObjectFilter(object_types=["callrecording", "transcription"])) == want

    def test_by_time_window(self, hook, emulator):
        times = sorted(created_ms(o) for o in available(emulator))
        start, end = times[len(times) // 4], times[3 * len(times) // 4]
        want = self.expected(emulator, lambda o: start <= created_ms(o) < end)
        assert 0 < len(want) < len(times)
        after = datetime.fromtimestamp(start / 1000, tz=timezone.utc)
        got = self.got(
            hook,
            ObjectFilter(created_after=after, created_before=after + timedelta(milliseconds=end - start)),
        )
        assert got == want

    def test_by_tag(self, hook, emulator):
        want = self.expected(
            emulator, lambda o: any(t["key"] == "direction" and t["value"] == "INBOUND" for t in o["tags"])
        )
        assert want
        assert self.got(hook, ObjectFilter(tags={"direction": "INBOUND"})) == want

    def test_and_or_in_raw_fiql(self, hook, emulator):
        def tag(o, k):
            return next((t["value"] for t in o["tags"] if t["key"] == k), None)

        want = self.expected(
            emulator,
            lambda o: o["type"] == "callrecording" and tag(o, "direction") in ("INBOUND", "OUTBOUND"),
        )
        assert want
        assert self.got(hook, "type==callrecording;(direction==INBOUND,direction==OUTBOUND)") == want
        combined = ObjectFilter(object_types="callrecording", raw="direction==INBOUND,direction==OUTBOUND")
        assert self.got(hook, combined) == want


# ---------------------------------------------------------------------------- content


def test_download_to_path_is_verified_and_atomic(hook, emulator, tmp_path):
    obj = available(emulator)[0]
    target = tmp_path / "out" / "rec.mp3"
    result = hook.download_object(obj["id"], target)
    assert target.read_bytes() == emulator.content(obj["id"])
    assert result.md5 == emulator.md5(obj["id"]) == hashlib.md5(target.read_bytes()).hexdigest()
    assert result.size == obj["storedBytes"] and result.verified
    assert sorted(p.name for p in target.parent.iterdir()) == ["rec.mp3"]


def test_download_from_a_search_result_needs_no_metadata_call(hook, emulator):
    obj = next(hook.iter_objects())
    emulator.reset_stats()
    buffer = io.BytesIO()
    result = hook.download_object(obj, buffer)
    assert buffer.getvalue() == emulator.content(obj.id)
    assert result.verified and result.md5 == obj.md5
    assert emulator.stats()["requests"].get("get_object", 0) == 0
    assert emulator.stats()["requests"]["content"] == 1


def test_download_through_a_presigned_url(hook, emulator, tmp_path):
    obj = available(emulator)[1]
    url = hook.get_presigned_url(obj["id"])
    assert url.startswith(emulator.base_url)
    result = hook.download_object(obj["id"], tmp_path / "p.bin", use_presigned_url=True)
    assert result.verified and (tmp_path / "p.bin").read_bytes() == emulator.content(obj["id"])


@pytest.mark.parametrize("shape", ["url", "presignedUrl", "text", "json-string", "redirect"])
def test_every_presigned_url_shape_is_understood(hook, emulator, shape):
    emulator.config.presign_shape = shape
    obj = available(emulator)[2]
    url = hook.get_presigned_url(obj["id"])
    assert "/_presigned/" in url


@pytest.mark.parametrize("kind", ["corrupt", "truncate", "reset"])
def test_a_bad_body_is_downloaded_again(hook, emulator, tmp_path, kind):
    obj = available(emulator)[3]
    emulator.add_fault(FaultRule(kind=kind, route="content", times=2, after_bytes=100))
    result = hook.download_object(obj["id"], tmp_path / "x.bin")
    assert result.attempts == 3 and result.verified
    assert (tmp_path / "x.bin").read_bytes() == emulator.content(obj["id"])
    assert hook.stats.retries == 2
    assert emulator.stats()["faults_injected"][kind] == 2


def test_corruption_on_every_attempt_fails_and_leaves_nothing(make_hook, emulator, tmp_path):
    hook = make_hook(key=KEY, secret=SECRET, max_retries=2)
    obj = available(emulator)[3]
    emulator.add_fault(FaultRule(kind="corrupt", route="content", after_bytes=10))
    with pytest.raises(IntegrityError, match=rf"Object {obj['id']} failed verification on all 3 attempt"):
        hook.download_object(obj["id"], tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []
    assert emulator.stats()["requests"]["content"] == 3


def test_multipart_checksum_skips_md5_but_checks_size(make_hook, emulator, tmp_path, caplog):
    hook = stdlib_log(make_hook(key=KEY, secret=SECRET))
    obj = StoredObject.from_api(dict(available(emulator)[0], checksum="0" * 32 + "-2"), "us-east")
    caplog.set_level(logging.DEBUG)
    result = hook.download_object(obj, tmp_path / "m.bin")
    assert not result.verified and result.md5 == emulator.md5(obj.id)
    assert "not a plain MD5" in caplog.text
    wrong_size = StoredObject.from_api(dict(obj.raw, storedBytes=(obj.size or 0) + 1), "us-east")
    with pytest.raises(IntegrityError, match="bytes, 8x8 lists"):
        hook.download_object(wrong_size, tmp_path / "m2.bin")
    assert not (tmp_path / "m2.bin").exists()


def test_archived_object_cannot_be_downloaded(hook, emulator, tmp_path):
    archived = next(o for o in emulator.objects("us-east") if o["objectState"] == "ARCHIVED")
    with pytest.raises(ObjectNotAvailableError, match=r"is ARCHIVED.*Restore it first"):
        hook.download_object(archived["id"], tmp_path / "a.bin")
    with pytest.raises(ObjectNotAvailableError):  # without metadata first: 8x8's 4xx, then a re-read
        hook.download_object(archived["id"], tmp_path / "a.bin", verify=False)
    assert not (tmp_path / "a.bin").exists()


# ---------------------------------------------------------------------------- retries


def test_429_and_5xx_are_retried_and_counted(hook, emulator):
    emulator.add_fault(FaultRule(kind="status", route="search", status=429, retry_after=0, times=2))
    emulator.add_fault(FaultRule(kind="status", route="search", status=503, times=1))
    emulator.add_fault(
        FaultRule(
            kind="status",
            route="search",
            status=502,
            times=1,
            body="<html>Bad gateway</html>",
            content_type="text/html",
        )
    )
    assert len(hook.list_objects()) == len(available(emulator))
    assert hook.stats.retries == 4
    assert emulator.stats()["faults_injected"]["status"] == 4


def test_retry_after_is_honoured(hook, emulator):
    emulator.add_fault(FaultRule(kind="status", route="regions", status=429, retry_after=1, times=1))
    hook.settings  # noqa: B018 - read the connection before timing
    started = time.monotonic()
    hook.get_regions()
    assert time.monotonic() - started >= 0.19  # min(Retry-After=1, retry_max_wait=0.2)


def test_retries_are_bounded(make_hook, emulator):
    hook = make_hook(key=KEY, secret=SECRET, max_retries=3)
    hook.get_token()
    emulator.add_fault(FaultRule(kind="status", route="regions", status=503))
    with pytest.raises(ApiError, match=r"failed to answer after 3 retries \(HTTP 503"):
        hook.get_regions()
    assert emulator.stats()["requests"]["regions"] == 4
    emulator.clear_faults()
    emulator.add_fault(FaultRule(kind="status", route="regions", status=429, retry_after=0))
    with pytest.raises(RateLimitError, match="kept rate-limiting"):
        hook.get_regions(refresh=True)


def test_client_errors_are_not_retried(hook, emulator):
    with pytest.raises(NotFoundError):
        hook.get_object("missing")
    assert emulator.stats()["requests"]["get_object"] == 1
    assert hook.stats.retries == 0


def test_token_endpoint_failing_twice_then_recovering(hook, emulator):
    emulator.add_fault(FaultRule(kind="status", route="token", status=500, times=2))
    assert hook.get_regions() == ["us-east"]
    assert emulator.stats()["token_requests"] == 3


def test_connection_errors_are_retried_then_reported(make_hook):
    hook = make_hook("dead", max_retries=1, api_base_url="http://127.0.0.1:9")
    with pytest.raises(
        TransportError, match=r"Could not reach the 8x8 token endpoint at 127.0.0.1:9 .* after 2 attempt"
    ):
        hook.get_regions()


def test_slow_responses_time_out_and_are_retried(make_hook, emulator):
    hook = make_hook(key=KEY, secret=SECRET, timeout=0.3, max_retries=2)
    hook.get_token()
    emulator.add_fault(FaultRule(kind="latency", route="regions", delay=1.0, times=1))
    assert hook.get_regions() == ["us-east"]
    assert hook.stats.retries == 1


# ---------------------------------------------------------------------------- restore, delete, bulk


def test_restore_then_available(hook, emulator):
    archived = next(o for o in emulator.objects("us-east") if o["objectState"] == "ARCHIVED")
    assert hook.restore_object(archived["id"], expiration_days=3) == {"expirationDays": 3}
    assert hook.get_object(archived["id"]).state in ("ARCHIVED", "PENDING")
    time.sleep(0.4)
    assert hook.get_object(archived["id"]).is_available


@pytest.mark.parametrize("days", [0, 11, "7", True, 2.5])
def test_restore_days_are_checked(hook, emulator, days):
    with pytest.raises(ConfigurationError, match="1 to 10"):
        hook.restore_object("x", expiration_days=days)
    assert emulator.stats()["total_requests"] == 0


def test_delete_in_batches(hook, emulator):
    ids = [o["id"] for o in available(emulator)[:7]]
    result = hook.delete_objects(ids + ids[:2], batch_size=3)
    assert result.deleted == tuple(ids) and not result.failed
    assert emulator.stats()["requests"]["delete"] == 3
    assert all(emulator.get(i)["objectState"] == "REVOKED" for i in ids)
    revoked = {o.id for o in hook.iter_objects(states="REVOKED")}
    assert set(ids) <= revoked
    assert hook.delete_objects([]).deleted == ()
    with pytest.raises(ConfigurationError, match="list of ids"):
        hook.delete_objects("abc")


def test_delete_reports_failed_batches_and_continues(hook, emulator):
    ids = [o["id"] for o in available(emulator)[:4]]
    emulator.add_fault(FaultRule(kind="status", route="delete", status=400, times=1))
    result = hook.delete_objects(ids, batch_size=2)
    assert result.deleted == tuple(ids[2:])
    assert set(result.failed) == set(ids[:2]) and "HTTP 400" in result.failed[ids[0]]


def test_bulk_download_round_trip(hook, emulator, tmp_path):
    objs = list(hook.iter_objects(max_objects=6))
    jobs = hook.start_bulk_download(objs)
    assert len(jobs) == 1 and jobs[0].zip_name.endswith(".zip")
    assert not jobs[0].is_terminal
    assert jobs[0].zip_name in {j.zip_name for j in hook.list_bulk_jobs()}
    done = hook.wait_for_bulk_job(jobs[0].zip_name, poll_interval=0.1, timeout=10)
    assert done.status is BulkJobStatus.DONE
    result = hook.download_bulk_zip(done.zip_name, tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert sorted(archive.namelist()) == sorted(o.name for o in objs)
        for o in objs:
            assert hashlib.md5(archive.read(o.name)).hexdigest() == o.md5
    assert result.size == (tmp_path / "b.zip").stat().st_size
    cleared = hook.clear_bulk_jobs()
    assert done.zip_name in {j.zip_name for j in cleared}
    assert hook.list_bulk_jobs() == []


def test_bulk_jobs_are_split_under_the_size_limit(hook, emulator):
    objs = list(hook.iter_objects(max_objects=10))
    limit = sum(o.size or 0 for o in objs) // 3 + max(o.size or 0 for o in objs)
    batches = EightByEightHook.plan_bulk_batches(objs, limit)
    assert len(batches) >= 3
    assert [o.id for b in batches for o in b] == [o.id for o in objs]
    assert all(sum(o.size or 0 for o in b) <= limit for b in batches)
    with pytest.raises(ConfigurationError, match="exceeds"):
        EightByEightHook.plan_bulk_batches(objs, 10)
    jobs = hook.start_bulk_download([o.id for o in objs[:2]])  # ids: sizes read from metadata
    assert len(jobs) == 1


def test_cancelled_bulk_job_is_an_error_when_waited_for(hook):
    objs = list(hook.iter_objects(max_objects=2))
    job = hook.start_bulk_download(objs)[0]
    cancelled = hook.cancel_bulk_job(job.zip_name)
    assert any(j.zip_name == job.zip_name and j.status is BulkJobStatus.CANCELLED for j in cancelled)
    with pytest.raises(BulkJobError, match="ended CANCELLED"):
        hook.wait_for_bulk_job(job.zip_name, poll_interval=0.05, timeout=5)


def test_bulk_zip_before_done_is_an_error(hook, emulator, tmp_path):
    emulator.config.bulk_delay = 30
    job = hook.start_bulk_download(list(hook.iter_objects(max_objects=1)))[0]
    with pytest.raises((BulkJobError, NotFoundError, InvalidRequestError)):
        hook.download_bulk_zip(job.zip_name, tmp_path / "z.zip")
    assert not (tmp_path / "z.zip").exists()
    with pytest.raises(BulkJobError, match="did not finish"):
        hook.wait_for_bulk_job(job.zip_name, poll_interval=0.05, timeout=0.2)
    with pytest.raises(ConfigurationError, match="non-empty list"):
        hook.start_bulk_download([])


# ---------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("via_stdlib", [False, True], ids=["airflow-logging", "stdlib-debug"])
def test_secret_and_tokens_never_reach_logs_or_errors(make_hook, emulator, tmp_path, caplog, capfd, via_stdlib):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(key=KEY, secret=SECRET)
    bad = make_hook("bad", key=KEY, secret=SECRET + "x")
    if via_stdlib:
        stdlib_log(hook)
        stdlib_log(bad)
    texts: list[str] = []
    emulator.add_fault(FaultRule(kind="status", route="search", status=503, times=1))
    hook.list_objects(max_objects=3)
    emulator.advance_clock(3600)
    hook.download_object(available(emulator)[0]["id"], tmp_path / "f.bin")
    for call in (
        lambda: hook.get_object("missing"),
        lambda: hook.list_objects("type==("),
        bad.get_regions,
    ):
        with pytest.raises(Exception) as info:
            call()
        texts.append(str(info.value))
        texts.append(repr(info.value))
    texts.append(bad.test_connection()[1])
    texts.append(caplog.text)
    captured = capfd.readouterr()
    texts.append(captured.out + captured.err)
    texts.append(repr(hook) + repr(hook.settings) + repr(hook.stats))
    assert "retry 1/5" in "".join(texts)  # the logs were captured at all
    tokens = list(emulator.store.tokens)
    assert len(tokens) >= 2
    blob = "\n".join(texts)
    assert SECRET not in blob
    for token in tokens:
        assert token not in blob


@pytest.mark.parametrize(
    ("shape", "mode"),
    [("list", "offset"), ("object", "page"), ("list", "page")],
    ids=["list-of-pages", "page-numbers", "both"],
)
def test_older_response_shapes_and_page_numbers(make_hook, emulator, shape, mode):
    emulator.config.search_shape = shape
    emulator.config.page_key_mode = mode
    hook = make_hook(key=KEY, secret=SECRET)
    ids = [o.id for o in hook.iter_objects(page_size=7)]
    assert len(ids) == len(set(ids)) == len(available(emulator))
    assert emulator.stats()["requests"]["search"] == math.ceil(len(ids) / 7)


def test_discovery_through_a_region_the_service_lacks_falls_back_without_recursion(make_hook):
    from airflow_provider_eightbyeight.testing import EightByEightEmulator

    only_us_east = EmulatorConfig(seed=2, objects_per_region=3, regions=("us-east",))
    with EightByEightEmulator(only_us_east) as emu:
        hook = make_hook("narrow", key=emu.key, secret=emu.secret, api_base_url=emu.base_url)
        assert hook.get_regions() == ["us-east"]  # us-west answered 404, us-east answered
        assert emu.stats()["requests"]["regions"] == 2
        assert len(hook.list_objects()) == len(emu.objects("us-east", states="AVAILABLE"))
    nowhere = EmulatorConfig(seed=2, objects_per_region=1, regions=("ca",), accounts=(Account(regions=("ca",)),))
    with EightByEightEmulator(nowhere) as emu:
        emu.add_fault(FaultRule(kind="status", route="regions", status=404))
        hook = make_hook("nowhere", key=emu.key, secret=emu.secret, api_base_url=emu.base_url)
        with pytest.raises(RegionError, match=r"Could not discover .* us-west, us-east, uk, ap, ca.*region extra"):
            hook.get_regions()
        with pytest.raises(NotFoundError):  # a 404 elsewhere while discovery fails: no recursion either
            hook.get_object("x", region="ca")


def test_deletes_report_only_what_8x8_confirms(hook, emulator):
    """Unknown ids are not found, and a success answer that deleted nothing is not a delete (issue 8 #9)."""
    ids = [o["id"] for o in available(emulator)[:3]]
    result = hook.delete_objects([*ids, "no-such-object"])
    assert set(result.deleted) == set(ids) and result.not_found == ("no-such-object",) and not result.failed
    survivor = available(emulator)[0]["id"]
    emulator.add_fault(FaultRule(kind="status", route="delete", status=204, times=1))  # answers, deletes nothing
    result = hook.delete_objects([survivor])
    assert result.deleted == () and "still AVAILABLE" in result.failed[survivor]
    assert emulator.get(survivor)["objectState"] == "AVAILABLE"


def test_get_objects_reads_many_ids_in_any_state(hook, emulator):
    objs = emulator.objects("us-east") + [emulator.add_object("us-east", size=100) for _ in range(120)]
    emulator.set_object_state(objs[0]["id"], "REVOKED")
    found = hook.get_objects([o["id"] for o in objs] + ["unknown-id"], region="us-east")
    assert set(found) == {o["id"] for o in objs} and found[objs[0]["id"]].state == "REVOKED"
    assert emulator.stats()["requests"]["search"] == -(-(len(objs) + 1) // 100)  # 100 ids per search


def test_delete_operator_finds_each_ids_region_and_reports_unknown_ids(make_hook, emulator):
    """With object_ids and no region, each id is deleted in its own region; unknown ids are not found."""
    from airflow_provider_eightbyeight.operators import EightByEightDeleteObjectsOperator

    make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    east = emulator.objects("us-east", states="AVAILABLE")[0]["id"]
    uk = emulator.objects("uk", states="AVAILABLE")[0]["id"]
    op = EightByEightDeleteObjectsOperator(task_id="d", object_ids=[east, uk, "no-such-id"], fail_on_error=False)
    result = op.execute({})
    assert sorted(result["deleted"]) == sorted([east, uk]) and result["not_found"] == ["no-such-id"]
    assert emulator.get(east)["objectState"] == emulator.get(uk)["objectState"] == "REVOKED"
    with pytest.raises(EightByEightError, match="no-such-id: not found"):
        EightByEightDeleteObjectsOperator(task_id="d2", object_ids=["no-such-id"]).execute({})


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_search_yields_every_object_once_whatever_the_tie_order(hook, emulator, direction):
    """Ties (same createdTime) come back in a new order per request: keyset paging misses and repeats none."""
    from datetime import datetime, timezone

    assert emulator.config.unstable_ties
    seconds = [datetime(2027, 3, 1, 12, 0, s, tzinfo=timezone.utc) for s in range(3)]
    added = [emulator.add_object("us-east", type="meeting", created=seconds[i % 3])["id"] for i in range(150)]
    added += [emulator.add_object("us-east", type="meeting", created=seconds[0])["id"] for _ in range(120)]  # > a page
    got = [o.id for o in hook.iter_objects("type==meeting", sort_direction=direction, page_size=25)]
    want = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if o["type"] == "meeting"}
    assert len(got) == len(set(got)) and set(got) == want and set(added) <= want


def test_objects_added_while_paging_repeat_and_hide_nothing(hook, emulator):
    from datetime import datetime, timezone

    start = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE")}
    found = hook.iter_objects(page_size=10)
    seen = [next(found).id for _ in range(15)]
    newer = emulator.add_object("us-east", created=datetime(2027, 6, 1, tzinfo=timezone.utc))["id"]
    older = emulator.add_object("us-east", created=datetime(2020, 1, 1, tzinfo=timezone.utc))["id"]
    seen += [o.id for o in found]
    assert len(seen) == len(set(seen))
    assert start <= set(seen) and newer in seen  # every object that existed at the start, and a later one
    assert set(seen) <= start | {newer, older}


def test_a_rotated_secret_is_picked_up_from_the_connection(make_hook, emulator, monkeypatch):
    """8x8 refuses the old secret; the hook reads the connection again and goes on with the new one."""
    hook = make_hook(key=KEY, secret=SECRET)
    assert hook.get_regions(refresh=True)
    rotated = Account(key=KEY, secret="rotated-secret-value")
    emulator.store.accounts[KEY] = rotated  # the key's secret is rotated in Admin Console...
    emulator.revoke_tokens()
    make_hook(key=KEY, secret=rotated.secret)  # ...and in the Airflow connection (same conn id)
    assert hook.get_regions(refresh=True) == list(rotated.regions)
    assert hook.settings.secret == rotated.secret


@pytest.mark.parametrize("region", [None, "all", ["us-east", "uk"]])
def test_transfer_of_explicit_ids_finds_each_ids_region(make_hook, emulator, tmp_path, region):
    from airflow_provider_eightbyeight.operators import EightByEightTransferOperator

    make_hook(key=TWO_REGIONS.key, secret=TWO_REGIONS.secret)
    east = emulator.objects("us-east", states="AVAILABLE")[0]["id"]
    uk = emulator.objects("uk", states="AVAILABLE")[0]["id"]
    op = EightByEightTransferOperator(
        task_id="t",
        destination=tmp_path.as_uri(),
        object_ids=[east, uk, "no-such-id"],
        region=region,
        fail_on_error=False,
    )
    summary = op.execute({})
    assert summary["copied"] == 2 and summary["failed"] == 1 and "not found" in summary["failures"]["no-such-id"]


def test_a_refused_download_of_an_available_object_is_retried_once_and_the_line_gives_the_status(
    hook, emulator, tmp_path, caplog
):
    """8x8 refused the content (HTTP 403) though the object reads AVAILABLE: one retry, its line says HTTP 403."""
    stdlib_log(hook)
    obj = available(emulator)[0]
    emulator.add_fault(FaultRule(kind="status", route="content", status=403, times=1))
    with caplog.at_level(logging.WARNING, logger="tests.eightbyeight"):
        result = hook.download_object(obj["id"], tmp_path / "o.bin")
    assert result.size == (tmp_path / "o.bin").stat().st_size > 0
    [line] = [r.getMessage() for r in caplog.records if "retry 1/" in r.getMessage()]
    assert "(HTTP 403, refused while the object is AVAILABLE)" in line, line


def test_bulk_jobs_never_hold_one_name_twice_nor_too_many_objects():
    """A zip's entries are objectNames: two objects of one name go to different jobs (the run's rule too)."""
    from airflow_provider_eightbyeight import batching

    same = [StoredObject(id=f"o{i}", name="call.mp3", size=10) for i in range(3)]
    other = StoredObject(id="x", name="other.mp3", size=10)
    batches = EightByEightHook.plan_bulk_batches([same[0], other, same[1], same[2]], 1000)
    assert [[o.id for o in b] for b in batches] == [["o0", "x"], ["o1"], ["o2"]]
    unnamed = [StoredObject(id=f"u{i}", size=1) for i in range(5)]  # no name: the id names the entry
    assert [len(b) for b in EightByEightHook.plan_bulk_batches(unnamed, 1000)] == [5]
    many = [StoredObject(id=f"m{i}", name=f"m{i}.mp3", size=1) for i in range(batching.BULK_MAX_OBJECTS + 1)]
    assert [len(b) for b in EightByEightHook.plan_bulk_batches(many, 10**9)] == [batching.BULK_MAX_OBJECTS, 1]
