"""
Enterprise networks: the hook through a real forward proxy (Debian's tinyproxy, CONNECT) to the emulator over
HTTPS with a private CA; proxy credentials, NO_PROXY, the environment's CA bundle, a wrong CA, verify=false,
what the Test button says, and that no secret is ever written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError, ProxyRefusedError, TLSVerificationError
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from tests.conftest import WATCHED
from tests.helpers import DAY, FAST_RETRY_EXTRAS, files_under, in_window
from tests.proxy import NEEDS_TINYPROXY, Tinyproxy

pytestmark = NEEDS_TINYPROXY

USER, PROXY_PASSWORD = "airflow", "proxy-pw-7f3a9c2e41"
WATCHED.add(PROXY_PASSWORD)  # the suite's secret scan fails the session if it is written anywhere


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=21, objects_per_region=70, tls=True)  # the example DAGs' day has recordings


@pytest.fixture
def auth_proxy() -> Iterator[Tinyproxy]:
    server = Tinyproxy(USER, PROXY_PASSWORD)
    yield server
    server.stop()


def port_of(emulator: EightByEightEmulator) -> int:
    return int(emulator.base_url.rsplit(":", 1)[1])


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_a_dag_run_copies_through_the_proxy_from_the_tls_emulator_with_a_private_ca(
    run_dag: Any, emulator: EightByEightEmulator, proxy: Tinyproxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert emulator.base_url.startswith("https://")
    monkeypatch.setenv(
        "AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT",
        emulator.connection_json(proxy=proxy.url, ca_bundle=emulator.ca_path, timeout=10, **FAST_RETRY_EXTRAS),
    )
    types = {"callrecording", "callcenterrecording", "transcription"}
    expected = {o["id"] for o in emulator.objects("us-east", states="AVAILABLE") if in_window(o, types)}
    dest = tmp_path / "daily"
    run = run_dag(
        "example_eightbyeight_daily_export", logical_date=DAY, variables={"eightbyeight_destination": dest.as_uri()}
    )
    assert run.state == "success"
    copied = files_under(dest)
    assert expected and set(copied) == expected
    assert all(md5(copied[i].read_bytes()) == md5(emulator.content(i)) for i in expected)  # verified
    assert proxy.tunnels(port_of(emulator)) >= 1, proxy.log()[-2000:]  # 8x8 was reached through the proxy
    assert "CONNECT" in proxy.log() and "GET https://" not in proxy.log()  # tunnels only: TLS end to end


def test_proxy_credentials_from_the_extras_work_and_wrong_ones_are_named_without_the_password(
    make_hook: Any, emulator: EightByEightEmulator, auth_proxy: Tinyproxy
) -> None:
    proxy_url = f"http://{USER}@127.0.0.1:{auth_proxy.port}"
    hook = make_hook(proxy=proxy_url, proxy_password=PROXY_PASSWORD, ca_bundle=emulator.ca_path)
    assert hook.get_regions() == ["us-east"] and auth_proxy.tunnels(port_of(emulator)) >= 1
    ok, message = hook.test_connection()
    assert ok and f"through the proxy http://{USER}:***@127.0.0.1:{auth_proxy.port}" in message
    assert PROXY_PASSWORD not in message
    wrong = make_hook("wrong_proxy", proxy=proxy_url, proxy_password="not-the-password", ca_bundle=emulator.ca_path)
    with pytest.raises(ProxyRefusedError, match="refused our credentials") as err:
        wrong.get_regions(refresh=True)  # (a token for these credentials is cached already)
    assert "proxy_password" in str(err.value) and "not-the-password" not in str(err.value)
    ok, message = wrong.test_connection()
    assert not ok and "refused our credentials" in message and "not-the-password" not in message


def test_the_environment_proxy_is_used_and_no_proxy_bypasses_it(
    make_hook: Any, emulator: EightByEightEmulator, proxy: Tinyproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = port_of(emulator)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    via_env = make_hook(ca_bundle=emulator.ca_path)
    via_env.get_regions()
    assert proxy.tunnels(port) >= 1
    before = proxy.tunnels(port)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    bypass = make_hook("bypass", ca_bundle=emulator.ca_path)
    bypass.get_regions()
    list(bypass.iter_objects(max_objects=3))
    assert proxy.tunnels(port) == before  # NO_PROXY: straight to 8x8
    monkeypatch.delenv("NO_PROXY")
    direct = make_hook("direct", proxy="direct", ca_bundle=emulator.ca_path)  # the extra beats the environment
    direct.get_regions()
    assert proxy.tunnels(port) == before


def test_content_downloads_and_presigned_urls_go_through_the_proxy(
    make_hook: Any, emulator: EightByEightEmulator, proxy: Tinyproxy, tmp_path: Path
) -> None:
    hook = make_hook(proxy=proxy.url, ca_bundle=emulator.ca_path)
    obj = next(hook.iter_objects(max_objects=1))
    before = proxy.tunnels(port_of(emulator))
    hook.close()  # new connections from here: each must tunnel
    plain = hook.download_object(obj.id, tmp_path / "a.bin", region=obj.region)
    signed = hook.download_object(obj.id, tmp_path / "b.bin", region=obj.region, use_presigned_url=True)
    assert plain.md5 == signed.md5 == md5(emulator.content(obj.id))
    assert proxy.tunnels(port_of(emulator)) > before


def test_the_environments_ca_bundle_is_trusted_and_the_extra_wins(
    make_hook: Any, emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_path))
    assert make_hook().get_regions() == ["us-east"]
    wrong = make_hook("extra_wins", ca_bundle=emulator.other_ca_path)
    with pytest.raises(TLSVerificationError):
        wrong.get_regions()


def test_a_wrong_ca_fails_at_once_naming_the_certificate_problem_and_the_fix(
    make_hook: Any, emulator: EightByEightEmulator, proxy: Tinyproxy
) -> None:
    hook = make_hook(proxy=proxy.url, ca_bundle=emulator.other_ca_path)
    with pytest.raises(TLSVerificationError) as err:
        hook.get_token()
    text = str(err.value)
    assert "TLS certificate of 127.0.0.1 was not accepted" in text and "certificate verify failed" in text
    assert "ca_bundle" in text and str(emulator.other_ca_path) in text and "through the proxy" in text
    assert hook.stats.as_dict().get("retries", 0) == 0  # no retry can fix a certificate
    ok, message = hook.test_connection()
    assert not ok and "not accepted" in message and "ca_bundle" in message
    no_ca = make_hook("standard_cas")  # the standard CAs do not know the private one
    with pytest.raises(TLSVerificationError, match="trusts the standard CAs"):
        no_ca.get_regions()


def test_verify_false_works_and_warns(
    make_hook: Any, emulator: EightByEightEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_eightbyeight.hooks.network")
    hook = make_hook(verify=False)
    assert hook.get_regions() == ["us-east"]
    assert any("TLS certificate checks are OFF" in r.getMessage() for r in caplog.records)
    ok, message = hook.test_connection()
    assert ok and "without checking TLS certificates" in message


@pytest.mark.parametrize(
    ("extras", "words"),
    [
        ({"ca_bundle": "/no/such/ca.pem"}, "the ca_bundle extra names '/no/such/ca.pem', which is not a file"),
        ({"client_cert": "/no/such/cert.pem"}, "the client_cert extra names '/no/such/cert.pem'"),
        ({"client_key": "/tmp"}, "has a client_key but no client_cert"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "proxy must be an http:// or https:// proxy URL"),
        ({"proxy_password": "x-secret-x"}, "has a proxy_password but no proxy"),
        ({"proxy": "http://127.0.0.1:3128", "proxy_password": "x-secret-x"}, "its proxy URL names no user"),
        ({"verify": "sometimes"}, "verify must be true or false"),
    ],
)
def test_bad_network_extras_get_a_clear_error(make_hook: Any, extras: dict[str, Any], words: str) -> None:
    hook = make_hook("bad_network", **extras)
    with pytest.raises(ConfigurationError) as err:
        hook.get_token()
    assert words in str(err.value)
    assert "x-secret-x" not in str(err.value)


def test_the_environments_missing_ca_bundle_is_named(make_hook: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/no/such/bundle.pem")
    with pytest.raises(ConfigurationError, match="environment variable REQUESTS_CA_BUNDLE names"):
        make_hook().get_token()


def test_the_network_extras_have_labelled_form_fields() -> None:
    from airflow_provider_eightbyeight.get_provider_info import get_provider_info

    [conn] = get_provider_info()["connection-types"]
    fields = conn["conn-fields"]
    for name in ("proxy", "proxy_password", "ca_bundle", "verify", "client_cert", "client_key"):
        assert fields[name]["label"] and fields[name]["description"], name
    assert fields["proxy_password"]["schema"]["format"] == "password"
    assert json.dumps(fields)  # JSON for the UI


def test_the_proxy_password_is_masked_in_airflow_logs(make_hook: Any, auth_proxy: Tinyproxy) -> None:
    from airflow.providers.common.compat.sdk import redact

    hook = make_hook(proxy=f"http://{USER}@127.0.0.1:{auth_proxy.port}", proxy_password=PROXY_PASSWORD)
    _ = hook.network
    assert PROXY_PASSWORD not in str(redact(f"proxy login with {PROXY_PASSWORD}"))
    assert EightByEightHook  # the hook module is the one the masker is fed from
