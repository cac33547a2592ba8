"""
A lean streamed GET on a ``requests`` session's own connection pool.

``Session.send`` costs more CPU than the request itself when objects are small: it prepares the URL
again, looks up proxies and cookies, builds the response and checks for redirects, about 0.4 ms per
request. Downloading many small recordings makes the client CPU-bound on exactly that. :func:`lean_get`
sends a plain GET through the urllib3 pool the session's adapter already holds (same connections, same
TLS settings, same timeouts) and returns an ordinary :class:`requests.Response`, so callers read it as
before. It declines (returns ``None``) whenever the session has anything ``requests`` must apply itself:
proxies, the environment, another adapter, client certificates; the caller then uses ``Session.send``.
"""

from __future__ import annotations

import weakref
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)


def usable(session: requests.Session) -> bool:
    """Whether :func:`lean_get` may serve this session (nothing ``requests`` would add per request)."""
    return not session.trust_env and not session.proxies and session.cert is None and not session.cookies


def lean_get(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    timeout: tuple[float, float],
    *,
    verify: bool | str | None = None,
    allow_redirects: bool = True,
) -> requests.Response | None:
    """
    ``GET url`` with a streamed body on the session's pool, or ``None`` when only ``Session.send`` may.

    Network errors are raised as the ``requests`` exceptions ``Session.send`` raises for them.

    :param session: the pooled session (its adapter's pool is used).
    :param url: an absolute ``http``/``https`` URL.
    :param headers: every request header (the session's own headers are not merged).
    :param timeout: ``(connect, read)`` seconds.
    :param verify: ``requests``' ``verify`` (``True``, a CA bundle path, or ``False``); default the session's.
    :param allow_redirects: follow redirects (through ``requests``, with its rules), else return them.
    """
    if not usable(session):
        return None
    verify = session.verify if verify is None else verify
    adapter = session.get_adapter(url)
    if type(adapter) is not HTTPAdapter:
        return None
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    origin = f"{parts.scheme}://{parts.netloc}"
    for attempt in (1, 2):
        pool = pool_for(adapter, verify if verify is not None else True, origin)
        try:
            raw = pool.urlopen(
                "GET",
                target,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=adapter.max_retries,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                chunked=False,
            )
        except ClosedPoolError as err:  # the pool manager dropped this pool (too many hosts): take its new one
            _POOLS.get(adapter, {}).pop(f"{origin} {verify}", None)
            if attempt == 2:
                raise _as_requests_error(err) from err
            continue
        except (HTTPError, OSError) as err:
            raise _as_requests_error(err) from err
        break
    resp = requests.Response()
    resp.status_code = raw.status
    resp.headers = CaseInsensitiveDict(raw.headers)
    resp.raw = raw
    resp.reason = raw.reason or ""
    resp.url = url
    resp.encoding = get_encoding_from_headers(resp.headers)
    resp.connection = adapter
    if allow_redirects and resp.is_redirect:  # rare: follow as Session.send does (auth dropped across hosts)
        resp.request = requests.Request("GET", url, headers=headers).prepare()
        history = list(
            session.resolve_redirects(
                resp,
                resp.request,
                stream=True,
                timeout=timeout,
                verify=verify,  # type: ignore[arg-type]
                cert=None,
                proxies={},  # a session may give each new URL its own (see the hook's _RoutedSession)
            )
        )
        if history:
            history.insert(0, resp)
            resp = history.pop()
            resp.history = history
    return resp


#: The pool of each origin, per adapter (asking the adapter costs as much as the rest of a small request).
_POOLS: weakref.WeakKeyDictionary[HTTPAdapter, dict[str, Any]] = weakref.WeakKeyDictionary()


def pool_for(adapter: HTTPAdapter, verify: bool | str, origin: str) -> Any:
    """The adapter's urllib3 pool for ``origin`` (``scheme://host:port``) with the TLS settings ``verify``."""
    pools = _POOLS.get(adapter)
    if pools is None:
        pools = _POOLS.setdefault(adapter, {})
    key = f"{origin} {verify}"
    pool = pools.get(key)
    if pool is not None and pool.pool is not None and _still_managed(adapter, pool):
        return pool
    getter = getattr(adapter, "get_connection_with_tls_context", None)
    if getter is None:  # requests < 2.32.2
        pool = adapter.get_connection(origin + "/", None)
    else:
        pool = getter(_Target(origin + "/"), verify, None, None)
    # what Session.send does before every request: the CA bundle and checks of requests (certifi), not
    # whatever the system's store trusts
    adapter.cert_verify(pool, origin + "/", verify, None)
    pools[key] = pool
    return pool


def _still_managed(adapter: HTTPAdapter, pool: Any) -> bool:
    """
    Whether ``pool`` is still one of the adapter's pool manager's pools: urllib3 2 lets go of a pool (without
    closing it) when it evicts it or when the session is closed; a request must then use the pool requests uses.
    """
    manager = adapter.poolmanager.pools
    return any(manager.get(key) is pool for key in manager.keys())  # noqa: SIM118 - it cannot be iterated


class _Target:
    """What the adapter reads of a request to choose its pool: the URL."""

    def __init__(self, url: str) -> None:
        self.url = url


def _as_requests_error(err: BaseException) -> requests.RequestException:
    """The exception ``requests``' adapter raises for a urllib3 error (the subset a plain GET can meet)."""
    reason = err.reason if isinstance(err, MaxRetryError) else err
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.exceptions.ConnectTimeout(err)
    if isinstance(reason, ReadTimeoutError):
        return requests.exceptions.ReadTimeout(err)
    if isinstance(reason, SSLError):
        return requests.exceptions.SSLError(err)
    if isinstance(reason, ProxyError):
        return requests.exceptions.ProxyError(err)
    return requests.exceptions.ConnectionError(err)
