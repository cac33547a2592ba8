"""
Reading and validating an ``eightbyeight`` Airflow connection. Pure code: no I/O.

login = API key, password = secret (both from 8x8 Admin Console), extras per :data:`CONN_FIELDS`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_eightbyeight.connection_form import (
    CONN_FIELDS,
    CONN_TYPE,
    DEFAULT_API_BASE_URL,
    DEFAULT_API_VERSION,
    DEFAULT_CONN_ID,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_TIMEOUT,
    MAX_MAX_RETRIES,
)
from airflow_provider_eightbyeight.errors import ConfigurationError

__all__ = ["CONN_FIELDS", "CONN_TYPE", "DEFAULT_CONN_ID", "ConnectionSettings", "is_loopback_host"]

log = logging.getLogger(__name__)

#: Extras read but not shown in the form (tuning knobs for tests and benchmarks).
_HIDDEN_EXTRAS = {"retry_backoff", "retry_max_wait", "connect_timeout", "discovery_region", "token_url"}
_KNOWN_EXTRAS = set(CONN_FIELDS) | _HIDDEN_EXTRAS


@dataclass(frozen=True)
class ConnectionSettings:
    """Validated settings of one ``eightbyeight`` connection. ``secret`` is excluded from ``repr``."""

    conn_id: str
    api_key: str
    secret: str = field(repr=False)
    region: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    token_url: str = f"{DEFAULT_API_BASE_URL}/oauth/v2/token"
    api_version: str = DEFAULT_API_VERSION
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = 10.0
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    retry_max_wait: float = DEFAULT_RETRY_MAX_WAIT
    allow_insecure: bool = False
    discovery_region: str | None = None
    #: ``None``: the environment's proxies; ``"direct"``: none; else the proxy URL (may hold credentials).
    proxy: str | None = field(default=None, repr=False)
    proxy_password: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    verify: bool = True
    client_cert: str | None = None
    client_key: str | None = None
    #: Where ``api_base_url`` came from, for messages: "api_base_url extra", "Host field" or "" (the default).
    api_base_url_from: str = field(default="", compare=False)
    #: Where ``token_url`` came from: "oauth_url extra", "token_url extra" or "" (api_base_url + /oauth/v2/token).
    token_url_from: str = field(default="", compare=False)

    def url_origin(self, url: str) -> str:
        """
        ``host:port`` of ``url`` and the setting it came from, for messages about an unreachable 8x8.

        e.g. ``"api.example.com:443 (from the connection's api_base_url extra)"``.
        """
        base = f"the connection's {self.api_base_url_from}" if self.api_base_url_from else "the default api_base_url"
        if url.startswith(self.token_url):
            source = f"the connection's {self.token_url_from}" if self.token_url_from else f"{base}; oauth_url unset"
        elif url.startswith(self.api_base_url):
            source = base
        else:
            source = "a URL 8x8 sent"
        return f"{host_and_port(url)} (from {source})"

    def storage_root(self, region: str) -> str:
        """``{api_base_url}/storage/{region}/{api_version}``, without a trailing slash."""
        return f"{self.api_base_url}/storage/{region}/{self.api_version}"

    @classmethod
    def from_connection(cls, conn: Any, **overrides: Any) -> ConnectionSettings:
        """
        Build settings from an Airflow ``Connection`` (anything with conn_id, login, password, host, port
        and extra_dejson).

        :param overrides: values that win over the connection (``None`` values are ignored).
        :raises ConfigurationError: naming the field and the fix when something is missing or invalid.
        """
        conn_id = getattr(conn, "conn_id", None) or DEFAULT_CONN_ID
        extras = _extras(conn, conn_id)
        extras.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(extras) - _KNOWN_EXTRAS)
        if unknown:
            log.warning(
                "Connection %r has extras this provider does not use: %s (known: %s).",
                conn_id,
                ", ".join(unknown),
                ", ".join(sorted(CONN_FIELDS)),
            )

        api_key = (getattr(conn, "login", None) or "").strip()
        secret = getattr(conn, "password", None) or ""
        if not api_key:
            raise ConfigurationError(
                f"Connection {conn_id!r} has no API key",
                hint="Put the key from 8x8 Admin Console (API Keys) in the login / 'API key' field",
            )
        if not secret.strip():
            raise ConfigurationError(
                f"Connection {conn_id!r} has no secret",
                hint="Put the key's secret from 8x8 Admin Console in the password / 'Secret' field",
            )

        allow_insecure = _bool(extras.get("allow_insecure"), "allow_insecure", conn_id)
        base_raw = extras.get("api_base_url") or _url_from_host(conn)
        base_from = "api_base_url extra" if extras.get("api_base_url") else "Host field" if base_raw else ""
        api_base_url = _base_url(base_raw or DEFAULT_API_BASE_URL, "api_base_url", conn_id, allow_insecure)
        # ``oauth_url``; ``token_url`` is its old name (Airflow masks every extra whose key contains "token").
        token_key = "oauth_url" if extras.get("oauth_url") else "token_url"
        token_raw = extras.get(token_key)
        if extras.get("oauth_url") and extras.get("token_url") and extras["oauth_url"] != extras["token_url"]:
            raise ConfigurationError(
                f"Connection {conn_id!r} sets both oauth_url and its old name token_url, to different URLs",
                hint="Keep oauth_url and remove token_url",
            )
        token_url = (
            _check_url(str(token_raw), token_key, conn_id, allow_insecure).rstrip("/")
            if token_raw
            else f"{api_base_url}/oauth/v2/token"
        )
        api_version = _str(extras.get("api_version"), "api_version", conn_id) or DEFAULT_API_VERSION
        if "/" in api_version:
            raise ConfigurationError(
                f"Connection {conn_id!r}: api_version {api_version!r} must be a single path segment",
                hint="Use e.g. 'v3'",
            )
        return cls(
            conn_id=conn_id,
            api_key=api_key,
            secret=secret,
            region=_region(extras.get("region"), conn_id),
            api_base_url=api_base_url,
            token_url=token_url,
            api_base_url_from=base_from,
            token_url_from=f"{token_key} extra" if token_raw else "",
            api_version=api_version.strip("/"),
            timeout=_number(extras.get("timeout"), "timeout", conn_id, DEFAULT_TIMEOUT, minimum=0.001),
            connect_timeout=_number(extras.get("connect_timeout"), "connect_timeout", conn_id, 10.0, minimum=0.001),
            max_retries=int(
                _number(
                    extras.get("max_retries"),
                    "max_retries",
                    conn_id,
                    DEFAULT_MAX_RETRIES,
                    minimum=0,
                    maximum=MAX_MAX_RETRIES,
                    integer=True,
                )
            ),
            retry_backoff=_number(
                extras.get("retry_backoff"), "retry_backoff", conn_id, DEFAULT_RETRY_BACKOFF, minimum=0
            ),
            retry_max_wait=_number(
                extras.get("retry_max_wait"), "retry_max_wait", conn_id, DEFAULT_RETRY_MAX_WAIT, minimum=0
            ),
            allow_insecure=allow_insecure,
            discovery_region=_region(extras.get("discovery_region"), conn_id),
            proxy=_proxy(extras.get("proxy"), conn_id),
            proxy_password=_secret(extras.get("proxy_password"), "proxy_password", conn_id),
            ca_bundle=_str(extras.get("ca_bundle"), "ca_bundle", conn_id),
            # an empty form field is stored as null or "": that is the default (verify), never "off"
            verify=extras.get("verify") in (None, "") or _bool(extras.get("verify"), "verify", conn_id),
            client_cert=_str(extras.get("client_cert"), "client_cert", conn_id),
            client_key=_str(extras.get("client_key"), "client_key", conn_id),
        )


def _extras(conn: Any, conn_id: str) -> dict[str, Any]:
    try:
        raw = conn.extra_dejson
    except Exception as err:  # a malformed extra JSON string
        raise ConfigurationError(
            f"Connection {conn_id!r} has an extra field that is not valid JSON: {err}",
            hint='Write extras as a JSON object, e.g. {"region": "us-east"}',
        ) from None
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"Connection {conn_id!r}: extras must be a JSON object, got {type(raw).__name__}",
            hint='Write extras as a JSON object, e.g. {"region": "us-east"}',
        )
    prefix = f"extra__{CONN_TYPE}__"
    extras: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[len(prefix) :] if key.startswith(prefix) else key
        if value is not None and value != "":
            extras[name] = value
    return extras


def host_and_port(url: str) -> str:
    """``host:port`` of an http(s) URL, the port made explicit (443 for https, 80 for http)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 80 if parts.scheme == "http" else 443
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url_from_host(conn: Any) -> str | None:
    host = (getattr(conn, "host", None) or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    port = getattr(conn, "port", None)
    return f"https://{host}:{port}" if port else f"https://{host}"


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not host:
        return False
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(value: str, name: str, conn_id: str, allow_insecure: bool) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} {text!r} is not an http(s) URL",
            hint=f"Use a full URL such as {DEFAULT_API_BASE_URL}",
        )
    if parts.scheme == "http" and not allow_insecure and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} {text!r} uses plain http://, which 8x8 refuses and which "
            "would send the secret unencrypted",
            hint="Use https://, or set the extra allow_insecure=true for a trusted test server",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} {text!r} must not carry a query string or fragment",
            hint=f"Use only scheme, host and optional path prefix, e.g. {DEFAULT_API_BASE_URL}",
        )
    return text


def _base_url(value: Any, name: str, conn_id: str, allow_insecure: bool) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} must be a string URL, got {type(value).__name__}",
            hint=f"e.g. {DEFAULT_API_BASE_URL}",
        )
    text = _check_url(value, name, conn_id, allow_insecure).rstrip("/")
    path = urlsplit(text).path
    if "/storage" in path or "/oauth" in path:
        root = text[: len(text) - len(path)]
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} {text!r} includes an API path",
            hint=f"Give only the root, e.g. {root!r}; the provider adds /storage/<region>/<version> itself",
        )
    return text


def _proxy(value: Any, conn_id: str) -> str | None:
    """The proxy extra: ``None`` (the environment's), ``"direct"``, or an http(s) proxy URL."""
    text = _str(value, "proxy", conn_id)
    if text is None:
        return None
    if text.lower() in ("direct", "none"):
        return "direct"
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"Connection {conn_id!r}: proxy must be an http:// or https:// proxy URL, got scheme {parts.scheme!r}",
            hint="e.g. http://proxy.example.com:3128, or 'direct' to ignore the environment's proxies",
        )
    try:
        _ = parts.port
    except ValueError:
        raise ConfigurationError(
            f"Connection {conn_id!r}: the proxy URL has an invalid port", hint="e.g. http://proxy.example.com:3128"
        ) from None
    return parts.geturl()


def _secret(value: Any, name: str, conn_id: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"Connection {conn_id!r}: {name} must be a string, got {type(value).__name__}")
    return value


def _str(value: Any, name: str, conn_id: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} must be a string, got {type(value).__name__} {value!r}"
        )
    return value.strip() or None


def _region(value: Any, conn_id: str) -> str | None:
    text = _str(value, "region", conn_id)
    if text is None:
        return None
    if "/" in text or " " in text:
        raise ConfigurationError(
            f"Connection {conn_id!r}: region {text!r} is not a region name",
            hint="Use one name such as 'us-east' (see the account's regions with the Test button)",
        )
    return text


_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


def _bool(value: Any, name: str, conn_id: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    # "y": a ticked WTForms checkbox, as Airflow 2's Flask form posts it to its Test button
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(
        f"Connection {conn_id!r}: {name} must be true or false, got {value!r}",
        hint=f'e.g. {{"{name}": true}}',
    )


def _number(
    value: Any,
    name: str,
    conn_id: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    if value is None:
        return default
    number: float
    if isinstance(value, bool):
        number = float("nan")
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = float("nan")
    else:
        number = float("nan")
    kind = "a whole number" if integer else "a number"
    bad = math.isnan(number) or (integer and not number.is_integer())
    bad = bad or (minimum is not None and number < minimum) or (maximum is not None and number > maximum)
    if bad:
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum:g}")
        if maximum is not None:
            bounds.append(f"<= {maximum:g}")
        raise ConfigurationError(
            f"Connection {conn_id!r}: {name} must be {kind}{' ' + ' and '.join(bounds) if bounds else ''}, "
            f"got {value!r}",
            hint=f'e.g. {{"{name}": {int(default) if integer else default:g}}}',
        )
    return number
