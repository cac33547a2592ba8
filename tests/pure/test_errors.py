"""
Errors that name the place and the fix: fail-fast classes (no task retries for a wrong secret), unreachable 8x8
named by host:port and the setting it came from, trigger events raised as the class the trigger saw.
"""

from __future__ import annotations

import json
import pickle
import socket
from typing import Any

import pytest

from airflow_provider_eightbyeight import errors
from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS, AirflowFailException
from airflow_provider_eightbyeight.connection import ConnectionSettings, host_and_port
from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    NotRetryableError,
    ObjectNotAvailableError,
    PermissionDeniedError,
    ProxyRefusedError,
    RateLimitError,
    RegionError,
    TLSVerificationError,
    TransportError,
    error_from_event,
)
from airflow_provider_eightbyeight.hooks.eightbyeight import TEST_RETRIES
from tests.helpers import FAST_RETRY_EXTRAS, dagbag

FAIL_FAST = (AuthenticationError, PermissionDeniedError, ConfigurationError, TLSVerificationError,
             ProxyRefusedError, RegionError)  # fmt: skip
RETRIED = (TransportError, ApiError, RateLimitError, IntegrityError, ObjectNotAvailableError, EightByEightError)


@pytest.mark.parametrize("cls", FAIL_FAST)
def test_errors_no_retry_can_cure_fail_the_task_at_once(cls: type[EightByEightError]) -> None:
    err = cls("8x8 rejected the key", status=401, hint="Check the secret")
    assert isinstance(err, AirflowFailException) and isinstance(err, NotRetryableError)
    assert "Check the secret" in str(err) and "HTTP 401" in str(err)  # the hint is kept
    again = pickle.loads(pickle.dumps(err))  # as a deferred task's error crosses processes
    assert type(again) is cls and str(again) == str(err)


@pytest.mark.parametrize("cls", RETRIED)
def test_transient_errors_leave_the_task_its_retries(cls: type[EightByEightError]) -> None:
    assert not isinstance(cls("x"), AirflowFailException)


def test_a_wrong_secret_is_not_retried_and_says_8x8_does_not_tell_key_from_secret(make_hook) -> None:
    hook = make_hook("wrong", secret="not-the-secret")
    with pytest.raises(AuthenticationError) as caught:
        hook.get_regions()
    assert isinstance(caught.value, AirflowFailException)
    assert "8x8 answers the same for a wrong key and a wrong secret" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("extras", "origin"),
    [
        ({"api_base_url": "http://127.0.0.1:{port}"}, "the connection's api_base_url extra; oauth_url unset"),
        ({"oauth_url": "http://127.0.0.1:{port}/oauth/v2/token"}, "the connection's oauth_url extra"),
    ],
)
def test_an_unreachable_token_endpoint_is_named_with_the_setting_it_came_from(make_hook, extras, origin) -> None:
    port = _closed_port()
    hook = make_hook("dead", max_retries=1, **{k: v.format(port=port) for k, v in extras.items()})
    with pytest.raises(TransportError) as caught:
        hook.get_regions()
    message = str(caught.value)
    assert f"at 127.0.0.1:{port} (from {origin}) after 2 attempt(s)" in message, message
    assert "Check that host and port" in message


def test_an_unreachable_api_is_named_with_the_setting_it_came_from(make_hook, emulator) -> None:
    port = _closed_port()
    hook = make_hook("api-dead", max_retries=1, api_base_url=f"http://127.0.0.1:{port}", oauth_url=emulator.token_url)
    with pytest.raises(TransportError) as caught:
        hook.get_regions()
    assert f"at 127.0.0.1:{port} (from the connection's api_base_url extra) after 2 attempt(s)" in str(caught.value)


def test_the_connection_test_of_an_unreachable_url_answers_after_few_attempts(make_hook) -> None:
    port = _closed_port()
    hook = make_hook("dead-test", max_retries=8, api_base_url=f"http://127.0.0.1:{port}")
    ok, message = hook.test_connection()
    assert not ok
    assert f"127.0.0.1:{port} (from the connection's api_base_url extra; oauth_url unset)" in message, message
    assert f"after {TEST_RETRIES + 1} attempt(s)" in message, message
    assert hook.retry_policy.max_retries == 8  # the task's own schedule is untouched


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.8x8.com", "api.8x8.com:443"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("http://localhost/oauth", "localhost:80"),
        ("https://[::1]:9443/", "[::1]:9443"),
        ("https://host:notaport/", "host:443"),
    ],
)
def test_host_and_port(url: str, expected: str) -> None:
    assert host_and_port(url) == expected


@pytest.mark.parametrize(
    ("settings", "url", "origin"),
    [
        ({}, "https://api.8x8.com/storage/us-east/v3/objects", "the default api_base_url"),
        ({}, "https://api.8x8.com/oauth/v2/token", "the default api_base_url; oauth_url unset"),
        ({"host": "eu.example"}, "https://eu.example/storage", "the connection's Host field"),
        (
            {"extra": {"token_url": "https://t.example/tok"}},
            "https://t.example/tok",
            "the connection's token_url extra",
        ),
        ({}, "https://s3.example/presigned?x=1", "a URL 8x8 sent"),
    ],
)
def test_url_origin(settings: dict[str, Any], url: str, origin: str) -> None:
    class Conn:
        conn_id, login, password, port = "c", "key", "secret", None
        host = settings.get("host")
        extra_dejson = settings.get("extra", {})

    parsed = ConnectionSettings.from_connection(Conn())
    assert parsed.url_origin(url).endswith(f"(from {origin})"), parsed.url_origin(url)


@pytest.mark.parametrize(
    ("event", "cls", "text"),
    [
        ({"error_type": "AuthenticationError", "message": "8x8 rejected"}, AuthenticationError, "8x8 rejected"),
        ({"error_type": "TransportError", "message": "unreachable"}, TransportError, "unreachable"),
        ({"error_type": "KeyError", "message": "boom"}, EightByEightError, "boom"),  # not one of ours
        ({"error_type": "error_from_event", "message": "x"}, EightByEightError, "x"),  # a function, not a class
        ({"error_type": ["AuthenticationError"], "message": "x"}, EightByEightError, "x"),
        ({"error_type": "AuthenticationError", "message": {"a": 1}}, AuthenticationError, "no reason given"),
        ({"message": "  spaced\n out "}, EightByEightError, "spaced out"),
        ({}, EightByEightError, "no reason given"),
    ],
)
def test_a_trigger_error_event_raises_the_class_the_trigger_saw(event, cls, text) -> None:
    err = error_from_event(event, "Waiting failed")
    assert type(err) is cls
    assert str(err) == f"Waiting failed: {text}"


def test_a_trigger_error_event_message_is_cut() -> None:
    err = error_from_event({"message": "x" * 10_000}, "Waiting failed")
    assert len(str(err)) == len("Waiting failed: ") + errors.MAX_EVENT_MESSAGE


def test_the_deferred_sensor_fails_fast_on_the_triggers_authentication_error() -> None:
    from airflow_provider_eightbyeight.sensors.eightbyeight import EightByEightObjectsSensor

    sensor = EightByEightObjectsSensor(task_id="wait", deferrable=True)
    event = {"status": "error", "message": "8x8 rejected the API key", "error_type": "AuthenticationError"}
    with pytest.raises(AuthenticationError, match="Waiting for 8x8 objects failed: 8x8 rejected") as caught:
        sensor.execute_complete({}, event)
    assert isinstance(caught.value, AirflowFailException)


def test_the_deferred_restore_fails_fast_on_the_triggers_permission_error() -> None:
    from airflow_provider_eightbyeight.operators.manage import EightByEightRestoreObjectsOperator

    restore = EightByEightRestoreObjectsOperator(task_id="restore", deferrable=True)
    event = {"status": "error", "message": "not allowed", "error_type": "PermissionDeniedError"}
    with pytest.raises(PermissionDeniedError, match="Restore did not complete: not allowed"):
        restore.execute_complete({}, event, restored=[])


_WRONG_SECRET_DAG = """
from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_eightbyeight.operators.list_objects import EightByEightListObjectsOperator

with DAG("fail_fast_wrong_secret", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    EightByEightListObjectsOperator(
        task_id="list", eightbyeight_conn_id="eightbyeight_wrong", retries=2, retry_delay=timedelta(seconds=0)
    )
"""


@pytest.mark.dagrun
def test_a_task_with_retries_tries_a_wrong_secret_once(airflow_db, emulator, monkeypatch, tmp_path) -> None:
    """In a real DAG run: ``retries=2`` and a wrong secret end in one failed try, not three."""
    wrong = {**json.loads(emulator.connection_json(**FAST_RETRY_EXTRAS)), "password": "wrong-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_EIGHTBYEIGHT_WRONG", json.dumps(wrong))
    (tmp_path / "fail_fast.py").write_text(_WRONG_SECRET_DAG)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    bundles = [{"name": "fail-fast", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(tmp_path), "refresh_interval": 0}}]  # fmt: skip
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))  # dag.test() syncs it
    bag = dagbag(dag_folder=str(tmp_path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("fail_fast_wrong_secret")
    if not AIRFLOW_V_3_0_PLUS:
        dag.sync_to_db()
    run = dag.test()
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == "list"]
    assert str(ti.state).lower().endswith("failed"), ti.state
    assert ti.try_number == 1
