"""
How the hook reaches 8x8: which proxy, which CAs to trust, which client certificate.

The connection's extras win over the environment; without them the hook honours the environment as
``requests`` does: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (and lower-case forms) with ``NO_PROXY``,
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``/``SSL_CERT_FILE``. Every URL the hook requests (API, token endpoint,
pre-signed and redirected URLs) gets its route here, so they all follow the same settings. Proxy passwords are
registered with the secrets masker and appear in messages only as ``***``.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from requests.utils import get_environ_proxies, select_proxy

from airflow_provider_eightbyeight.connection import ConnectionSettings
from airflow_provider_eightbyeight.errors import (
    ConfigurationError,
    EightByEightError,
    ProxyRefusedError,
    TLSVerificationError,
)

log = logging.getLogger(__name__)

#: Environment variables naming a CA bundle, in the order ``requests`` (then OpenSSL) reads them.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
#: The status line of a refused CONNECT, as urllib3 words it ("Tunnel connection failed: 407 Proxy ...").
_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})([^'\")]*)")
#: OpenSSL's reason after "certificate verify failed:" (up to the closing parenthesis).
_VERIFY_REASON = re.compile(r"certificate verify failed: ([^()'\"]{1,200})", re.IGNORECASE)
#: Words of an ``SSLError`` that mean the certificate itself was refused (no retry can help).
_CERTIFICATE_WORDS = (
    "certificate verify failed",
    "certificate_verify_failed",
    "hostname mismatch",
    "doesn't match",
    "self-signed",
    "self signed",
    "unable to get local issuer",
    "certificate has expired",
)


@dataclass(frozen=True)
class Route:
    """How one URL is reached: ``requests``' ``proxies``, ``verify`` and ``cert`` arguments."""

    proxies: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a proxy password
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    #: The proxy in words, for messages (password as ``***``), or ``None`` when direct.
    via: str | None = None

    @property
    def direct(self) -> bool:
        return not self.proxies


class Network:
    """
    The routes of one connection's requests (built once per hook; the environment is read as requests do,
    per URL, cached per origin).

    :param settings: the connection's settings.
    :param environ: the environment to read CA bundle variables from (default ``os.environ``; proxies are
        read from ``os.environ`` by ``requests``' own functions).
    :param mask: registers a secret with the secrets masker.
    :raises ConfigurationError: naming the extra or variable, when a CA bundle or client certificate file
        does not exist, or a proxy password has no user to go with.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        environ: Mapping[str, str] | None = None,
        mask: Callable[[str], None] = lambda secret: None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._conn_id = settings.conn_id
        self._mask = mask
        self._proxy = self._proxy_from_extra(settings)
        self.verify = self._verify(settings, env)
        self.cert = self._cert(settings)
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        if self.verify is False:
            log.warning(
                "TLS certificate checks are OFF for connection %r (verify=false): anyone on the network path can "
                "read the secret and the recordings. Use it only for a test server; for a private CA set ca_bundle.",
                self._conn_id,
            )

    # ------------------------------------------------------------------ settings

    def _proxy_from_extra(self, settings: ConnectionSettings) -> str | None:
        """The proxy URL from the extras (``"direct"``: none), or ``None`` for the environment's."""
        if settings.proxy is None:
            if settings.proxy_password:
                raise ConfigurationError(
                    f"Connection {self._conn_id!r} has a proxy_password but no proxy",
                    hint="Set the proxy extra to http://user@host:port (the password goes in proxy_password)",
                )
            return None
        if settings.proxy == "direct":
            return "direct"
        url = settings.proxy if "://" in settings.proxy else f"http://{settings.proxy}"
        parts = urlsplit(url)
        if settings.proxy_password:
            if not parts.username:
                raise ConfigurationError(
                    f"Connection {self._conn_id!r} has a proxy_password but its proxy URL names no user",
                    hint="Write the user in the proxy extra: http://user@host:port",
                )
            netloc = f"{parts.username}:{quote(settings.proxy_password, safe='')}@{_host_port(parts)}"
            url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self._mask_password(url)
        return url

    def _verify(self, settings: ConnectionSettings, env: Mapping[str, str]) -> bool | str:
        if not settings.verify:
            return False
        if settings.ca_bundle:
            where = "the ca_bundle extra"
            return self._cas(self._file(settings.ca_bundle, where, "a PEM file of the CAs to trust"), where)
        for name in CA_BUNDLE_VARIABLES:
            value = (env.get(name) or "").strip()
            if value:
                where = f"the environment variable {name}"
                if os.path.isdir(value) and name != "SSL_CERT_FILE":
                    return value  # requests accepts a folder of hashed CA files
                return self._cas(self._file(value, where, "a PEM file of the CAs to trust"), where)
        return True

    def _cas(self, path: str, where: str) -> str:
        """``path`` if it holds at least one PEM CA certificate (checked once, not at every request)."""
        try:
            ssl.create_default_context().load_verify_locations(cafile=path)
        except (ssl.SSLError, OSError, ValueError) as err:
            raise ConfigurationError(
                f"Connection {self._conn_id!r}: {where} names {path!r}, which holds no usable CA certificate "
                f"({_ssl_reason(err)})",
                hint="Give a PEM file with the CA certificate(s) (-----BEGIN CERTIFICATE-----), e.g. your network's "
                "TLS-inspection CA exported as Base-64",
            ) from None
        return path

    def _cert(self, settings: ConnectionSettings) -> str | tuple[str, str] | None:
        if settings.client_key and not settings.client_cert:
            raise ConfigurationError(
                f"Connection {self._conn_id!r} has a client_key but no client_cert",
                hint="Set client_cert to the PEM certificate the key belongs to",
            )
        if not settings.client_cert:
            return None
        cert = self._file(settings.client_cert, "the client_cert extra", "a PEM client certificate")
        key = (
            self._file(settings.client_key, "the client_key extra", "the certificate's PEM key")
            if (settings.client_key)
            else None
        )
        try:
            ssl.create_default_context().load_cert_chain(cert, key)
        except (ssl.SSLError, OSError, ValueError) as err:
            raise ConfigurationError(
                f"Connection {self._conn_id!r}: the client_cert{' and client_key' if key else ''} extra"
                f"{'s do' if key else ' does'} not give a usable certificate and matching key ({_ssl_reason(err)})",
                hint="Give PEM files: the certificate, and its unencrypted private key in client_key (or in the "
                "certificate file)",
            ) from None
        return (cert, key) if key else cert

    def _file(self, path: str, where: str, what: str) -> str:
        expanded = os.path.expanduser(path)
        if not os.path.isfile(expanded):
            raise ConfigurationError(
                f"Connection {self._conn_id!r}: {where} names {path!r}, which is not a file on this machine",
                hint=f"Give the path of {what} that exists on every worker and the triggerer",
            )
        return expanded

    def _mask_password(self, proxy_url: str) -> None:
        password = urlsplit(proxy_url).password
        if password:
            self._mask(password)
            self._mask(unquote(password))

    # ------------------------------------------------------------------ routes

    def route(self, url: str) -> Route:
        """The route of ``url`` (cached per scheme, host and port)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._routes.get(origin)
        if found is None:
            with self._lock:
                found = self._routes.setdefault(origin, self._route(url))
        return found

    def _route(self, url: str) -> Route:
        scheme = urlsplit(url).scheme
        if self._proxy == "direct":
            return Route({}, self.verify, self.cert)
        if self._proxy is not None:
            return Route({scheme: self._proxy}, self.verify, self.cert, f"{redact(self._proxy)} (the proxy extra)")
        proxy = select_proxy(url, get_environ_proxies(url))  # honours NO_PROXY, as requests does
        if not proxy:
            return Route({}, self.verify, self.cert)
        self._mask_password(proxy)
        return Route({scheme: proxy}, self.verify, self.cert, f"{redact(proxy)} (from the environment)")

    def describe(self, url: str) -> str:
        """How ``url`` is reached, in words (for the Test button and messages)."""
        route = self.route(url)
        via = f"through the proxy {route.via}" if route.via else "directly"
        if route.verify is False:
            trust = "without checking TLS certificates (verify=false)"
        elif isinstance(route.verify, str):
            trust = f"trusting the CAs in {route.verify}"
        else:
            trust = "trusting the standard CAs"
        return f"{via}, {trust}"

    # ------------------------------------------------------------------ errors

    def final_error(self, err: BaseException, url: str) -> EightByEightError | None:
        """
        The error to raise at once for a network failure no retry can cure (a refused certificate, a proxy
        that refuses our credentials or the tunnel), else ``None`` (retry as usual). Messages name the host and
        the status, never a URL (a pre-signed URL is a working download link) or a password.
        """
        route = self.route(url)
        host = urlsplit(url).hostname or "8x8"
        text = str(err)
        tunnel = _TUNNEL_STATUS.search(text)
        if tunnel is not None:
            status = int(tunnel.group(1))
            if status in (401, 407):  # tinyproxy answers a CONNECT without valid credentials with 401
                return ProxyRefusedError(
                    f"The proxy {route.via or ''} refused our credentials or asked for some "
                    f"(HTTP {tunnel.group(1)} {tunnel.group(2).strip()}) to reach {host}",
                    hint="Put the proxy's user in the proxy URL (http://user@host:port) and its password in the "
                    "proxy_password extra (or in HTTPS_PROXY), then check them with the proxy's administrator",
                )
            if status in (403, 405, 501):
                return ProxyRefusedError(
                    f"The proxy {route.via or ''} refused to open a tunnel to {host} "
                    f"(HTTP {tunnel.group(1)} {tunnel.group(2).strip()})",
                    hint="Ask the proxy's administrator to allow CONNECT to this host and port, or set "
                    "NO_PROXY / the proxy extra 'direct' if it is reachable without the proxy",
                )
            return None
        lowered = text.lower()
        if "wrong version number" in lowered:
            return TLSVerificationError(
                f"The TLS handshake with {host if not isinstance(err, requests.exceptions.ProxyError) else 'the proxy'}"
                " failed (wrong version number): the other side does not speak TLS there",
                hint="Check the scheme and port of api_base_url, and that an http:// proxy is not written https://",
            )
        if any(word in lowered for word in _CERTIFICATE_WORDS):
            if isinstance(err, requests.exceptions.ProxyError):  # an https:// proxy's own certificate
                return TLSVerificationError(
                    f"The TLS certificate of the proxy {route.via or ''} was not accepted "
                    f"({_certificate_reason(text)})",
                    hint="Trust the proxy's CA with the ca_bundle extra (or REQUESTS_CA_BUNDLE), or use its "
                    "http:// address",
                )
            if isinstance(err, requests.exceptions.SSLError):
                trusted = (
                    f"the CAs in {route.verify}" if isinstance(route.verify, str) else "the standard CAs (certifi's)"
                )
                return TLSVerificationError(
                    f"The TLS certificate of {host} was not accepted ({_certificate_reason(text)}); this connection "
                    f"trusts {trusted}" + (f" and goes through the proxy {route.via}" if route.via else ""),
                    hint="If your network inspects TLS with its own CA (a corporate proxy), set the connection's "
                    "ca_bundle extra (or REQUESTS_CA_BUNDLE) to that CA's PEM file; check the host name in "
                    "api_base_url. Do not turn verify off for real 8x8",
                )
        return None


def redact(url: str) -> str:
    """``url`` with its password (if any) as ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username}:***@{_host_port(parts)}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _host_port(parts: Any) -> str:
    """``host[:port]`` of a split URL, with an IPv6 host in brackets."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def _certificate_reason(text: str) -> str:
    """The certificate problem in a few words (never the URL the error text also holds)."""
    found = _VERIFY_REASON.search(text)
    if found:
        return f"certificate verify failed: {found.group(1).strip()}"
    for word in _CERTIFICATE_WORDS:
        if word in text.lower():
            return word
    return "certificate not accepted"


def _ssl_reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    return str(reason or err)[:200]
