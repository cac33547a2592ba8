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
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    "wrong version number",
)


@dataclass(frozen=True)
class Route:
    """How one URL is reached: ``requests``' ``proxies``, ``verify`` and ``cert`` arguments."""

    proxies: dict[str, str] = field(default_factory=dict)
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
            host = parts.hostname or ""
            netloc = f"{parts.username}:{quote(settings.proxy_password, safe='')}@{host}"
            if parts.port:
                netloc += f":{parts.port}"
            url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self._mask_password(url)
        return url

    def _verify(self, settings: ConnectionSettings, env: Mapping[str, str]) -> bool | str:
        if not settings.verify:
            return False
        if settings.ca_bundle:
            return self._file(settings.ca_bundle, "the ca_bundle extra", "a PEM file of the CAs to trust")
        for name in CA_BUNDLE_VARIABLES:
            value = (env.get(name) or "").strip()
            if value:
                if os.path.isdir(value) and name != "SSL_CERT_FILE":
                    return value  # requests accepts a folder of hashed CA files
                return self._file(value, f"the environment variable {name}", "a PEM file of the CAs to trust")
        return True

    def _cert(self, settings: ConnectionSettings) -> str | tuple[str, str] | None:
        if settings.client_key and not settings.client_cert:
            raise ConfigurationError(
                f"Connection {self._conn_id!r} has a client_key but no client_cert",
                hint="Set client_cert to the PEM certificate the key belongs to",
            )
        if not settings.client_cert:
            return None
        cert = self._file(settings.client_cert, "the client_cert extra", "a PEM client certificate")
        if settings.client_key:
            return cert, self._file(settings.client_key, "the client_key extra", "the certificate's PEM key")
        return cert

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
        that demands credentials or refuses the tunnel), else ``None`` (retry as usual).
        """
        route = self.route(url)
        host = urlsplit(url).hostname or url
        text = str(err)
        lowered = text.lower()
        if isinstance(err, requests.exceptions.ProxyError) or "tunnel connection failed" in lowered:
            if "407" in text or "failed: 401" in lowered:  # tinyproxy answers a CONNECT without auth with 401
                return ProxyRefusedError(
                    f"The proxy {route.via or ''} refused our credentials or asked for some "
                    f"({_status_words(text)}) to reach {host}",
                    hint="Put the proxy's user in the proxy URL (http://user@host:port) and its password in the "
                    "proxy_password extra (or in HTTPS_PROXY), then check them with the proxy's administrator",
                )
            if any(f" {code} " in text or text.endswith(f" {code}") for code in ("403", "405", "501")):
                return ProxyRefusedError(
                    f"The proxy {route.via or ''} refused to open a tunnel to {host}: {_short(text)}",
                    hint="Ask the proxy's administrator to allow CONNECT to this host and port, or set "
                    "NO_PROXY / the proxy extra 'direct' if 8x8 is reachable without it",
                )
            return None
        if isinstance(err, requests.exceptions.SSLError) and any(word in lowered for word in _CERTIFICATE_WORDS):
            trusted = f"the CAs in {route.verify}" if isinstance(route.verify, str) else "the standard CAs (certifi's)"
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
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _status_words(text: str) -> str:
    for code, words in (("407", "HTTP 407 Proxy Authentication Required"), ("401", "HTTP 401 Unauthorized")):
        if code in text:
            return words
    return "authentication failed"


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _certificate_reason(text: str) -> str:
    lowered = text.lower()
    for marker in ("certificate verify failed:", "certificate_verify_failed"):
        index = lowered.find(marker)
        if index >= 0:
            reason = text[index + len(marker) :].strip(" :()'\"")
            end = min((i for i in (reason.find("("), reason.find("')"), reason.find('")')) if i > 0), default=-1)
            return ("certificate verify failed: " + (reason[:end] if end > 0 else reason)[:200]).strip()
    return _short(text)
