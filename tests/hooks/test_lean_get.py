"""
The lean content GET (hooks/lean_get.py) against real HTTP servers on loopback: it must behave like
``Session.send`` for what the hook relies on (bodies, statuses, redirects, errors), and step aside when the
session has settings only ``requests`` applies.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from airflow_provider_eightbyeight.hooks import lean_get as lean
from airflow_provider_eightbyeight.testing import EightByEightEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen: list[tuple[str, dict[str, str], int]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests_seen.append((self.path, dict(self.headers), self.client_address[1]))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/body?from=moved")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/cookie"):
            self.send_response(200)
            self.send_header("Set-Cookie", "tracking=1; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        body = b"x" * 70_000 + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Check", "yes")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed its end: the write fails, as expected


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.requests_seen = []
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


def test_streams_the_body_and_headers_like_session_send(server: str) -> None:
    session = _session()
    resp = lean.lean_get(session, f"{server}/body?a=1&b=%2F", {"Authorization": "Bearer t"}, (2.0, 2.0))
    assert resp is not None
    with resp:
        assert resp.status_code == 200 and resp.headers["x-check"] == "yes"
        body = b"".join(resp.iter_content(16_384))
    assert body == b"x" * 70_000 + b"/body?a=1&b=%2F"
    path, headers, _ = _Handler.requests_seen[-1]
    assert path == "/body?a=1&b=%2F" and headers["Authorization"] == "Bearer t"
    # the connection went back to the session's own pool and is reused by the next request
    resp2 = lean.lean_get(session, f"{server}/again", {}, (2.0, 2.0))
    assert resp2 is not None
    with resp2:
        assert resp2.content.endswith(b"/again")
    assert len({port for _, _, port in _Handler.requests_seen}) == 1


def test_declines_sessions_with_settings_only_requests_applies(server: str) -> None:
    for change in (
        lambda s: setattr(s, "trust_env", True),
        lambda s: s.proxies.update({"http": "http://127.0.0.1:9"}),
        lambda s: setattr(s, "cert", "/nonexistent.pem"),
        lambda s: s.cookies.set("a", "b"),
        lambda s: s.mount("http://", requests.adapters.BaseAdapter()),
    ):
        session = _session()
        change(session)
        assert lean.lean_get(session, f"{server}/body", {}, (2.0, 2.0)) is None
    assert _Handler.requests_seen == []


def test_network_errors_are_the_exceptions_requests_raises(server: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(requests.exceptions.ConnectionError):
        lean.lean_get(_session(), f"http://127.0.0.1:{closed_port}/x", {}, (2.0, 2.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        lean.lean_get(_session(), f"{server}/slow", {}, (2.0, 0.3))


def test_a_pool_the_pool_manager_dropped_is_replaced(server: str) -> None:
    session = _session()
    first = lean.lean_get(session, f"{server}/one", {}, (2.0, 2.0))
    assert first is not None
    first.close()
    session.get_adapter(server).poolmanager.clear()  # closes every pool (as its LRU does past pool_connections)
    again = lean.lean_get(session, f"{server}/two", {}, (2.0, 2.0))
    assert again is not None
    with again:
        assert again.content.endswith(b"/two")


def test_the_hook_follows_a_redirected_content_request(server: str, make_hook: Any) -> None:
    hook = make_hook()
    resp = hook.dispatch("GET", f"{server}/moved", params=None, json=None, headers={}, stream=True, redirects=True)
    with resp:
        assert resp.status_code == 200 and resp.content.endswith(b"/body?from=moved")
    assert [p for p, _, _ in _Handler.requests_seen] == ["/moved", "/body?from=moved"]
    assert resp.history[0].status_code == 302
    unfollowed = lean.lean_get(hook.get_conn(), f"{server}/moved", {}, (2.0, 2.0), allow_redirects=False)
    assert unfollowed is not None and unfollowed.status_code == 302
    unfollowed.close()


def test_content_downloads_take_the_lean_path(
    emulator: EightByEightEmulator, make_hook: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    ids = [emulator.add_object("us-east", size=1000 + i)["id"] for i in range(5)]
    hook = make_hook()
    sent: list[str] = []
    real_send = requests.Session.send
    monkeypatch.setattr(requests.Session, "send", lambda s, req, **kw: sent.append(req.url) or real_send(s, req, **kw))
    lean_calls: list[str] = []
    real_lean = lean.lean_get

    def counting(session: requests.Session, url: str, *args: Any, **kwargs: Any) -> Any:
        lean_calls.append(url)
        return real_lean(session, url, *args, **kwargs)

    monkeypatch.setattr("airflow_provider_eightbyeight.hooks.client.lean_get", counting)
    for object_id in ids:
        result = hook.download_object(object_id, tmp_path / object_id)
        assert result.verified and (tmp_path / object_id).read_bytes() == emulator.content(object_id)
    assert len(lean_calls) == len(ids) and all(u.endswith("/content") for u in lean_calls)
    assert not [u for u in sent if u.endswith("/content")]  # metadata and token requests still use requests


def test_an_https_pool_gets_requests_ca_bundle_and_checks_not_the_systems():
    """Session.send points every pool at requests' CA bundle (certifi); the lean path must too (review)."""
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    session = _session()
    adapter = session.get_adapter("https://127.0.0.1:9/")
    pool = lean.pool_for(adapter, True, "https://127.0.0.1:9")  # no connection is made
    assert pool.cert_reqs == "CERT_REQUIRED" and pool.ca_certs == DEFAULT_CA_BUNDLE_PATH
    unverified = lean.pool_for(adapter, False, "https://127.0.0.1:9")
    assert unverified.cert_reqs == "CERT_NONE"


def test_a_pool_the_session_let_go_of_is_not_used_again(server: str) -> None:
    """urllib3 2 drops pools without closing them (session.close(), eviction): the lean path follows (review)."""
    session = _session()
    adapter = session.get_adapter(server)
    first = lean.pool_for(adapter, True, server)
    session.close()
    again = lean.pool_for(adapter, True, server)
    assert again is not first
    keys = adapter.poolmanager.pools.keys()
    assert any(adapter.poolmanager.pools.get(k) is again for k in keys)


class _Latin1Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = "référence inconnue".encode("latin-1")
        self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=ISO-8859-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_error_body_is_decoded_with_its_declared_charset():
    httpd = _Server(("127.0.0.1", 0), _Latin1Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        resp = lean.lean_get(_session(), f"http://127.0.0.1:{httpd.server_address[1]}/x", {}, (2.0, 2.0))
        assert resp is not None and resp.status_code == 404 and resp.text == "référence inconnue"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_hooks_session_keeps_no_cookies(server: str, make_hook) -> None:
    """A cookie from any answer would switch the lean path off for good; the token-based API needs none."""
    session = make_hook().get_conn()
    session.get(f"{server}/cookie", timeout=5).close()  # answers with Set-Cookie
    assert not session.cookies and lean.usable(session)
    plain = _session()
    plain.get(f"{server}/cookie", timeout=5).close()
    assert plain.cookies  # the server did set one: a default session keeps it
