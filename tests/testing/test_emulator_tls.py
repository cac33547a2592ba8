"""The emulator's HTTPS mode over real TLS on loopback: the throwaway CA, the certificate, trust and
distrust, a failed handshake, the https URLs it hands out, the CLI's ``--tls``."""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import airflow_provider_eightbyeight.testing as testing_pkg
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from airflow_provider_eightbyeight.testing.tls import issue_server_cert, make_ca

FORM = {"grant_type": "client_credentials"}
REPO_ROOT = Path(testing_pkg.__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default verification must mean the system store, whatever the environment says (and requests lets
    ``REQUESTS_CA_BUNDLE`` override ``Session.verify``, so ``trusted_session`` needs it unset)."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[EightByEightEmulator]:
    cfg = EmulatorConfig(seed=3, objects_per_region=12, archived_fraction=0, revoked_fraction=0, bulk_delay=0)
    with EightByEightEmulator(cfg, tls=True) as emulator:
        yield emulator


def trusted_session(emu: EightByEightEmulator) -> requests.Session:
    s = requests.Session()
    s.verify = emu.ca_path  # type: ignore[assignment]
    resp = s.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=5)
    assert resp.status_code == 200, resp.text
    s.headers["Authorization"] = "Bearer " + resp.json()["access_token"]
    return s


def load_cert(path: str | None) -> x509.Certificate:
    assert path is not None
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def health(emu: EightByEightEmulator, **kw: object) -> requests.Response:
    return requests.get(emu.base_url + "/_emulator/health", timeout=5, **kw)  # type: ignore[arg-type]


# -- trust ----------------------------------------------------------------------------------------
def test_token_and_search_page_with_the_ca(emu):
    assert emu.base_url.startswith("https://127.0.0.1:") and emu.token_url.startswith("https://")
    assert emu.storage_url("us-east").startswith("https://")
    assert emu.ca_path and Path(emu.ca_path).name == "ca.pem"
    s = trusted_session(emu)
    page = s.get(emu.storage_url("us-east") + "/objects", params={"limit": 5}, timeout=5)
    assert page.status_code == 200
    body = page.json()
    assert len(body["content"]) == 5 and body["total"] == 12


def test_localhost_name_and_strict_x509_verification(emu):
    port = urlsplit(emu.base_url).port
    assert health(emu, verify=emu.ca_path).json() == {"status": "ok"}
    assert requests.get(f"https://localhost:{port}/_emulator/health", verify=emu.ca_path, timeout=5).ok
    ctx = ssl.create_default_context(cafile=emu.ca_path)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: needs AKI/SKI, critical CA basics
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", "/_emulator/health")
        first = conn.getresponse()
        assert first.status == 200 and json.loads(first.read()) == {"status": "ok"}
        sock = conn.sock
        conn.request("GET", "/_emulator/health")  # keep-alive: the same TLS connection
        second = conn.getresponse()
        assert second.status == 200 and second.read()
        assert conn.sock is sock
    finally:
        conn.close()


def test_default_verification_fails(emu):
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        health(emu)
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(emu.token_url, auth=(emu.key, emu.secret), data=FORM, timeout=5)


def test_other_ca_fails(emu, tmp_path):
    assert emu.other_ca_path and emu.other_ca_path != emu.ca_path and Path(emu.other_ca_path).is_file()
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        health(emu, verify=emu.other_ca_path)
    wrong = make_ca(tmp_path)  # a wrong CA made by hand
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        health(emu, verify=str(wrong.cert_path))
    assert health(emu, verify=emu.ca_path).ok


def test_certificates(emu):
    now = datetime.now(timezone.utc)
    ca, other, server = load_cert(emu.ca_path), load_cert(emu.other_ca_path), load_cert(emu.server_cert_path)
    # the server presents exactly server.pem
    presented = ssl.get_server_certificate(("127.0.0.1", urlsplit(emu.base_url).port), timeout=5)
    assert x509.load_pem_x509_certificate(presented.encode()) == server
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert now < server.not_valid_after_utc <= now + timedelta(days=2, minutes=1)
    assert server.not_valid_before_utc <= now
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    server.verify_directly_issued_by(ca)
    with pytest.raises((ValueError, TypeError)):
        server.verify_directly_issued_by(other)
    for authority in (ca, other):
        assert authority.issuer == authority.subject
        assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
        assert authority.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
        assert now < authority.not_valid_after_utc
    assert ca.subject != other.subject
    assert "PRIVATE KEY" not in Path(emu.ca_path).read_text()  # ca.pem: the certificate only


def test_helpers_issue_a_certificate_for_other_hosts(tmp_path):
    ca = make_ca(tmp_path, filename="mine.pem", days=1)
    cert = issue_server_cert(ca, tmp_path, hosts=("::1", "emulator.test"), stem="mine-server")
    assert cert.cert_path.is_file() and cert.key_path.is_file() and (cert.key_path.stat().st_mode & 0o077) == 0
    san = cert.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("::1")]
    assert san.get_values_for_type(x509.DNSName) == ["emulator.test"]
    cert.cert.verify_directly_issued_by(ca.cert)


# -- a client that fails the handshake ------------------------------------------------------------
def test_failed_handshakes_do_not_stop_the_server(emu, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_eightbyeight.testing.server")
    port = urlsplit(emu.base_url).port
    with pytest.raises(requests.exceptions.SSLError):
        health(emu)  # does not trust the CA
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=5)  # plain HTTP to the TLS port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as junk:
        junk.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello
        junk.recv(1024)
    stalled = socket.create_connection(("127.0.0.1", port), timeout=5)  # connects, never says hello
    try:
        started = time.monotonic()
        s = trusted_session(emu)
        assert s.get(emu.storage_url("us-east") + "/objects", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.5
    finally:
        stalled.close()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and sum("TLS handshake" in r.getMessage() for r in caplog.records) < 3:
        time.sleep(0.02)
    assert sum("TLS handshake" in r.getMessage() for r in caplog.records) >= 3


def test_stop_is_prompt_with_a_stalled_handshake():
    emu = EightByEightEmulator(EmulatorConfig(objects_per_region=1), tls=True).start()
    folder = Path(emu.ca_path).parent  # type: ignore[arg-type]
    stalled = socket.create_connection(("127.0.0.1", urlsplit(emu.base_url).port), timeout=5)
    try:
        time.sleep(0.1)  # the handler thread is in the handshake
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 1.5
        assert not folder.exists()  # the temporary folder is removed on stop
    finally:
        stalled.close()


def test_stream_faults_over_tls(emu):
    from airflow_provider_eightbyeight.testing import FaultRule

    s = trusted_session(emu)
    obj = emu.add_object("us-east", size=300_000)
    url = emu.storage_url("us-east") + f"/objects/{obj['id']}/content"
    for kind in ("reset", "truncate"):
        emu.add_fault(FaultRule(kind=kind, route="content", after_bytes=1000, times=1))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            s.get(url, timeout=5)
        assert s.get(url, timeout=5).content == emu.content(obj["id"])


# -- absolute URLs the emulator hands out ---------------------------------------------------------
def test_presigned_and_bulk_urls_are_https(emu):
    s = trusted_session(emu)
    base = emu.storage_url("us-east")
    obj = emu.objects("us-east", states=["AVAILABLE"])[0]
    url = s.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "true"}, timeout=5).json()["url"]
    assert url.startswith(emu.base_url + "/_presigned/")
    assert requests.get(url, verify=emu.ca_path, timeout=5).content == emu.content(obj["id"])
    emu.config.presign_shape = "redirect"
    moved = s.get(base + f"/objects/{obj['id']}/content", params={"presignUrl": "true"}, allow_redirects=False)
    assert moved.status_code == 302 and moved.headers["Location"].startswith("https://127.0.0.1:")
    ids = [o["id"] for o in emu.objects("us-east")[:2]]
    zip_name = s.post(base + "/bulk/download/start", json=ids, timeout=5).json()["zipName"]
    emu.advance_clock(1)
    status = s.get(f"{base}/bulk/download/status/{zip_name}", params={"presignUrl": "true"}, timeout=5).json()
    assert status["url"].startswith(emu.base_url + "/_presigned/")
    archive = zipfile.ZipFile(io.BytesIO(requests.get(status["url"], verify=emu.ca_path, timeout=5).content))
    assert len(archive.namelist()) == 2
    info = requests.get(emu.base_url + "/_emulator/info", verify=emu.ca_path, timeout=5).json()
    assert info["base_url"] == emu.base_url and info["token_url"] == emu.token_url
    assert info["ca_path"] == emu.ca_path


# -- Python API -----------------------------------------------------------------------------------
def test_without_tls_nothing_changes():
    with EightByEightEmulator(EmulatorConfig(objects_per_region=1)) as emu:
        assert emu.base_url.startswith("http://") and emu.scheme == "http"
        assert emu.ca_path is None and emu.other_ca_path is None and emu.server_cert_path is None
        assert requests.get(emu.base_url + "/_emulator/info", timeout=5).json()["ca_path"] is None


def test_config_switch_lifecycle_and_connection_helpers():
    emu = EightByEightEmulator(EmulatorConfig(objects_per_region=1, tls=True))
    assert emu.tls is True
    with pytest.raises(RuntimeError):
        _ = emu.ca_path
    with emu:
        first = emu.ca_path
        assert first and Path(first).is_file()
        conn = json.loads(emu.connection_json(ca_bundle=emu.ca_path))
        assert conn["extra"] == {"api_base_url": emu.base_url, "ca_bundle": first}
        assert "api_base_url=https%3A%2F%2F127.0.0.1" in emu.connection_uri()
    assert not Path(first).exists()
    with emu:  # a restart makes a new CA
        assert emu.ca_path != first and Path(emu.ca_path).is_file()  # type: ignore[arg-type]
        assert health(emu, verify=emu.ca_path).ok
    assert EightByEightEmulator(EmulatorConfig(tls=True), tls=False).tls is False


class TestPytestPlugin:
    @pytest.fixture
    def eightbyeight_emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(objects_per_region=1, tls=True)

    def test_fixture_serves_https(self, eightbyeight_emulator):
        assert eightbyeight_emulator.base_url.startswith("https://")
        assert health(eightbyeight_emulator, verify=eightbyeight_emulator.ca_path).ok


# -- CLI ------------------------------------------------------------------------------------------
def start_cli(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_eightbyeight.testing.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert result and result[0], "the CLI printed nothing in time"
    return result[0]


def stop_cli(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_cli_tls_json():
    proc = start_cli("--tls", "--json", "--objects", "2")
    try:
        info = json.loads(read_line(proc))
        assert info["base_url"].startswith("https://127.0.0.1:") and info["token_url"].startswith("https://")
        ca_path = info["ca_path"]
        assert Path(ca_path).is_file()
        assert requests.get(info["base_url"] + "/_emulator/health", verify=ca_path, timeout=5).json() == {
            "status": "ok"
        }
        token = requests.post(
            info["token_url"], auth=(info["key"], info["secret"]), data=FORM, verify=ca_path, timeout=5
        )
        assert token.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(info["base_url"] + "/_emulator/health", timeout=5)
    finally:
        stop_cli(proc)
    assert not Path(ca_path).exists()


def test_cli_tls_text_prints_the_ca():
    proc = start_cli("--tls", "--objects", "1")
    try:
        lines = []
        while not lines or lines[-1].strip() != "Ready.":
            lines.append(read_line(proc))
            assert len(lines) <= 12
        base = next(line.split()[-1] for line in lines if line.startswith("Base URL:"))
        ca_path = next(line.split()[1] for line in lines if line.startswith("CA:"))
        assert base.startswith("https://") and Path(ca_path).is_file()
        assert any(f"REQUESTS_CA_BUNDLE={ca_path}" in line for line in lines)
        assert requests.get(base + "/_emulator/health", verify=ca_path, timeout=5).ok
    finally:
        stop_cli(proc)
