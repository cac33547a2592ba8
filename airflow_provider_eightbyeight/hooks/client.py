"""
The client of 8x8's API under the hook: the connection's settings, the pooled session and its routes (proxy,
CAs), the access token (exchange, reuse, re-reading the connection when 8x8 refuses it), sending a request
with the one retry helper (:mod:`.retry`), what a failed answer is (:mod:`.responses`) and the account's
regions. The verbs (:mod:`.search`, :mod:`.content`, :mod:`.manage`, :mod:`.bulk_jobs`) build on it and
:class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook` is their façade.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_eightbyeight import __version__, batching
from airflow_provider_eightbyeight.compat import BaseHook, mask_secret
from airflow_provider_eightbyeight.connection import (
    DEFAULT_CONN_ID,
    ConnectionSettings,
)
from airflow_provider_eightbyeight.connection_form import DOCUMENTED_REGIONS
from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RegionError,
    TransportError,
)
from airflow_provider_eightbyeight.hooks import responses
from airflow_provider_eightbyeight.hooks.lean_get import lean_get
from airflow_provider_eightbyeight.hooks.network import Network, Route
from airflow_provider_eightbyeight.hooks.retry import (
    RetryBudget,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE, AccessToken, cache_key

#: Region used to ask for the account's regions when none is configured (the API's documented default).
DEFAULT_DISCOVERY_REGION = "us-west"
#: Largest page 8x8 serves.
MAX_PAGE_SIZE = 100
#: Bulk downloads are capped at "2 GB" per job: read as 2,000,000,000 bytes (the smaller reading, safe for both).
BULK_LIMIT_BYTES = batching.BULK_LIMIT_BYTES
#: Ids per DELETE /bulk request.
DELETE_BATCH_SIZE = 100
#: Objects with a problem remembered (to warn and count each once); beyond it they may be warned of again.
MAX_FLAGGED = 100_000
DEFAULT_CHUNK_SIZE = 1024 * 1024
STORAGE_PRODUCT = "storage"
#: Retries per request of the connection Test (button and ``airflow connections test``): an answer in seconds.
TEST_RETRIES = 1
USER_AGENT = f"airflow-provider-eightbyeight/{__version__}"


class _RoutedSession(requests.Session):
    """A session whose redirects get the route of their new URL (proxy or not), as the first request did."""

    def __init__(self, route_for: Callable[[str], Route]) -> None:
        super().__init__()
        self._route_for = route_for

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> dict[str, str]:
        route = self._route_for(str(prepared_request.url))
        return super().rebuild_proxies(prepared_request, dict(route.proxies))


def mask(value: str) -> None:
    """Register a secret with Airflow's secrets masker so it is redacted from logs."""
    with suppress(Exception):  # masking must never break a call
        mask_secret(value)


@dataclass
class HookStats:
    """Counters of what one hook sent: useful in task summaries and benchmarks."""

    requests: int = 0
    retries: int = 0
    token_requests: int = 0
    token_refreshes_after_401: int = 0
    bytes_downloaded: int = 0
    #: Answers HTTP 429 (too many requests): callers that run requests in parallel back off on them.
    rate_limited: int = 0
    #: Search results without a usable id (each distinct item once): reported as ``<no id>/...`` stand-ins.
    unnamed_items: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters, thread-safely."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "token_requests": self.token_requests,
            "token_refreshes_after_401": self.token_refreshes_after_401,
            "bytes_downloaded": self.bytes_downloaded,
            "unnamed_items": self.unnamed_items,
        }


_C = TypeVar("_C", bound="EightByEightClient")


class EightByEightClient(BaseHook):
    """
    Session, token, requests and regions of one 8x8 connection (see the module docs); use
    :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`, which has every verb.

    :param eightbyeight_conn_id: The Airflow connection with the 8x8 API key (login) and secret (password).
    :param region: Optional. Region used when a call names none; wins over the connection's ``region`` extra.
    :param timeout: Optional. Read timeout in seconds; wins over the connection's ``timeout`` extra.
    :param max_retries: Optional. Retries per operation; wins over the connection's ``max_retries`` extra.
    :param pool_size: Connections kept open to 8x8; set it to the number of threads that share the hook.
    """

    def __init__(
        self,
        eightbyeight_conn_id: str = DEFAULT_CONN_ID,
        *,
        region: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        pool_size: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.eightbyeight_conn_id = eightbyeight_conn_id
        self.region = region
        self._overrides = {"region": region, "timeout": timeout, "max_retries": max_retries}
        self.pool_size = max(1, int(pool_size))
        self.stats = HookStats()
        #: Ids (and stand-in keys) of objects with a problem already warned about.
        self._flagged: set[str] = set()
        self._flagged_lock = threading.Lock()
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._regions: list[str] | None = None
        self._regions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eightbyeight_conn_id={self.eightbyeight_conn_id!r})"

    # ------------------------------------------------------------------ connection and session

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings (read from Airflow on first use)."""
        conn = self.get_connection(self.eightbyeight_conn_id)
        settings = ConnectionSettings.from_connection(conn, **self._overrides)
        mask(settings.secret)
        return settings

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Retry settings from the connection."""
        s = self.settings
        return RetryPolicy(max_retries=s.max_retries, backoff=s.retry_backoff, max_wait=s.retry_max_wait)

    @cached_property
    def network(self) -> Network:
        """How requests reach 8x8: proxy, trusted CAs, client certificate (extras, else the environment)."""
        return Network(self.settings, mask=mask)

    def _route_kwargs(self, url: str) -> dict[str, Any]:
        """``proxies``, ``verify`` and ``cert`` for a ``requests`` call to ``url``."""
        route = self.network.route(url)
        return {"proxies": dict(route.proxies), "verify": route.verify, "cert": route.cert}

    def _current_route(self, url: str) -> Route:
        """The route of ``url`` under the settings the hook has now (they change when credentials rotate)."""
        return self.network.route(url)

    def _through(self, url: str) -> str:
        """`` through the proxy ...`` when ``url`` goes through one, else ``""`` (for messages)."""
        via = self.network.route(url).via
        return f" through the proxy {via}" if via else ""

    def _network_failure(self, err: BaseException, url: str) -> None:
        """Raise at once the errors no retry can cure (a refused certificate, a proxy refusing us)."""
        final = self.network.final_error(err, url)
        if final is not None:
            raise final from None

    def get_conn(self) -> requests.Session:
        """The pooled HTTP session (created on first use)."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    session = _RoutedSession(self._current_route)
                    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    session.headers["User-Agent"] = USER_AGENT
                    # the environment is read by self.network (proxies, CA bundle), not per request by requests
                    session.trust_env = False
                    # 8x8's API is token-based: keep no cookies (a stored one would also turn off lean_get)
                    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                    self._session = session
        return self._session

    def close(self) -> None:
        """Close pooled connections. The hook can be used again afterwards."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.timeout)

    # ------------------------------------------------------------------ token

    #: Serialises the (rare) re-reads of connections after 8x8 refused credentials, so threads refused together
    #: read the connection once and all go on with what it holds.
    _credentials_lock = threading.Lock()

    @staticmethod
    def _credentials(s: ConnectionSettings) -> tuple[str, str, str]:
        """What a token is issued for: the token cache's key (the secret only as a digest)."""
        return cache_key(s.token_url, s.api_key, s.secret)

    @cached_property
    def _cache_key(self) -> tuple[str, str, str]:
        return self._credentials(self.settings)

    def _access_token(self, *, rejected: str | None = None) -> AccessToken:
        """
        A token for the current credentials. If 8x8 refuses them, the connection is read again once; when it
        holds a rotated key or secret, the token comes from those (see :meth:`_reload_credentials`).
        """
        used = self.settings
        try:
            return self._token_for(used, rejected)
        except AuthenticationError:
            if not self._reload_credentials(used):
                raise
            return self._token_for(self.settings, None)

    def _token_for(self, settings: ConnectionSettings, rejected: str | None) -> AccessToken:
        # The key and the fetch use the same settings, even if another thread switches credentials meanwhile.
        return TOKEN_CACHE.get(self._credentials(settings), lambda: self._fetch_token(settings), rejected=rejected)

    def _reload_credentials(self, refused: ConnectionSettings | None = None) -> bool:
        """
        Read the Airflow connection again after 8x8 refused the credentials ``refused`` (default: the current
        ones); ``True`` if the hook now has other credentials (rotated in the connection, or already switched by
        another thread), in which case the caller tries again once.

        The refused credentials' cached token is dropped, the new secret is registered with the secrets masker,
        and neither secret is ever logged.
        """
        refused = self.settings if refused is None else refused
        with self._credentials_lock:
            if self._credentials(self.settings) != self._credentials(refused):
                return True  # another thread already switched to what the connection holds now
            try:
                conn = self.get_connection(self.eightbyeight_conn_id)
                fresh = ConnectionSettings.from_connection(conn, **self._overrides)
            except Exception as err:  # the original authentication error is the one to report
                self.log.debug("Could not read connection %r again: %s", self.eightbyeight_conn_id, type(err).__name__)
                return False
            if self._credentials(fresh) == self._credentials(refused):
                return False
            mask(fresh.secret)
            self.__dict__["settings"] = fresh
            for derived in ("_cache_key", "retry_policy", "network"):
                self.__dict__.pop(derived, None)
            if (fresh.api_key, fresh.api_base_url) != (refused.api_key, refused.api_base_url):
                self._regions = None  # another account (or endpoint) may have other regions
            TOKEN_CACHE.invalidate(self._credentials(refused))
        self.log.info("The credentials of connection %r changed; using the new ones.", self.eightbyeight_conn_id)
        return True

    def get_token(self) -> str:
        """A valid bearer token, from the shared cache or freshly requested. Never log it."""
        return self._access_token().value

    def _fetch_token(self, settings: ConnectionSettings | None = None) -> AccessToken:
        s = self.settings if settings is None else settings
        path = urlsplit(s.token_url).path or "/"
        budget = self.retry_policy.budget()
        while True:
            started = time.monotonic()
            self.stats.add(token_requests=1, requests=1)
            try:
                resp = self.get_conn().post(
                    s.token_url,
                    auth=(s.api_key, s.secret),
                    data={"grant_type": "client_credentials"},
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                    **self._route_kwargs(s.token_url),
                )
            except responses.TRANSIENT_BODY_ERRORS as err:
                self._network_failure(err, s.token_url)
                if self._wait_for_retry(budget, "POST", path, f"{type(err).__name__}"):
                    continue
                raise TransportError(
                    f"Could not reach the 8x8 token endpoint at {s.url_origin(s.token_url)} after "
                    f"{budget.used + 1} attempt(s){self._through(s.token_url)}: {type(err).__name__}",
                    method="POST",
                    path=path,
                    hint="Check that host and port (a typo in the URL, a firewall"
                    + (", the proxy" if self.network.route(s.token_url).via else "")
                    + "); raise max_retries or timeout only for a flaky network",
                ) from None
            if is_retryable_status(resp.status_code) and self._wait_for_retry(
                budget, "POST", path, f"HTTP {resp.status_code}", resp.headers.get("Retry-After")
            ):
                resp.close()
                continue
            return self._parse_token(resp, path, started)

    def _parse_token(self, resp: requests.Response, path: str, started: float) -> AccessToken:
        s = self.settings
        body = responses.json_or_none(resp)
        server_message = responses.server_message(resp, body)
        if resp.status_code in (400, 401, 403):
            revoked = any(
                word in (server_message or "").lower() for word in ("revoked", "not approved", "disabled", "expired")
            )
            if revoked:
                raise AuthenticationError(
                    f"8x8 refused the API key of connection {s.conn_id!r}: its app is revoked or unapproved",
                    status=resp.status_code,
                    method="POST",
                    path=path,
                    server_message=server_message,
                    hint="Create a new key in 8x8 Admin Console (API Keys) and update the connection",
                )
            if resp.status_code == 400:
                raise InvalidRequestError(
                    "8x8 rejected the token request",
                    status=400,
                    method="POST",
                    path=path,
                    server_message=server_message,
                    hint="Check that oauth_url points at 8x8's OAuth endpoint (/oauth/v2/token)",
                )
            raise AuthenticationError(
                f"8x8 rejected the API key and secret of connection {s.conn_id!r}",
                status=resp.status_code,
                method="POST",
                path=path,
                server_message=server_message,
                hint="8x8 answers the same for a wrong key and a wrong secret (its message may name the ClientId "
                "either way): check both the connection's login (API key) and password (secret) against 8x8 Admin "
                "Console > API Keys; a regenerated secret invalidates the old one",
            )
        if resp.status_code >= 400:
            raise responses.error_class(resp.status_code)(
                "The 8x8 token endpoint failed",
                status=resp.status_code,
                method="POST",
                path=path,
                server_message=server_message,
                hint="Retry later; if it persists, contact 8x8 support",
            )
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ApiError(
                "The 8x8 token endpoint answered without an access_token",
                status=resp.status_code,
                method="POST",
                path=path,
                hint="Check that oauth_url points at 8x8's OAuth endpoint (/oauth/v2/token)",
            )
        value = str(body["access_token"])
        mask(value)
        status = str(body.get("status") or "approved").lower()
        if status != "approved":
            raise AuthenticationError(
                f"The API key of connection {s.conn_id!r} is not usable: its app status is {status!r}",
                method="POST",
                path=path,
                hint="A revoked or unapproved key cannot call 8x8: create a new key in 8x8 Admin Console "
                "(API Keys) and update the connection",
            )
        products = responses.products(body)
        if products is not None and STORAGE_PRODUCT not in products:
            raise PermissionDeniedError(
                f"The API key of connection {s.conn_id!r} lacks the 'Call Recordings & Storage' product "
                f"(products: {', '.join(products) or 'none'})",
                method="POST",
                path=path,
                hint="In 8x8 Admin Console > API Keys, edit the key to include 'Call Recordings & Storage' "
                "(a Super Admin must also grant the Storage API); changes take a few minutes",
            )
        try:
            lifetime = float(int(str(body.get("expires_in", "1799")).strip()))
        except ValueError:
            self.log.warning("8x8 sent an unreadable token lifetime; assuming 1799 s.")
            lifetime = 1799.0
        self.log.debug("Obtained an 8x8 access token valid for %.0f s.", lifetime)
        return AccessToken.issued(value, lifetime, tuple(products or ()), now=started)

    # ------------------------------------------------------------------ requests

    def _wait_for_retry(
        self,
        budget: RetryBudget,
        method: str,
        path: str,
        reason: str,
        retry_after: str | None = None,
    ) -> bool:
        """Sleep before a retry and return ``True``, or return ``False`` when the budget is spent."""
        retry_number = budget.used
        if reason == "HTTP 429":
            self.stats.add(rate_limited=1)
        if not budget.take():
            return False
        asked = parse_retry_after(retry_after)
        delay = self.retry_policy.delay(retry_number, asked)
        if asked is not None and asked > delay:
            self.log.warning("8x8 asked to retry after %.0f s; waiting %.0f s, the longest honoured.", asked, delay)
        self.stats.add(retries=1)
        self.log.warning(
            "8x8 %s %s failed (%s); retry %d/%d in %.1f s.",
            method,
            path,
            reason,
            budget.used,
            self.retry_policy.max_retries,
            delay,
        )
        if delay > 0:
            time.sleep(delay)
        return True

    def _url(self, region: str, path: str) -> str:
        return f"{self.settings.storage_root(region)}/{path.lstrip('/')}"

    def _send(
        self,
        method: str,
        region: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        stream: bool = False,
        budget: RetryBudget | None = None,
        accept: str = "application/json",
        allow_redirects: bool = True,
    ) -> requests.Response:
        """
        Send one CSS request with authentication, retries and error mapping.

        Retries 408/429/5xx (honouring Retry-After) and connection errors within ``budget``; on a 401
        gets a new token and retries once. Returns a successful response (2xx/3xx); raises a specific
        :class:`~airflow_provider_eightbyeight.errors.EightByEightError` otherwise.
        """
        budget = budget or self.retry_policy.budget()
        url = self._url(region, path)
        url_path = urlsplit(url).path
        refreshed = False
        reloaded = False
        rejected: str | None = None
        while True:
            token = self._access_token(rejected=rejected)
            used = self.settings  # the credentials this token was issued for
            headers = {"Authorization": f"Bearer {token.value}", "Accept": accept}
            if json is not None or path.rstrip("/").endswith("/objects") or path == "objects":
                headers["Content-Type"] = "application/json"
            self.stats.add(requests=1)
            try:
                resp = self.dispatch(
                    method, url, params=params, json=json, headers=headers, stream=stream, redirects=allow_redirects
                )
            except responses.TRANSIENT_BODY_ERRORS as err:
                self._network_failure(err, url)
                if self._wait_for_retry(budget, method, url_path, type(err).__name__):
                    continue
                raise TransportError(
                    f"8x8 could not be reached at {self.settings.url_origin(url)} after {budget.used + 1} "
                    f"attempt(s){self._through(url)}: {type(err).__name__}",
                    method=method,
                    path=url_path,
                    hint="Check that host and port (a typo in the URL, a firewall"
                    + (", the proxy or HTTPS_PROXY / NO_PROXY" if self.network.route(url).via else "")
                    + "); raise max_retries or timeout only for a flaky network",
                ) from None
            if resp.status_code == 401 and not refreshed:
                resp.close()
                refreshed = True
                rejected = token.value
                self.stats.add(token_refreshes_after_401=1)
                self.log.info("8x8 rejected the access token (HTTP 401); getting a new one and retrying once.")
                continue
            if resp.status_code == 401 and not reloaded:
                reloaded = True
                if self._reload_credentials(used):  # a rotated secret: one more try with the new credentials
                    resp.close()
                    rejected = None
                    continue
            if is_retryable_status(resp.status_code) and self._wait_for_retry(
                budget, method, url_path, f"HTTP {resp.status_code}", resp.headers.get("Retry-After")
            ):
                resp.close()
                continue
            if resp.status_code >= 400:
                error = self._error_for(resp, method, url_path, region, retries=budget.used)
                resp.close()
                raise error
            return resp

    def dispatch(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str],
        stream: bool,
        redirects: bool,
    ) -> requests.Response:
        """
        Send one request on the pooled session, as it is: no token, retry or error mapping (what every call of
        this hook ends in, after those).

        Content downloads (streamed GETs without parameters) go through :func:`lean_get`, the session's
        own connection pool without ``Session.send``'s per-request work, whenever the session allows it.

        The request is prepared here and handed to ``Session.send``: ``Session.request`` would also merge
        session-level settings, which costs more per request than the request itself on small objects
        (requests 2.3x checks typing protocols there) and which this hook does not use.
        """
        session = self.get_conn()
        headers["User-Agent"] = USER_AGENT
        route = self.network.route(url)
        if stream and method == "GET" and not params and json is None and route.direct and route.cert is None:
            resp = lean_get(session, url, headers, self._timeout, verify=route.verify, allow_redirects=redirects)
            if resp is not None:
                return resp
        prepared = requests.Request(method, url, params=params, json=json, headers=headers).prepare()
        return session.send(
            prepared,
            stream=stream,
            timeout=self._timeout,
            allow_redirects=redirects,
            proxies=dict(route.proxies),
            verify=route.verify,
            cert=route.cert,
        )

    def _request_json(self, method: str, region: str, path: str, **kwargs: Any) -> Any:
        resp = self._send(method, region, path, **kwargs)
        with resp:
            return self._decode_json(resp, method, urlsplit(resp.url).path)

    def _decode_json(self, resp: requests.Response, method: str, path: str) -> Any:
        if not resp.content or not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError:
            raise ApiError(
                "8x8 sent a response that is not JSON",
                status=resp.status_code,
                method=method,
                path=path,
                server_message=responses.strip_html(resp.text[:300]),
                hint="A proxy may be answering instead of 8x8; check api_base_url",
            ) from None

    def _error_for(
        self, resp: requests.Response, method: str, path: str, region: str, *, retries: int
    ) -> EightByEightError:
        """The error a refused or failed call is (see :func:`.responses.error_for`); a 404 asks which regions exist."""
        try:
            message = responses.server_message(resp, responses.json_or_none(resp))
        except responses.TRANSIENT_BODY_ERRORS:
            message = None
        unknown = resp.status_code == 404 and self._is_unknown_region(region, path)
        return responses.error_for(
            resp.status_code,
            message,
            method=method,
            path=path,
            region=region,
            retries=retries,
            account_regions=list(self._regions or []) if unknown else None,
        )

    def _is_unknown_region(self, region: str, path: str) -> bool:
        """After a 404: is it the region, rather than the id, that 8x8 does not know?"""
        if not region or path.rstrip("/").endswith("/regions"):
            return False  # a failed discovery call cannot be explained by discovering (no recursion)
        try:
            regions = self.get_regions()
        except EightByEightError:
            return False
        return region not in regions

    # ------------------------------------------------------------------ regions

    def get_regions(self, *, refresh: bool = False) -> list[str]:
        """
        The regions provisioned for the account (``GET /regions``), cached on the hook.

        :param refresh: ask 8x8 again instead of using the cached list.
        """
        with self._regions_lock:
            if self._regions is not None and not refresh:
                return list(self._regions)
        s = self.settings
        first = s.region or s.discovery_region or DEFAULT_DISCOVERY_REGION
        candidates = list(dict.fromkeys([first, *DOCUMENTED_REGIONS]))
        body: Any = None
        for via in candidates:  # /regions answers through any region the service knows
            try:
                body = self._request_json("GET", via, "regions")
                break
            except NotFoundError:
                self.log.info("Region discovery through %r answered 404; trying the next region.", via)
        else:
            raise RegionError(
                f"Could not discover this account's regions: /regions answered 404 through {', '.join(candidates)}",
                hint="Set the connection's region extra (or region=) to the account's region",
            )
        if isinstance(body, dict):  # tolerate {"regions": [...]} wrappers
            body = body.get("regions") or body.get("content")
        if not isinstance(body, list) or not all(isinstance(r, str) for r in body):
            raise ApiError(
                "8x8 answered the region list with something that is not a list of names",
                method="GET",
                path=urlsplit(self._url(via, "regions")).path,
                server_message=str(body)[:200],
            )
        with self._regions_lock:
            self._regions = list(body)
            return list(body)

    def resolve_regions(self, region: str | Sequence[str] | None = None, *, all_regions: bool = False) -> list[str]:
        """
        The regions a call should use: explicit ``region`` > the hook's ``region`` > the connection's
        ``region`` extra > the discovered regions (only if there is exactly one, or ``all_regions``).

        :param region: a region name, a list of names, or ``None``.
        :param all_regions: use every discovered region when nothing more specific is set.
        :raises RegionError: when several regions exist and none was chosen, or none exists.
        """
        if region:
            names = [region] if isinstance(region, str) else list(region)
            cleaned = [n.strip() for n in names if isinstance(n, str) and n.strip()]
            if not cleaned:
                raise ConfigurationError(f"region must be a region name or a list of names, got {region!r}")
            return list(dict.fromkeys(cleaned))
        configured = self.region or self.settings.region
        if configured and not all_regions:
            return [configured]
        discovered = self.get_regions()
        if not discovered:
            raise RegionError(
                "This 8x8 account has no storage regions",
                hint="Check that the account has Call Recordings & Storage provisioned",
            )
        if all_regions or len(discovered) == 1:
            return discovered
        raise RegionError(
            f"This 8x8 account has several regions ({', '.join(discovered)}) and none was chosen",
            hint="Pass region=... (or set the connection's region extra), or ask for all regions",
        )

    def resolve_region(self, region: str | None = None) -> str:
        """Exactly one region for a call about one object or job (see :meth:`resolve_regions`)."""
        regions = self.resolve_regions(region)
        if len(regions) != 1:
            raise RegionError(f"This call needs exactly one region, got {', '.join(regions)}")
        return regions[0]
