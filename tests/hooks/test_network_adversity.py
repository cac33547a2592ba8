"""
The hook's network settings under adversity (from an adversarial review; each test failed before its fix):
"407" in a port or an id, an https proxy's untrusted certificate, unusable CA/client-key files, IPv6 proxies, a
refused tunnel that must not quote a pre-signed URL, a proxy going down mid-download. Real tinyproxy and the TLS
emulator wherever the case shows on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.errors import ConfigurationError, TransportError
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig
from tests.conftest import WATCHED
from tests.proxy import NEEDS_TINYPROXY, Tinyproxy

pytestmark = NEEDS_TINYPROXY

USER, PROXY_PASSWORD = "airflow", "proxy-pw-review-5b1e9d"
WATCHED.add(PROXY_PASSWORD)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=21, objects_per_region=5, tls=True)


def _free_port_containing(digits: str) -> int:
    for port in range(40700, 40800):
        if digits not in str(port):
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port containing {digits}")


# ---------------------------------------------------------------------- final_error: "407" anywhere in the text


def test_a_down_proxy_whose_port_contains_407_is_retried_and_not_called_a_credentials_refusal(
    make_hook: Any,
) -> None:
    """Promise 3: a proxy that cannot be reached is retried and named; '407' in the port is no HTTP 407."""
    port = _free_port_containing("407")  # nothing listens: the proxy is down
    hook = make_hook(proxy=f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as err:  # (was a wrong error before the fix)
        hook.get_token()
    assert f"127.0.0.1:{port}" in str(err.value)
    assert hook.stats.retries > 0


def test_a_proxy_outage_while_copying_an_object_whose_id_contains_407_is_retried(
    make_hook: Any, emulator: EightByEightEmulator, tmp_path: Path
) -> None:
    """The URL path is in requests' ProxyError text: ids with '407' (~0.7 % of UUIDs) turn an outage final."""
    server = Tinyproxy()
    hook = make_hook(proxy=server.url, ca_bundle=emulator.ca_path)
    hook.get_token()  # token cached while the proxy is up
    server.stop()  # the proxy restarts / is down for a moment
    hook.close()
    with pytest.raises(TransportError):  # (was a wrong error before the fix)
        hook.download_object("0b1c4079-2d3e-4f50-8a6b-7c8d9e0f1a2b", tmp_path / "x.bin", region="us-east")
    assert hook.stats.retries > 0


# ---------------------------------------------------------------------- a bad CA bundle / client key file


def test_a_ca_bundle_that_is_not_pem_fails_at_once_naming_the_extra(make_hook: Any, tmp_path: Path) -> None:
    """Promise 3: bad extras get clear errors; no retry can make a non-PEM file a CA bundle."""
    bad = tmp_path / "corp-ca.pem"
    bad.write_text("this is not a certificate\n")
    hook = make_hook(ca_bundle=str(bad))
    with pytest.raises(ConfigurationError) as err:  # (was a wrong error before the fix)
        hook.get_token()
    assert "ca_bundle" in str(err.value)
    assert hook.stats.retries == 0


def test_a_client_key_that_does_not_match_the_certificate_fails_at_once_naming_the_extras(
    make_hook: Any, emulator: EightByEightEmulator, tmp_path: Path
) -> None:
    from airflow_provider_eightbyeight.testing.tls import issue_server_cert, make_ca

    ca = make_ca(tmp_path)
    one = issue_server_cert(ca, tmp_path, stem="one")
    two = issue_server_cert(ca, tmp_path, stem="two")
    hook = make_hook(ca_bundle=emulator.ca_path, client_cert=str(one.cert_path), client_key=str(two.key_path))
    with pytest.raises(ConfigurationError) as err:  # (was a wrong error before the fix)
        hook.get_token()
    assert "client_key" in str(err.value) or "client_cert" in str(err.value)
    assert hook.stats.retries == 0


# ---------------------------------------------------------------------- IPv6 proxy host


def test_an_ipv6_proxy_with_a_proxy_password_keeps_its_brackets(make_hook: Any) -> None:
    """_proxy_from_extra rebuilds the netloc from .hostname (brackets dropped): every request raises ValueError."""
    password = "not-a-watched-secret"  # the assertion shows it
    hook = make_hook(proxy=f"http://{USER}@[::1]:3128", proxy_password=password)
    route = hook.network.route("https://api.8x8.com/")  # (was a wrong error before the fix)
    assert route.proxies == {"https": f"http://{USER}:{password}@[::1]:3128"}
    assert route.via == f"http://{USER}:***@[::1]:3128 (the proxy extra)"


# ---------------------------------------------------------------------- pre-signed URLs in messages


def test_a_proxy_refusing_the_presigned_host_does_not_put_the_presigned_url_in_the_error(
    make_hook: Any, emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    The API is reached directly (NO_PROXY), the pre-signed URL through a proxy that refuses the tunnel (403).
    ProxyRefusedError quotes requests' text, whose 'url:' is the pre-signed URL's path and signed query, a
    credential the hook otherwise writes only as '(pre-signed URL)'.
    """
    server = Tinyproxy(extra=("ConnectPort 443",))  # CONNECT to the emulator's port: 403
    try:
        monkeypatch.setenv("HTTPS_PROXY", server.url)
        monkeypatch.setenv("NO_PROXY", "localhost")
        hook = make_hook(api_base_url=emulator.base_url.replace("127.0.0.1", "localhost"), ca_bundle=emulator.ca_path)
        obj = next(hook.iter_objects(max_objects=1))
        with pytest.raises(ConfigurationError) as err:
            hook.download_object(obj.id, tmp_path / "x.bin", region=obj.region, use_presigned_url=True)
        text = str(err.value)
        assert "refused to open a tunnel" in text  # the right diagnosis...
        assert "X-Amz-Signature" not in text and "/_presigned/" not in text  # ...without the signed URL
    finally:
        server.stop()


# ---------------------------------------------------------------------- the final message names the proxy


def test_a_presigned_download_through_a_proxy_that_went_down_names_the_proxy(
    make_hook: Any, emulator: EightByEightEmulator, tmp_path: Path
) -> None:
    """Promise 3: transient proxy failures are retried and the final message names the proxy."""
    server = Tinyproxy()
    hook = make_hook(proxy=server.url, ca_bundle=emulator.ca_path)
    obj = next(hook.iter_objects(max_objects=1))
    presign = hook.get_presigned_url

    def then_the_proxy_goes_down(*args: Any, **kwargs: Any) -> str:
        url = presign(*args, **kwargs)
        server.stop()
        hook.close()
        return url

    hook.get_presigned_url = then_the_proxy_goes_down  # type: ignore[method-assign]
    with pytest.raises(TransportError) as err:
        hook.download_object(obj.id, tmp_path / "x.bin", region=obj.region, use_presigned_url=True)
    assert hook.stats.retries > 0
    assert f"127.0.0.1:{server.port}" in str(err.value)  # (was a wrong error before the fix)


# ---------------------------------------------------------------------- an HTTPS proxy with an untrusted certificate


class _TlsFront:
    """An https:// proxy: TLS (a certificate of its own CA) in front of tinyproxy, bytes pumped both ways."""

    def __init__(self, folder: Path, upstream_port: int) -> None:
        from airflow_provider_eightbyeight.testing.tls import issue_server_cert, make_ca, server_context

        self.ca = make_ca(folder, name="review proxy CA", filename="proxy-ca.pem")
        cert = issue_server_cert(self.ca, folder, stem="proxy")
        self._context = server_context(cert.cert_path, cert.key_path)
        self._upstream = upstream_port
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self._upstream))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.close()

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def stop(self) -> None:
        self._listener.close()


def test_an_https_proxy_whose_certificate_is_not_trusted_fails_at_once_as_a_tls_error(
    make_hook: Any, emulator: EightByEightEmulator, proxy: Tinyproxy, tmp_path: Path
) -> None:
    """
    The proxy extra accepts https:// proxies. requests wraps the proxy's refused certificate in a ProxyError,
    and final_error looks only for 407/403 in ProxyErrors: a certificate no retry can fix is retried and
    reported as an unreachable proxy.
    """
    from airflow_provider_eightbyeight.errors import TLSVerificationError

    front = _TlsFront(tmp_path, proxy.port)
    try:
        both = tmp_path / "both.pem"
        both.write_text(Path(emulator.ca_path).read_text() + front.ca.cert_path.read_text())
        trusted = make_hook("https_proxy_trusted", proxy=front.url, ca_bundle=str(both))
        assert trusted.get_regions() == ["us-east"]  # the https proxy works when its CA is trusted
        untrusted = make_hook("https_proxy_untrusted", proxy=front.url, ca_bundle=emulator.ca_path)
        with pytest.raises(TLSVerificationError):  # (was a wrong error before the fix)
            untrusted.get_regions(refresh=True)  # (a token for these credentials is cached already)
        assert untrusted.stats.retries == 0
    finally:
        front.stop()
