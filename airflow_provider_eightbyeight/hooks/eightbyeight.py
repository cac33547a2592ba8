"""
The hook for the 8x8 Cloud Storage Service (CSS) v3 API: the only code that speaks HTTP to 8x8.

It swaps the API key and secret for a bearer token (OAuth client credentials), reuses that token
across hook instances until shortly before it expires, discovers the account's regions, searches
objects with FIQL across all pages, streams content with MD5 verification, runs bulk zip downloads,
restores archived objects and deletes objects. Requests share one pooled ``requests.Session``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import cached_property
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_eightbyeight import __version__
from airflow_provider_eightbyeight.compat import BaseHook, mask_secret
from airflow_provider_eightbyeight.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    ConnectionSettings,
    host_and_port,
)
from airflow_provider_eightbyeight.connection_form import DOCUMENTED_REGIONS, field_behaviour, form_widgets
from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    BulkJobError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    ObjectNotAvailableError,
    PermissionDeniedError,
    RateLimitError,
    RegionError,
    TransportError,
)
from airflow_provider_eightbyeight.filters import FilterLike, all_of, any_of, comparison, to_fiql
from airflow_provider_eightbyeight.hooks import buckets
from airflow_provider_eightbyeight.hooks.lean_get import lean_get
from airflow_provider_eightbyeight.hooks.local_files import atomic_local_file
from airflow_provider_eightbyeight.hooks.network import Network, Route
from airflow_provider_eightbyeight.hooks.retry import (
    RetryBudget,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE, AccessToken, cache_key
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.hooks.wire import follow_pages as _follow_pages
from airflow_provider_eightbyeight.hooks.wire import read_page as _read_page
from airflow_provider_eightbyeight.models import Bucket, BulkJob, DownloadResult, ObjectState, StoredObject

#: Region used to ask for the account's regions when none is configured (the API's documented default).
DEFAULT_DISCOVERY_REGION = "us-west"
#: Largest page 8x8 serves.
MAX_PAGE_SIZE = 100
#: Bulk downloads are capped at "2 GB" per job: read as 2,000,000,000 bytes (the smaller reading, safe for both).
BULK_LIMIT_BYTES = 2_000_000_000
#: Ids per DELETE /bulk request.
DELETE_BATCH_SIZE = 100
#: Objects with a problem remembered (to warn and count each once); beyond it they may be warned of again.
MAX_FLAGGED = 100_000
DEFAULT_CHUNK_SIZE = 1024 * 1024
STORAGE_PRODUCT = "storage"
#: Retries per request of the connection Test (button and ``airflow connections test``): an answer in seconds.
TEST_RETRIES = 1
USER_AGENT = f"airflow-provider-eightbyeight/{__version__}"
_TRANSIENT_BODY_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ContentDecodingError,
)
_TAGS = re.compile(r"<[^>]+>")
#: Statuses 8x8 may answer a content request with when the object is not AVAILABLE (contract 13.22).
_REFUSAL_STATUSES = frozenset({400, 403, 404, 405, 409, 410})

#: Where downloaded bytes go: a file path, a binary file object, or a factory of one write target per attempt
#: (a context manager that publishes on a clean exit and discards on an exception).
SinkFactory = Callable[[], AbstractContextManager[IO[bytes]]]
Destination = str | os.PathLike[str] | IO[bytes] | SinkFactory


class _RoutedSession(requests.Session):
    """A session whose redirects get the route of their new URL (proxy or not), as the first request did."""

    def __init__(self, route_for: Callable[[str], Route]) -> None:
        super().__init__()
        self._route_for = route_for

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> dict[str, str]:
        route = self._route_for(str(prepared_request.url))
        return super().rebuild_proxies(prepared_request, dict(route.proxies))


def _mask(value: str) -> None:
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


@dataclass(frozen=True)
class DeleteResult:
    """
    Outcome of :meth:`EightByEightHook.delete_objects`, as 8x8 confirms it afterwards.

    :param deleted: ids that read REVOKED or DELETED after the delete.
    :param failed: ids still in another state (or whose state could not be read), with why.
    :param not_found: ids 8x8 does not know in the region.
    :param already_deleted: ids that read REVOKED or DELETED before the call (another run, or a person,
        deleted them): not sent, and not counted as deleted by this call.
    """

    deleted: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    not_found: tuple[str, ...] = ()
    already_deleted: tuple[str, ...] = ()


class EightByEightHook(BaseHook):
    """
    Interact with the 8x8 Cloud Storage Service (call recordings, transcripts, voicemails...).

    Creating the hook does no network I/O; the connection is read on first use.

    :param eightbyeight_conn_id: The Airflow connection with the 8x8 API key (login) and secret (password).
    :param region: Optional. Region used when a call names none; wins over the connection's ``region`` extra.
    :param timeout: Optional. Read timeout in seconds; wins over the connection's ``timeout`` extra.
    :param max_retries: Optional. Retries per operation; wins over the connection's ``max_retries`` extra.
    :param pool_size: Connections kept open to 8x8; set it to the number of threads that share the hook.
    """

    conn_name_attr = "eightbyeight_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "8x8 Cloud Storage"

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

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields, for Airflow below 3.2 (3.2+ reads ``conn-fields`` from the provider info)."""
        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and prefilled standard fields, for Airflow below 3.2 (3.2+: the provider info)."""
        return field_behaviour()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eightbyeight_conn_id={self.eightbyeight_conn_id!r})"

    # ------------------------------------------------------------------ connection and session

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings (read from Airflow on first use)."""
        conn = self.get_connection(self.eightbyeight_conn_id)
        settings = ConnectionSettings.from_connection(conn, **self._overrides)
        _mask(settings.secret)
        return settings

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Retry settings from the connection."""
        s = self.settings
        return RetryPolicy(max_retries=s.max_retries, backoff=s.retry_backoff, max_wait=s.retry_max_wait)

    @cached_property
    def network(self) -> Network:
        """How requests reach 8x8: proxy, trusted CAs, client certificate (extras, else the environment)."""
        return Network(self.settings, mask=_mask)

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

    def __enter__(self) -> EightByEightHook:
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
            _mask(fresh.secret)
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
            except _TRANSIENT_BODY_ERRORS as err:
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
        body = _json_or_none(resp)
        server_message = _server_message(resp, body)
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
            raise _error_class(resp.status_code)(
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
        _mask(value)
        status = str(body.get("status") or "approved").lower()
        if status != "approved":
            raise AuthenticationError(
                f"The API key of connection {s.conn_id!r} is not usable: its app status is {status!r}",
                method="POST",
                path=path,
                hint="A revoked or unapproved key cannot call 8x8: create a new key in 8x8 Admin Console "
                "(API Keys) and update the connection",
            )
        products = _products(body)
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
                resp = self._dispatch(
                    method, url, params=params, json=json, headers=headers, stream=stream, redirects=allow_redirects
                )
            except _TRANSIENT_BODY_ERRORS as err:
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

    def _dispatch(
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
        Send one request on the pooled session.

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
                server_message=_strip_html(resp.text[:300]),
                hint="A proxy may be answering instead of 8x8; check api_base_url",
            ) from None

    def _error_for(
        self, resp: requests.Response, method: str, path: str, region: str, *, retries: int
    ) -> EightByEightError:
        status = resp.status_code
        try:
            body = _json_or_none(resp)
            message = _server_message(resp, body)
        except _TRANSIENT_BODY_ERRORS:
            message = None
        suffix = f" after {retries} retries" if retries else ""
        if status == 401:
            return AuthenticationError(
                "8x8 rejected a freshly issued access token",
                status=status,
                method=method,
                path=path,
                server_message=message,
                hint="The key may have been revoked or lost the Storage API permission; check it in 8x8 "
                "Admin Console > API Keys",
            )
        if status == 403:
            return PermissionDeniedError(
                "8x8 refused access",
                status=status,
                method=method,
                path=path,
                server_message=message,
                hint="The key needs the 'Call Recordings & Storage' product, and restoring or deleting needs "
                "a key allowed to edit objects; check it in 8x8 Admin Console > API Keys",
            )
        if status == 404:
            if self._is_unknown_region(region, path):
                return RegionError(
                    f"Region {region!r} is not one of this account's regions "
                    f"({', '.join(self._regions or []) or 'none'})",
                    status=status,
                    method=method,
                    path=path,
                    server_message=message,
                    hint="Set region= (or the connection's region extra) to one of them",
                )
            return NotFoundError(
                f"Not found in region {region!r}",
                status=status,
                method=method,
                path=path,
                server_message=message,
                hint="Check the id, and that the object lives in this region (objects are region-scoped)",
            )
        if status in (400, 405, 422):
            return InvalidRequestError(
                "8x8 rejected the request",
                status=status,
                method=method,
                path=path,
                server_message=message,
                hint="Check the filter (FIQL syntax, field names, epoch-ms times) and the other arguments",
            )
        if status == 429:
            return RateLimitError(
                f"8x8 kept rate-limiting the request{suffix}",
                status=status,
                method=method,
                path=path,
                server_message=message,
                hint="Lower the number of parallel tasks or workers, or raise max_retries",
            )
        return ApiError(
            f"8x8 failed to answer{suffix}",
            status=status,
            method=method,
            path=path,
            server_message=message,
            hint="8x8 may be having trouble; retry later, and contact 8x8 support if it persists",
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

    # ------------------------------------------------------------------ search

    def iter_objects(
        self,
        filter: FilterLike = None,
        *,
        region: str | Sequence[str] | None = None,
        all_regions: bool = False,
        states: str | Iterable[str] | None = None,
        sort_field: str = "createdTime",
        sort_direction: str = "ASC",
        page_size: int = MAX_PAGE_SIZE,
        max_objects: int | None = None,
    ) -> Iterator[StoredObject]:
        """
        Every object matching ``filter``, page by page (memory bounded by one page).

        Follows the returned ``pageKey`` until ``lastPage``; accepts a page object or the older list of
        page objects. Objects repeated across adjacent pages (when objects are added while paging) are
        yielded once.

        :param filter: FIQL string or :class:`~airflow_provider_eightbyeight.filters.ObjectFilter`.
        :param region: region(s) to search; see :meth:`resolve_regions`.
        :param all_regions: search every region of the account.
        :param states: Optional. Object states to include; 8x8 returns only AVAILABLE objects otherwise.
        :param sort_field: object field or tag key to sort by.
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: objects per request, 1..100 (larger values are lowered to 100).
        :param max_objects: Optional. Stop after this many objects.
        """
        fiql = self._search_filter(filter, states)
        direction = str(sort_direction).upper()
        if direction not in ("ASC", "DESC"):
            raise ConfigurationError(f"sort_direction must be 'ASC' or 'DESC', got {sort_direction!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ConfigurationError(f"page_size must be a whole number from 1 to 100, got {page_size!r}")
        if page_size > MAX_PAGE_SIZE:
            self.log.warning("page_size %d is above 8x8's maximum; using %d.", page_size, MAX_PAGE_SIZE)
            page_size = MAX_PAGE_SIZE
        if max_objects is not None and max_objects < 0:
            raise ConfigurationError(f"max_objects must be 0 or more, got {max_objects!r}")
        yielded = 0
        for name in self.resolve_regions(region, all_regions=all_regions):
            if sort_field == "createdTime":
                found = self._iter_by_created(name, fiql, direction, page_size)
            else:  # offset paging: objects with equal values may be missed or repeated if 8x8 reorders ties
                found = self._iter_region(name, fiql, sort_field, direction, page_size)
            for obj in found:
                if max_objects is not None and yielded >= max_objects:
                    return
                yielded += 1
                yield obj

    def list_objects(self, filter: FilterLike = None, **kwargs: Any) -> list[StoredObject]:
        """All matching objects as a list (see :meth:`iter_objects` for the arguments)."""
        return list(self.iter_objects(filter, **kwargs))

    @staticmethod
    def _search_filter(filter: FilterLike, states: str | Iterable[str] | None) -> str | None:
        fiql = to_fiql(filter)
        if states is None:
            return fiql
        names = [states] if isinstance(states, str) else list(states)
        known = {s.value for s in ObjectState}
        cleaned = [str(s).strip().upper() for s in names if str(s).strip()]
        unknown = [s for s in cleaned if s not in known]
        if unknown:
            raise ConfigurationError(f"Unknown object state(s) {unknown}; use one of {sorted(known)}")
        return all_of(fiql, any_of(*(comparison("objectState", "==", s) for s in cleaned)))

    def _iter_by_created(self, region: str, fiql: str | None, direction: str, page_size: int) -> Iterator[StoredObject]:
        """
        Every match, by ``createdTime``, each exactly once whatever order 8x8 gives objects created in the
        same second (the order of ties is not documented, and may differ from one request to the next).

        Keyset paging: each request asks for the first page at or after the last ``createdTime`` seen
        (``=ge=`` for ASC, ``=le=`` for DESC) and skips the ids already yielded at that time. When a whole
        page shares one ``createdTime`` (more objects in one second than a page holds), that second is read
        alone, sorted by ``id`` (unique, so offset paging is stable) with the usual offset paging. Objects
        added while paging with a later ``createdTime`` are found too; memory holds the ids of one second.
        Objects without a readable ``createdTime`` (a malformed one, an item without id) are yielded once (their
        ids are kept) and do not move the keyset; only a page with no readable time at all falls back to offset
        paging for the rest.
        """
        ascending = direction == "ASC"
        bound: int | None = None
        seen_at_bound: set[str] = set()
        timeless: set[str] = set()
        while True:
            keyset = None if bound is None else comparison("createdTime", "=ge=" if ascending else "=le=", bound)
            query = all_of(fiql, keyset)
            params: dict[str, Any] = {
                "pageKey": 0,
                "limit": page_size,
                "sortField": "createdTime",
                "sortDirection": direction,
            }
            if query:
                params["filter"] = query
            content, _, last_page = _read_page(self._request_json("GET", region, "objects", params=params))
            page = [self._object_of(item, region) for item in content]
            stamps = [_created_ms(o) for o in page]
            times = [t for t in stamps if t is not None]
            if page and not times:  # no createdTime to page by: offset paging for the rest
                yield from (o for o in page if o.id not in seen_at_bound and o.id not in timeless)
                yield from self._iter_region(region, query, "createdTime", direction, page_size, skip_first_page=True)
                return
            for obj, stamp in zip(page, stamps, strict=True):
                if obj.id in seen_at_bound or obj.id in timeless:
                    continue
                if stamp is None:  # read again while its neighbours are: yielded once
                    timeless.add(obj.id)
                yield obj
            if len(content) < page_size or last_page is True or not page:
                return
            edge = times[-1]
            if all(t == edge for t in times):  # a whole page in one second: read that second by id
                done = seen_at_bound | {o.id for o in page} | timeless
                yield from self._iter_one_second(region, fiql, edge, ascending, done, page_size)
                bound = edge + (1000 if ascending else -1000)
                seen_at_bound = set()
                continue
            if edge != bound:
                seen_at_bound = set()
            bound = edge
            seen_at_bound.update(o.id for o, t in zip(page, stamps, strict=True) if t == edge)

    def _iter_one_second(
        self, region: str, fiql: str | None, edge_ms: int, ascending: bool, already: set[str], page_size: int
    ) -> Iterator[StoredObject]:
        """
        The objects of the second that starts (ASC) or ends (DESC) at ``edge_ms``, by id, minus ``already``:
        ``[edge, edge + 1000)`` or ``(edge - 1000, edge]``, the span the next keyset step jumps over.
        """
        if ascending:
            span = (comparison("createdTime", "=ge=", edge_ms), comparison("createdTime", "=lt=", edge_ms + 1000))
        else:
            span = (comparison("createdTime", "=gt=", edge_ms - 1000), comparison("createdTime", "=le=", edge_ms))
        window = all_of(fiql, *span)
        for obj in self._iter_region(region, window, "id", "ASC", page_size):
            if obj.id not in already:
                yield obj

    def _object_of(self, item: Any, region: str) -> StoredObject:
        """
        One search result, every field checked (:meth:`StoredObject.from_api`). An item with no usable id is
        not dropped: it becomes a stand-in (``<no id>/...``, with its ``problem``), counted once in
        ``stats.unnamed_items``, so a transfer names it failed in its manifest.
        """
        try:
            obj = StoredObject.from_api(item, region)
        except ValueError as err:
            obj = StoredObject.unnamed(item, region, str(err))
            if self._first_warning(obj.id):
                self.stats.add(unnamed_items=1)
        if obj.problem and self._first_warning(obj.id):
            self.log.warning("8x8 listed object %r in %s that cannot be handled: %s", obj.id, region, obj.problem)
        return obj

    def _first_warning(self, key: str) -> bool:
        """Whether ``key`` (an object with a problem) is met for the first time (pages can be read twice)."""
        with self._flagged_lock:
            if key in self._flagged:
                return False
            if len(self._flagged) < MAX_FLAGGED:  # beyond: warned (and counted) again if read again
                self._flagged.add(key)
            return True

    def _iter_region(
        self,
        region: str,
        fiql: str | None,
        sort_field: str,
        direction: str,
        page_size: int,
        *,
        skip_first_page: bool = False,
    ) -> Iterator[StoredObject]:
        params: dict[str, Any] = {"sortField": sort_field, "sortDirection": direction}
        if fiql:
            params["filter"] = fiql
        yield from _follow_pages(
            lambda query: self._request_json("GET", region, "objects", params=query),
            params,
            page_size,
            lambda item: self._object_of(item, region),
            lambda obj: obj.id,
            what="8x8 pagination",
            path=urlsplit(self._url(region, "objects")).path,
            log=self.log,
            skip_first_page=skip_first_page,
        )

    def get_object(self, object_id: str, *, region: str | None = None) -> StoredObject:
        """
        One object's metadata (any state).

        :raises NotFoundError: when the id is unknown in the region.
        """
        object_id = _check_id(object_id)
        name = self.resolve_region(region)
        body = self._request_json("GET", name, f"objects/{quote(object_id, safe='')}")
        if isinstance(body, list) and body:
            body = body[0]
        try:
            return StoredObject.from_api(body, name)
        except ValueError as err:
            raise ApiError(
                f"8x8 answered the metadata of {object_id} with something unreadable: {err}",
                method="GET",
                path=urlsplit(self._url(name, f"objects/{object_id}")).path,
            ) from None

    # ------------------------------------------------------------------ buckets

    def iter_buckets(
        self,
        filter: FilterLike = None,
        *,
        region: str | Sequence[str] | None = None,
        all_regions: bool = False,
        sort_field: str = "createdTime",
        sort_direction: str = "ASC",
        page_size: int = buckets.MAX_BUCKET_PAGE,
        max_buckets: int | None = None,
    ) -> Iterator[Bucket]:
        """
        Every bucket matching ``filter``, page by page (memory bounded by one page): the groups 8x8 keeps a
        call's objects in (recording, transcript, summary...), each as a :class:`~..models.Bucket` whose
        ``objects`` are ``(id, type)`` pairs.

        A bucket 8x8 describes with a malformed field is yielded with that field ``None`` and its ``problem``
        set (logged); one without a usable id as a ``<no id>/...`` stand-in. The 3.1.6 spec's answer (one
        BucketResponse, no paging) is read as one bucket.

        :param filter: FIQL over the bucket fields ``id``, ``userId``, ``name``, ``createdTime``, ``updatedTime``
            and bucket tag keys (a string, or a :class:`~..filters.ObjectFilter`-like object rendering FIQL).
        :param region: region(s) to search; see :meth:`resolve_regions`.
        :param all_regions: search every region of the account.
        :param sort_field: bucket field to sort by (``createdTime``, ``name``...).
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: buckets per request, 1..100.
        :param max_buckets: Optional. Stop after this many buckets.
        :raises ConfigurationError: for a bad argument (nothing is sent).
        """
        return buckets.iter_buckets(
            self,
            filter,
            region=region,
            all_regions=all_regions,
            sort_field=sort_field,
            sort_direction=sort_direction,
            page_size=page_size,
            max_buckets=max_buckets,
        )

    def get_bucket(self, bucket_id: str, *, region: str | None = None) -> Bucket:
        """
        One bucket and the ``(id, type)`` of each of its objects.

        :param bucket_id: the bucket's id (``bucketId``), exactly as 8x8 gives it; an object's ``bucket_id``.
        :param region: Optional. The region it is in; see :meth:`resolve_region`.
        :raises NotFoundError: when the bucket is unknown in the region.
        :raises ApiError: when 8x8 answers with something that is not that bucket.
        """
        return buckets.get_bucket(self, bucket_id, region=region)

    # ------------------------------------------------------------------ content

    def get_presigned_url(self, object_id: str, *, region: str | None = None) -> str:
        """
        A pre-signed URL of the object's content (valid about 30 minutes); fetch it without credentials.

        Accepts every answer shape 8x8 may use: ``{"url": ...}``, ``{"presignedUrl": ...}``, a JSON
        string, bare text, or a redirect.
        """
        object_id = _check_id(object_id)
        name = self.resolve_region(region)
        resp = self._send(
            "GET",
            name,
            f"objects/{quote(object_id, safe='')}/content",
            params={"presignUrl": "true"},
            accept="application/json, text/plain",
            allow_redirects=False,
        )
        with resp:
            if resp.is_redirect and resp.headers.get("Location"):
                return str(resp.headers["Location"])
            text = resp.text.strip()
            url: Any = None
            try:
                body = resp.json()
            except ValueError:
                body = None
            if isinstance(body, str):
                url = body
            elif isinstance(body, dict):
                url = body.get("url") or body.get("presignedUrl") or body.get("presignUrl")
            elif text.startswith(("http://", "https://")):
                url = text
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(
                f"8x8 did not return a pre-signed URL for {object_id}",
                method="GET",
                path=urlsplit(resp.url).path,
                server_message=text[:200],
            )
        return url

    def download_object(
        self,
        object_id: str | StoredObject,
        dst: Destination,
        *,
        region: str | None = None,
        verify: bool = True,
        use_presigned_url: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> DownloadResult:
        """
        Stream an object's content to a path or a binary file object, computing its MD5 on the way.

        A path is written under a temporary name in the same folder and renamed only once complete and
        verified: no partial file ever appears under the final name. The size and (for a plain MD5
        checksum) the MD5 are checked against the object's metadata; multipart-style ``<hex>-<n>``
        checksums cannot be checked and are skipped (logged at debug level). A failed or corrupted body
        is downloaded again within the retry budget.

        :param object_id: an id, or a :class:`StoredObject` from a search (saves a metadata request).
        :param dst: a file path, a writable binary file object (seekable to allow retries), or a factory
            of one write target per attempt (a context manager that publishes on a clean exit and
            discards on an exception).
        :param region: Optional. The object's region (a StoredObject's own region wins).
        :param verify: check size and MD5 against the metadata (recommended).
        :param use_presigned_url: fetch the bytes through a pre-signed URL instead of the API.
        :param chunk_size: bytes per read.
        :return: the size and MD5 of what was written.
        :raises ObjectNotAvailableError: when the object is archived or otherwise not AVAILABLE.
        :raises IntegrityError: when every attempt delivered wrong bytes.
        :raises ApiError: when 8x8 described the object with malformed metadata (its ``problem``): such an
            object is never downloaded.
        """
        if isinstance(object_id, StoredObject):
            obj: StoredObject | None = object_id
            oid = object_id.id
            name = self.resolve_region(object_id.region or region)
        else:
            obj = None
            oid = _check_id(object_id)
            name = self.resolve_region(region)
        if verify and obj is None:
            obj = self.get_object(oid, region=name)
        if obj is not None and obj.problem:
            raise ApiError(
                f"Object {oid!r} is not downloaded: {obj.problem}",
                hint="Ask 8x8 support to correct the object's metadata",
            )
        if obj is not None and obj.state and not obj.is_available:
            raise _not_available(obj)
        sink = _sink_for(dst)
        return self._download(oid, name, obj if verify else None, sink, use_presigned_url, chunk_size)

    def _download(
        self,
        object_id: str,
        region: str,
        expected: StoredObject | None,
        sink: SinkFactory,
        use_presigned_url: bool,
        chunk_size: int,
    ) -> DownloadResult:
        budget = self.retry_policy.budget()
        path = f"objects/{quote(object_id, safe='')}/content"
        url_path = urlsplit(self._url(region, path)).path
        expected_md5 = expected.md5 if expected else None
        if expected is not None and expected_md5 is None:
            self.log.debug("Object %s has checksum %r, not a plain MD5: size check only.", object_id, expected.checksum)
        attempts = 0
        refused_before = False
        while True:
            attempts += 1
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            try:
                with sink() as out:
                    resp = self._open_content(object_id, region, path, budget, use_presigned_url)
                    with resp:
                        for chunk in resp.iter_content(chunk_size):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                    self.stats.add(bytes_downloaded=size)
                    md5 = digest.hexdigest()
                    if expected is not None:
                        _check_integrity(expected, size, md5, expected_md5, url_path)
                return DownloadResult(
                    object_id=object_id,
                    size=size,
                    md5=md5,
                    verified=expected_md5 is not None,
                    attempts=attempts,
                )
            except (*_TRANSIENT_BODY_ERRORS, IntegrityError) as err:
                reason = str(err) if isinstance(err, IntegrityError) else f"{type(err).__name__} mid-body"
                if self._wait_for_retry(budget, "GET", url_path, reason):
                    continue
                if isinstance(err, IntegrityError):
                    raise IntegrityError(
                        f"Object {object_id} failed verification on all {attempts} attempt(s): {err.message}",
                        method="GET",
                        path=url_path,
                        hint="The copy was discarded; re-run later, and contact 8x8 support if it persists",
                    ) from None
                raise TransportError(
                    f"Downloading object {object_id} failed on all {max(attempts, budget.used + 1)} attempts"
                    f"{self._through(self.settings.api_base_url)}: {type(err).__name__}",
                    method="GET",
                    path=url_path,
                    hint="The partial copy was discarded; raise max_retries or timeout for a flaky network",
                ) from None
            except (InvalidRequestError, PermissionDeniedError, NotFoundError, ApiError) as err:
                # 8x8 answers content requests for non-AVAILABLE objects with an undocumented 4xx
                # (400, 403, 404, 405, 409 and 410 are all plausible): ask the object's state.
                if isinstance(err, ApiError) and err.status not in _REFUSAL_STATUSES:
                    raise
                try:
                    current = self._state_after_refusal(object_id, region)
                except NotFoundError as missing:
                    if isinstance(err, NotFoundError):
                        raise err from None
                    raise NotFoundError(
                        f"Object {object_id} is not known in region {region!r} (its content was refused with "
                        f"HTTP {err.status}, and its metadata is not found)",
                        status=missing.status,
                        method="GET",
                        path=url_path,
                        hint="It may have been deleted, or it lives in another region (objects are region-scoped)",
                    ) from err
                if current is not None and not current.is_available:
                    raise _not_available(current) from err
                if (
                    current is not None
                    and not refused_before
                    and self._wait_for_retry(
                        budget, "GET", url_path, f"HTTP {err.status}, refused while the object is {current.state}"
                    )
                ):
                    refused_before = True  # once: its state may have changed back (PENDING, then AVAILABLE)
                    continue
                raise

    def _open_content(
        self, object_id: str, region: str, path: str, budget: RetryBudget, use_presigned_url: bool
    ) -> requests.Response:
        if not use_presigned_url:
            return self._send("GET", region, path, stream=True, budget=budget, accept="*/*")
        url = self.get_presigned_url(object_id, region=region)
        while True:
            self.stats.add(requests=1)
            try:
                resp = self.get_conn().get(url, stream=True, timeout=self._timeout, **self._route_kwargs(url))
            except _TRANSIENT_BODY_ERRORS as err:
                self._network_failure(err, url)
                if self._wait_for_retry(budget, "GET", "(pre-signed URL)", type(err).__name__):
                    continue
                raise TransportError(
                    f"The pre-signed URL of object {object_id} could not be fetched from {host_and_port(url)} after "
                    f"{budget.used + 1} attempt(s){self._through(url)}: {type(err).__name__}",
                    method="GET",
                    path="(pre-signed URL)",
                    hint="Check the network path to 8x8's storage host"
                    + (" and the proxy (or NO_PROXY)" if self.network.route(url).via else ""),
                ) from None
            if is_retryable_status(resp.status_code) and self._wait_for_retry(
                budget, "GET", "(pre-signed URL)", f"HTTP {resp.status_code}", resp.headers.get("Retry-After")
            ):
                resp.close()
                continue
            if resp.status_code >= 400:
                resp.close()
                raise ApiError(
                    f"The pre-signed URL of object {object_id} failed",
                    status=resp.status_code,
                    method="GET",
                    path="(pre-signed URL)",
                    hint="Pre-signed URLs expire after about 30 minutes; download again",
                )
            return resp

    def _state_after_refusal(self, object_id: str, region: str) -> StoredObject | None:
        """The object's metadata after 8x8 refused its content, ``None`` if unreadable; NotFoundError if unknown."""
        try:
            return self.get_object(object_id, region=region)
        except NotFoundError:
            raise
        except EightByEightError:
            return None

    # ------------------------------------------------------------------ restore and delete

    def restore_object(self, object_id: str, expiration_days: int = 7, *, region: str | None = None) -> dict:
        """
        Ask 8x8 to restore an ARCHIVED object. Asynchronous: it becomes AVAILABLE after hours (up to ~24 h).

        :param expiration_days: days (1..10) the restored copy is kept before 8x8 removes it again.
        :return: 8x8's answer (usually ``{"expirationDays": n}``).
        :raises PermissionDeniedError: when the key may only read or download.
        """
        object_id = _check_id(object_id)
        if isinstance(expiration_days, bool) or not isinstance(expiration_days, int) or not 1 <= expiration_days <= 10:
            raise ConfigurationError(
                f"expiration_days must be a whole number from 1 to 10, got {expiration_days!r}",
                hint="8x8 keeps a restored copy for 1 to 10 days (default 7)",
            )
        name = self.resolve_region(region)
        body = self._request_json(
            "POST",
            name,
            f"objects/{quote(object_id, safe='')}/restore",
            json={"expirationDays": expiration_days},
        )
        return body if isinstance(body, dict) else {"expirationDays": expiration_days}

    def get_objects(self, object_ids: Iterable[str], *, region: str | None = None) -> dict[str, StoredObject]:
        """
        Current metadata of many objects by id, in any state: one ``id=in=(...)`` search per 100 ids
        (not a request per id). Ids 8x8 does not know in the region are absent from the result.
        """
        ids = list(dict.fromkeys(_check_id(i) for i in object_ids))
        name = self.resolve_region(region)
        found: dict[str, StoredObject] = {}
        every_state = any_of(*(comparison("objectState", "==", s.value) for s in ObjectState))
        for start in range(0, len(ids), MAX_PAGE_SIZE):
            batch = ids[start : start + MAX_PAGE_SIZE]
            wanted = set(batch)
            fiql = all_of(any_of(*(comparison("id", "==", i) for i in batch)), every_state)
            for obj in self._iter_region(name, fiql, "createdTime", "ASC", MAX_PAGE_SIZE):
                if obj.id in wanted:
                    found[obj.id] = obj
        return found

    def delete_objects(
        self,
        object_ids: Iterable[str],
        *,
        region: str | None = None,
        batch_size: int = DELETE_BATCH_SIZE,
        expect_md5: Mapping[str, str] | None = None,
    ) -> DeleteResult:
        """
        Delete objects at 8x8 (``DELETE /bulk``), in batches, and report what 8x8 confirms.

        Each batch is read first: ids already REVOKED or DELETED are ``already_deleted`` and not sent (two
        runs deleting overlapping sets report each delete once; only calls made at the very same moment can
        both report one), ids 8x8 does not know are ``not_found`` and not sent.
        8x8 documents no body for the answer, so after each batch the ids are read back
        (:meth:`get_objects`, or one metadata read per id where the search cannot select by ``id``): only
        ids that then read REVOKED or DELETED count as deleted, ids 8x8 does not know are ``not_found``, and
        ids still in another state are ``failed`` with why (quoting 8x8's own status for the id when its
        answer carries per-id statuses). A batch that fails is reported and the other batches still run;
        authentication and permission errors stop at once.

        :param object_ids: ids to delete (duplicates are sent once; an empty list sends nothing).
        :param region: the region of every id (see :meth:`resolve_regions`).
        :param batch_size: ids per request (1..1000).
        :param expect_md5: Optional. The MD5 a caller proved it holds for some ids: such an id is deleted
            only if 8x8's plain MD5 for it, read just before the call, is that one (``failed`` otherwise).
        """
        if isinstance(object_ids, str):
            raise ConfigurationError("object_ids must be a list of ids, not one string")
        ids = list(dict.fromkeys(_check_id(i) for i in object_ids))
        if not 1 <= batch_size <= 1000:
            raise ConfigurationError(f"batch_size must be from 1 to 1000, got {batch_size!r}")
        if not ids:
            return DeleteResult()
        name = self.resolve_region(region)
        expected = expect_md5 or {}
        deleted: list[str] = []
        not_found: list[str] = []
        already: list[str] = []
        failed: dict[str, str] = {}
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            try:
                before = self._read_back(batch, name)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:
                failed.update(dict.fromkeys(batch, f"not deleted: its state could not be read first: {err}"))
                continue
            gone_before = {
                i for i, o in before.items() if o.state in (ObjectState.REVOKED.value, ObjectState.DELETED.value)
            }
            not_found.extend(i for i in batch if i not in before)
            already.extend(i for i in batch if i in gone_before)
            batch = [i for i in batch if i in before and i not in gone_before]
            for object_id in [i for i in batch if i in expected]:
                if before[object_id].md5 != str(expected[object_id]).lower():
                    failed[object_id] = (
                        f"not deleted: 8x8's checksum for it ({before[object_id].checksum!r}) is not the MD5 of "
                        f"the copy this run proved ({expected[object_id]})"
                    )
            batch = [i for i in batch if i not in failed]
            if not batch:
                continue
            refusal: EightByEightError | None = None
            try:
                with self._send("DELETE", name, "bulk", json=batch) as resp:
                    said = _per_id_statuses(_json_or_none(resp), batch)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:  # e.g. 404 for unknown ids: some may still have been deleted
                refusal = err
                said = _per_id_statuses(_json_of_text(err.server_message), batch)
            try:
                current = self._read_back(batch, name)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:
                self.log.error("Could not confirm the deletion of %d object(s): %s", len(batch), err)
                failed.update(dict.fromkeys(batch, f"deletion not confirmed: {refusal or err}"))
                continue
            for object_id in batch:
                obj = current.get(object_id)
                quoted = f" (8x8 answered {said[object_id]!r} for it)" if object_id in said else ""
                if obj is None:
                    not_found.append(object_id)
                elif obj.state in (ObjectState.REVOKED.value, ObjectState.DELETED.value):
                    deleted.append(object_id)
                elif refusal is not None:
                    failed[object_id] = f"{refusal}{quoted}"
                else:
                    failed[object_id] = f"8x8 accepted the delete but the object is still {obj.state}{quoted}"
        if failed or not_found or already:
            self.log.warning(
                "Deleted %d object(s) at 8x8; %d not deleted, %d not found, %d already deleted before this call.",
                len(deleted),
                len(failed),
                len(not_found),
                len(already),
            )
        return DeleteResult(
            deleted=tuple(deleted), failed=failed, not_found=tuple(not_found), already_deleted=tuple(already)
        )

    def _read_back(self, ids: list[str], region: str) -> dict[str, StoredObject]:
        """
        The current metadata of ``ids`` (absent: unknown to 8x8), to confirm a delete: one ``id`` search
        (:meth:`get_objects`), or one metadata read per id when the search cannot select by ``id`` (it
        answers 400, or finds none of the ids while the first one reads fine on its own).
        """
        try:
            found = self.get_objects(ids, region=region)
        except InvalidRequestError as err:
            self.log.info("8x8 refused to search by id (%s); reading the %d object(s) one by one.", err, len(ids))
            return self._read_each(ids, region)
        if found or not ids:
            return found
        try:  # none found: unknown ids, or a search that ignores the ``id`` selector; one read tells which
            first = self.get_object(ids[0], region=region)
        except NotFoundError:
            return found
        self.log.info("8x8's search did not select by id; reading the %d object(s) one by one.", len(ids))
        return {first.id: first, **self._read_each(ids[1:], region)}

    def _read_each(self, ids: list[str], region: str) -> dict[str, StoredObject]:
        found: dict[str, StoredObject] = {}
        for object_id in ids:
            try:
                found[object_id] = self.get_object(object_id, region=region)
            except NotFoundError:
                continue
        return found

    # ------------------------------------------------------------------ bulk (zip) downloads

    @staticmethod
    def plan_bulk_batches(
        objects: Iterable[StoredObject], limit_bytes: int = BULK_LIMIT_BYTES
    ) -> list[list[StoredObject]]:
        """
        Split objects into bulk jobs whose total ``storedBytes`` stays within ``limit_bytes``.

        Keeps the given order (first fit). Objects of unknown size count as ``limit_bytes`` (one job each).

        :raises ConfigurationError: for an object larger than the limit (download it on its own instead).
        """
        batches: list[list[StoredObject]] = []
        current: list[StoredObject] = []
        total = 0
        for obj in objects:
            size = obj.size if obj.size is not None else limit_bytes
            if size > limit_bytes:
                raise ConfigurationError(
                    f"Object {obj.id} ({size} bytes) exceeds the {limit_bytes} byte bulk download limit",
                    hint="Download it with the 'objects' strategy instead of a bulk zip",
                )
            if current and total + size > limit_bytes:
                batches.append(current)
                current, total = [], 0
            current.append(obj)
            total += size
        if current:
            batches.append(current)
        return batches

    def start_bulk_download(
        self,
        objects: Sequence[str | StoredObject],
        *,
        region: str | None = None,
        limit_bytes: int = BULK_LIMIT_BYTES,
    ) -> list[BulkJob]:
        """
        Start bulk zip downloads for objects, split into jobs under the 2 GB limit by ``storedBytes``.

        :param objects: StoredObjects (their sizes are used as they are) or ids (metadata is read first).
        :return: one job per batch, in order.
        """
        if isinstance(objects, str) or not objects:
            raise ConfigurationError("start_bulk_download needs a non-empty list of object ids")
        name = self.resolve_region(region)
        resolved = [o if isinstance(o, StoredObject) else self.get_object(o, region=name) for o in objects]
        jobs = []
        for batch in self.plan_bulk_batches(resolved, limit_bytes):
            body = self._request_json("POST", name, "bulk/download/start", json=[o.id for o in batch])
            jobs.extend(_read_jobs(body, name, "POST", self._url(name, "bulk/download/start"))[:1])
        return jobs

    def get_bulk_job(self, zip_name: str, *, region: str | None = None, presign: bool = False) -> BulkJob:
        """The status of one bulk job (``presign=True`` asks for a pre-signed zip ``url``)."""
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/status/{quote(zip_name, safe='')}"
        body = self._request_json("GET", name, path, params={"presignUrl": "true"} if presign else None)
        jobs = _read_jobs(body, name, "GET", self._url(name, path))
        for job in jobs:
            if job.zip_name == zip_name:
                return job
        return jobs[0]

    def list_bulk_jobs(self, *, region: str | None = None) -> list[BulkJob]:
        """Every bulk job of this key in the region."""
        name = self.resolve_region(region)
        body = self._request_json("GET", name, "bulk/download/status")
        return _read_jobs(body, name, "GET", self._url(name, "bulk/download/status"), allow_empty=True)

    def wait_for_bulk_job(
        self,
        zip_name: str,
        *,
        region: str | None = None,
        poll_interval: float = 15.0,
        timeout: float = 6 * 3600,
    ) -> BulkJob:
        """
        Poll a bulk job until it finishes.

        :return: the job, DONE or PARTIAL_DONE.
        :raises BulkJobError: when it ends FAILED or CANCELLED, or ``timeout`` seconds pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_bulk_job(zip_name, region=region)
            if job.is_terminal:
                if job.has_zip:
                    return job
                raise BulkJobError(
                    f"Bulk download {zip_name} ended {getattr(job.status, 'value', job.status)}",
                    hint="Start it again, or use the 'objects' strategy",
                )
            if time.monotonic() + poll_interval > deadline:
                raise BulkJobError(
                    f"Bulk download {zip_name} did not finish within {timeout:.0f} s "
                    f"(last status {getattr(job.status, 'value', job.status)})",
                    hint="Raise the timeout, or cancel the job and use the 'objects' strategy",
                )
            time.sleep(poll_interval)

    def download_bulk_zip(
        self,
        zip_name: str,
        dst: Destination,
        *,
        region: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> DownloadResult:
        """
        Stream a finished bulk job's zip to a path or binary file object (atomically for paths).

        :return: the zip's size (``md5`` is ``None``: 8x8 gives no checksum for the zip, so hashing it would
            check nothing; verify the entries against each object's checksum instead).
        """
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/{quote(zip_name, safe='')}"
        url_path = urlsplit(self._url(name, path)).path
        budget = self.retry_policy.budget()
        sink = _sink_for(dst)
        attempts = 0
        while True:
            attempts += 1
            size = 0
            try:
                with sink() as out:
                    resp = self._send("GET", name, path, stream=True, budget=budget, accept="application/zip, */*")
                    with resp:
                        if "json" in resp.headers.get("Content-Type", "").lower():
                            body = self._decode_json(resp, "GET", url_path)
                            raise BulkJobError(
                                f"Bulk download {zip_name} has no zip yet",
                                method="GET",
                                path=url_path,
                                server_message=str(body)[:300],
                                hint="Wait until its status is DONE (wait_for_bulk_job)",
                            )
                        for chunk in resp.iter_content(chunk_size):
                            out.write(chunk)
                            size += len(chunk)
                self.stats.add(bytes_downloaded=size)
                return DownloadResult(zip_name, size, None, verified=False, attempts=attempts)
            except _TRANSIENT_BODY_ERRORS as err:
                if self._wait_for_retry(budget, "GET", url_path, f"{type(err).__name__} mid-body"):
                    continue
                raise TransportError(
                    f"Downloading bulk zip {zip_name} failed {attempts} times"
                    f"{self._through(self.settings.api_base_url)}: {type(err).__name__}",
                    method="GET",
                    path=url_path,
                ) from None

    def cancel_bulk_job(self, zip_name: str, *, region: str | None = None) -> list[BulkJob]:
        """Cancel a bulk job (PUT, falling back to POST for older API revisions)."""
        zip_name = _check_id(zip_name, "zip name")
        name = self.resolve_region(region)
        path = f"bulk/download/cancel/{quote(zip_name, safe='')}"
        try:
            body = self._request_json("PUT", name, path)
        except InvalidRequestError as err:
            if err.status != 405:
                raise
            body = self._request_json("POST", name, path)
        return _read_jobs(body, name, "PUT", self._url(name, path), allow_empty=True)

    def clear_bulk_jobs(self, *, region: str | None = None) -> list[BulkJob]:
        """Clear this key's bulk download task list."""
        name = self.resolve_region(region)
        body = self._request_json("PUT", name, "bulk/download/clear")
        return _read_jobs(body, name, "PUT", self._url(name, "bulk/download/clear"), allow_empty=True)

    # ------------------------------------------------------------------ Airflow UI

    def test_connection(self) -> tuple[bool, str]:
        """Get a token and the regions: ``(True, "Authenticated; regions: ...")`` or ``(False, reason)``."""
        # A Test is a question, not a job: at most TEST_RETRIES retries per request, so an unreachable 8x8 or a
        # typo in a URL answers in seconds instead of after the connection's full retry schedule.
        policy = self.retry_policy
        self.__dict__["retry_policy"] = replace(policy, max_retries=min(policy.max_retries, TEST_RETRIES))
        try:
            TOKEN_CACHE.invalidate(self._cache_key)
            self.get_token()
            regions = self.get_regions(refresh=True)
            configured = self.region or self.settings.region
            if configured and configured not in regions:
                return (
                    False,
                    f"Authenticated, but region {configured!r} is not one of this account's regions "
                    f"({', '.join(regions) or 'none'}); fix the connection's region extra.",
                )
            listed = ", ".join(regions) or "none"
            route = self.network.route(self.settings.api_base_url)
            notable = route.via or route.verify is False or self.settings.ca_bundle
            reached = f" Reached 8x8 {self.network.describe(self.settings.api_base_url)}." if notable else ""
            if configured and len(regions) > 1:
                return True, (
                    f"Authenticated; regions: {listed}. Tasks use region {configured!r} unless they name one." + reached
                )
            if len(regions) > 1:
                return True, (
                    f"Authenticated; regions: {listed}. Tasks that name no region search every region of the "
                    "account (set Region to limit them to one)." + reached
                )
            return True, f"Authenticated; regions: {listed}" + (f".{reached}" if reached else "")
        except EightByEightError as err:
            return False, self._for_test(str(err))
        except Exception as err:
            return False, self._for_test(f"{type(err).__name__}: {err}")
        finally:
            self.__dict__["retry_policy"] = policy
            self.close()

    def _for_test(self, message: str) -> str:
        """
        A test's message without the connection id: the UI's Test button tests a copy under a random id
        (``AucHSGHb``) that would only confuse; "this connection" is the one being tested either way.
        """
        quoted = repr(self.eightbyeight_conn_id)
        return message.replace(f"connection {quoted}", "this connection").replace(
            f"Connection {quoted}", "This connection"
        )


# ---------------------------------------------------------------------- helpers (module-private)


def _not_available(obj: StoredObject) -> ObjectNotAvailableError:
    hint = (
        "Restore it first (restore_object or EightByEightRestoreObjectsOperator); it takes hours"
        if obj.state == ObjectState.ARCHIVED.value
        else "Only AVAILABLE objects can be downloaded"
    )
    return ObjectNotAvailableError(f"Object {obj.id} is {obj.state}, not AVAILABLE", hint=hint, state=obj.state)


def _check_integrity(expected: StoredObject, size: int, md5: str, expected_md5: str | None, path: str) -> None:
    if expected.size is not None and size != expected.size:
        raise IntegrityError(f"got {size} bytes, 8x8 lists {expected.size}", method="GET", path=path)
    if expected_md5 is not None and md5 != expected_md5:
        raise IntegrityError(f"MD5 {md5} does not match 8x8's checksum {expected_md5}", method="GET", path=path)


def _sink_for(dst: Destination) -> SinkFactory:
    """A factory of write targets, one per attempt: atomic temp file for paths, rewind for file objects."""
    if callable(dst) and not hasattr(dst, "write"):
        return dst
    if isinstance(dst, str | os.PathLike):
        target = Path(dst)
        if target.is_dir():
            raise ConfigurationError(f"Destination {str(target)!r} is a directory; give a file path")
        return lambda: atomic_local_file(target)
    if not hasattr(dst, "write"):
        raise ConfigurationError(
            f"Destination must be a path or a writable binary file object, got {type(dst).__name__}"
        )
    handle = cast("IO[bytes]", dst)
    return lambda: _rewinding(handle)


@contextmanager
def _rewinding(handle: IO[bytes]) -> Iterator[IO[bytes]]:
    try:
        start = handle.tell() if handle.seekable() else None
    except (OSError, ValueError):
        start = None
    try:
        yield handle
    except (*_TRANSIENT_BODY_ERRORS, IntegrityError):
        if start is None:
            raise ConfigurationError(
                "The download failed mid-body and the destination file object cannot be rewound to retry",
                hint="Pass a file path or a seekable file object",
            ) from None
        handle.seek(start)
        handle.truncate()
        raise


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json() if resp.content and resp.content.strip() else None
    except ValueError:
        return None


def _strip_html(text: str) -> str:
    return " ".join(_TAGS.sub(" ", text).split())


def _server_message(resp: requests.Response, body: Any) -> str | None:
    """The most useful human message in an error response (JSON fields, else the text without HTML)."""
    if isinstance(body, dict):
        parts = []
        for key in ("ErrorCode", "error", "Error", "message", "detail", "error_description", "errors"):
            value = body.get(key)
            if value:
                parts.append(value if isinstance(value, str) else str(value))
        if parts:
            return ": ".join(dict.fromkeys(parts))
    if isinstance(body, str) and body:
        return body
    text = (resp.text or "").strip()
    return _strip_html(text)[:300] or None


def _products(body: dict) -> list[str] | None:
    listed = body.get("api_product_list_json")
    if isinstance(listed, list):
        return [str(p).strip() for p in listed]
    text = body.get("api_product_list")
    if isinstance(text, list):
        return [str(p).strip() for p in text]
    if isinstance(text, str) and text.strip():
        return [p.strip() for p in text.strip().strip("[]").split(",") if p.strip()]
    return None


def _read_jobs(body: Any, region: str, method: str, url: str, *, allow_empty: bool = False) -> list[BulkJob]:
    items = body if isinstance(body, list) else ([body] if body else [])
    jobs = []
    for item in items:
        try:
            jobs.append(BulkJob.from_api(item, region))
        except ValueError:
            continue
    if not jobs and not allow_empty:
        raise ApiError(
            "8x8 answered a bulk download call without a job status",
            method=method,
            path=urlsplit(url).path,
            server_message=str(body)[:200],
        )
    return jobs


def _json_of_text(text: str | None) -> Any:
    """The JSON value in an error's server message, if it is one (else ``None``)."""
    if not text or text.strip()[:1] not in ("[", "{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _per_id_statuses(body: Any, ids: Sequence[str]) -> dict[str, str]:
    """
    Per-id statuses in an answer to ``DELETE /bulk``, if 8x8 sent any (the body is undocumented): a list of
    ``{"id"|"objectId": ..., "status"|"message"|...: ...}`` or of ``"<id>:<status>"`` strings, such a list
    under ``content``/``results``/``items``/``objects``/``statuses``, or a mapping of id to status. Only the
    ``ids`` sent count, so an ordinary message body is never read as a status.
    """
    wanted = set(ids)
    if isinstance(body, dict):
        for key in ("content", "results", "items", "objects", "statuses"):
            if isinstance(body.get(key), list):
                return _per_id_statuses(body[key], ids)
        return {k: str(v) for k, v in body.items() if k in wanted and isinstance(v, str | int | float | bool)}
    statuses: dict[str, str] = {}
    for item in body if isinstance(body, list) else ():
        if isinstance(item, str):
            object_id, colon, status = item.partition(":")
            if colon and object_id.strip() in wanted:
                statuses[object_id.strip()] = status.strip()
        elif isinstance(item, dict):
            object_id = str(item.get("id") or item.get("objectId") or item.get("object_id") or "")
            parts = [
                str(item[k])
                for k in ("status", "objectState", "result", "error", "reason", "message")
                if item.get(k) not in (None, "")
            ]
            if object_id in wanted and parts:
                statuses[object_id] = ": ".join(dict.fromkeys(parts))
    return statuses


def _error_class(status: int) -> type[EightByEightError]:
    return RateLimitError if status == 429 else ApiError


def _created_ms(obj: StoredObject) -> int | None:
    """An object's ``createdTime`` in epoch ms (8x8 gives whole seconds), or ``None``."""
    return None if obj.created is None else round(obj.created.timestamp() * 1000)
