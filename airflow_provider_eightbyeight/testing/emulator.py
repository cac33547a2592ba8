"""The public facade: :class:`EightByEightEmulator` starts the HTTP server and exposes ground truth."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow_provider_eightbyeight.testing.api import CssApi
from airflow_provider_eightbyeight.testing.config import Account, EmulatorConfig
from airflow_provider_eightbyeight.testing.content import CHUNK_SIZE
from airflow_provider_eightbyeight.testing.faults import FaultInjector, FaultRule
from airflow_provider_eightbyeight.testing.models import NO_ITEM
from airflow_provider_eightbyeight.testing.server import EmulatorHTTPServer
from airflow_provider_eightbyeight.testing.state import Store, StoreError

if TYPE_CHECKING:
    from airflow_provider_eightbyeight.testing.tls import EmulatorTls

LOOPBACK_NAMES = ("localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1 or localhost)."""
    return host in LOOPBACK_NAMES or host.startswith("127.")


class EightByEightEmulator:
    """A local 8x8 Cloud Storage Service (plus OAuth token endpoint) over real HTTP or HTTPS.

    >>> with EightByEightEmulator(EmulatorConfig(objects_per_region=10)) as emu:  # doctest: +SKIP
    ...     form = {"grant_type": "client_credentials"}
    ...     requests.post(emu.token_url, auth=(emu.key, emu.secret), data=form)

    With ``tls=True`` (or ``EmulatorConfig(tls=True)``) ``start()`` makes a throwaway CA and a server
    certificate for 127.0.0.1/localhost in a temporary folder (removed by ``stop()``) and serves HTTPS;
    trust :attr:`ca_path` (``requests.get(..., verify=emu.ca_path)``). :attr:`other_ca_path` is a CA
    that did not sign the certificate (verification with it fails).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: bool | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"The emulator only listens on loopback addresses, not {host!r}")
        self.config = config if config is not None else EmulatorConfig()
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        #: Serve HTTPS (``None``: ``config.tls``); read at ``start()``.
        self.tls: bool = self.config.tls if tls is None else tls
        self._tls: EmulatorTls | None = None
        self.store = Store(self.config)
        self.faults = FaultInjector(self.config.seed)
        self.api = CssApi(self.store, self.faults)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> EightByEightEmulator:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        material: EmulatorTls | None = None
        if self.tls:
            from airflow_provider_eightbyeight.testing.tls import DEFAULT_HOSTS, EmulatorTls

            material = EmulatorTls((*DEFAULT_HOSTS, self.host))
        try:
            server = EmulatorHTTPServer(
                (self.host, self.port), self.api, material.context if material is not None else None
            )
        except BaseException:
            if material is not None:
                material.cleanup()
            raise
        if self._tls is not None:
            self._tls.cleanup()
        self._tls = material
        self.port = server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.api.base_url = f"{self.scheme}://{host}:{self.port}"
        self.api.token_url = self.api.base_url + "/oauth/v2/token"
        self.api.ca_path = self.ca_path
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="8x8-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tls is not None:
            self._tls.cleanup()  # the paths stay known, the files are gone

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def __enter__(self) -> EightByEightEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials -------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """``"https"`` with TLS, else ``"http"``."""
        return "https" if self.tls else "http"

    @property
    def ca_path(self) -> str | None:
        """Path of the CA certificate (``ca.pem``) that signed the server certificate; ``None`` without TLS.

        Trust it with ``verify=emu.ca_path`` (requests), ``REQUESTS_CA_BUNDLE`` or the connection's CA
        bundle extra. The file is removed by ``stop()``.
        """
        return self._tls_files().ca_path if self.tls else None

    @property
    def other_ca_path(self) -> str | None:
        """Path of a second CA (``other-ca.pem``) that did NOT sign the server certificate (for tests of a
        wrong CA bundle: verification with it fails); ``None`` without TLS.
        """
        return self._tls_files().other_ca_path if self.tls else None

    @property
    def server_cert_path(self) -> str | None:
        """Path of the server certificate (``server.pem``); ``None`` without TLS."""
        return self._tls_files().server_cert_path if self.tls else None

    def _tls_files(self) -> EmulatorTls:
        if self._tls is None:
            raise RuntimeError("The emulator is not started; call start() or use it as a context manager")
        return self._tls

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://...`` with TLS (the client's ``api_base_url``)."""
        if not self.api.base_url:
            raise RuntimeError("The emulator is not started; call start() or use it as a context manager")
        return self.api.base_url

    @property
    def token_url(self) -> str:
        """``base_url + "/oauth/v2/token"``."""
        return self.base_url + "/oauth/v2/token"

    def storage_url(self, region: str, version: str = "v3") -> str:
        """``base_url/storage/<region>/<version>`` (no trailing slash)."""
        return f"{self.base_url}/storage/{region}/{version}"

    @property
    def account(self) -> Account:
        """The first configured account."""
        return self.config.accounts[0]

    @property
    def key(self) -> str:
        """The first account's API key."""
        return self.account.key

    @property
    def secret(self) -> str:
        """The first account's secret."""
        return self.account.secret

    @property
    def regions(self) -> tuple[str, ...]:
        """The first account's regions."""
        return self.account.regions

    def connection_uri(self, **extras: Any) -> str:
        """An Airflow connection URI: ``eightbyeight://key:secret@/?api_base_url=...&<extras>``."""
        query = {"api_base_url": self.base_url, **{k: _extra_text(v) for k, v in extras.items()}}
        return f"eightbyeight://{quote(self.key, safe='')}:{quote(self.secret, safe='')}@/?" + urlencode(
            query, quote_via=quote
        )

    def connection_json(self, **extras: Any) -> str:
        """An Airflow JSON connection (for ``AIRFLOW_CONN_<ID>``); with TLS pass the CA as an extra the
        hook reads (e.g. ``ca_bundle=emu.ca_path``), nothing is added by itself.
        """
        return json.dumps(
            {
                "conn_type": "eightbyeight",
                "login": self.key,
                "password": self.secret,
                "extra": {"api_base_url": self.base_url, **extras},
            }
        )

    # -- ground truth --------------------------------------------------------------------------
    def objects(self, region: str, states: Sequence[str] | str | None = None) -> list[dict[str, Any]]:
        """All objects of ``region`` as ObjectResponse dicts (newest first), optionally by state."""
        wanted = EmulatorConfig.parse_states(states)
        return [o.to_dict() for o in self._call(lambda: self.store.all_objects(region, wanted))]

    def get(self, object_id: str) -> dict[str, Any]:
        """One object (any region, any state); ``KeyError`` if unknown."""
        try:
            return self.store.get_object(object_id).to_dict()
        except StoreError as exc:
            raise KeyError(object_id) from exc

    def region_of(self, object_id: str) -> str:
        """The region holding ``object_id``; ``KeyError`` if unknown."""
        with self.store.lock:
            return self.store.id_region[object_id]

    def content(self, object_id: str) -> bytes:
        """The object's full expected bytes (use :meth:`iter_content` for big objects)."""
        return b"".join(self.iter_content(object_id))

    def iter_content(self, object_id: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The object's expected bytes in chunks (flat memory)."""
        try:
            source = self.store.get_object(object_id).content
        except StoreError as exc:
            raise KeyError(object_id) from exc
        return source.iter_chunks(chunk_size=chunk_size)

    def md5(self, object_id: str) -> str:
        """Hex MD5 of the object's real bytes (even when ``checksum`` is multipart-style)."""
        try:
            return self.store.get_object(object_id).content.md5()
        except StoreError as exc:
            raise KeyError(object_id) from exc

    def add_object(
        self,
        region: str,
        *,
        type: str = "callrecording",
        size: int | None = None,
        created: datetime | str | float | None = None,
        state: str = "AVAILABLE",
        tags: dict[str, str] | Iterable[Any] | None = None,
        object_name: str | None = None,
        mime_type: str | None = None,
        bucket_id: str | None = None,
        checksum: str | None = None,
        object_id: str | None = None,
        wire: dict[str, Any] | None = None,
        wire_drop: Sequence[str] = (),
        wire_item: Any = NO_ITEM,
    ) -> dict[str, Any]:
        """
        Add an object; ``created`` defaults to the emulated now, tags/name to realistic ones.

        A malformed answer about it can be injected (search and get serve it; :meth:`get` and
        :meth:`objects` keep the true form): ``wire`` sets fields to any JSON (``{"checksum": 5}``),
        ``wire_drop`` leaves fields out (``["id"]``), ``wire_item`` serves any JSON instead of the object.

        :param object_id: Optional. The object's id, exactly as given (e.g. ``" X"``), instead of a UUID.
        """
        record = self._call(
            lambda: self.store.add_object(
                region,
                obj_type=type,
                size=size,
                created=created,
                state=state,
                tags=tags,
                object_name=object_name,
                mime_type=mime_type,
                bucket_id=bucket_id,
                checksum=checksum,
                object_id=object_id,
                wire_patch=wire,
                wire_drop=wire_drop,
                wire_item=None if wire_item is NO_ITEM else (wire_item,),
            )
        )
        return record.to_dict()

    def set_object_wire(
        self,
        object_id: str,
        *,
        wire: dict[str, Any] | None = None,
        wire_drop: Sequence[str] = (),
        wire_item: Any = NO_ITEM,
    ) -> dict[str, Any]:
        """
        Change how search and get send an existing object from now on (mid-run malformed metadata), with the
        arguments of :meth:`add_object`; with none, it is sent in its true form again. Returns its true form.
        """
        try:
            record = self.store.set_wire(object_id, wire, wire_drop, None if wire_item is NO_ITEM else (wire_item,))
        except StoreError as exc:
            if exc.status == 404:
                raise KeyError(object_id) from exc
            raise ValueError(exc.message) from exc
        return record.to_dict()

    def set_object_state(self, object_id: str, state: str) -> dict[str, Any]:
        """Force an object's state; returns the updated dict."""
        try:
            return self.store.set_state(object_id, state).to_dict()
        except StoreError as exc:
            if exc.status == 404:
                raise KeyError(object_id) from exc
            raise ValueError(exc.message) from exc

    # -- faults, stats, clock ------------------------------------------------------------------
    def add_fault(self, rule: FaultRule | dict[str, Any]) -> FaultRule:
        """Add a fault rule (a :class:`FaultRule` or its dict form)."""
        return self.faults.add(rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()

    def fault_rules(self) -> list[dict[str, Any]]:
        """Active rules with their remaining counts."""
        return self.faults.rules()

    def stats(self) -> dict[str, Any]:
        """Request counters (see ``Stats.snapshot``)."""
        return self.store.stats.snapshot()

    def object_requests(self) -> dict[str, dict[str, int]]:
        """
        Requests per object id and route (``{id: {"content": 1, "delete": 1}}``), counted only while
        ``config.record_object_requests`` is on; ids as the requests named them (path or body).
        """
        return self.store.stats.object_requests()

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.store.stats.reset()

    def advance_clock(self, seconds: float) -> None:
        """Move the emulated clock forward (token expiry, bulk progress, restores, presigned URLs)."""
        self.store.advance_clock(seconds)

    def now(self) -> float:
        """Emulated epoch seconds."""
        return self.store.now()

    def revoke_tokens(self) -> int:
        """Invalidate every issued token (the next CSS call answers 401)."""
        return self.store.revoke_tokens()

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except StoreError as exc:
            raise ValueError(exc.message) from exc


def _extra_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
