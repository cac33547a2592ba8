"""A small client of a running emulator's admin API (``/_emulator/``), standard library only.

The ``add`` command of the CLI uses it; tests and scripts may too::

    client = AdminClient("http://127.0.0.1:8088")
    client.info()["accounts"][0]["regions"]
    client.add_objects("us-east", [{"type": "voicemail", "size": 4000}])

Errors are :class:`EmulatorClientError` whose text names the problem and the fix (start the emulator, the
URL to pass, the CA to trust). Requests go straight to the emulator, never through a proxy of the environment:
it listens on loopback only.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

#: How to start an emulator, for error messages.
START_HINT = (
    "start one with `python -m airflow_provider_eightbyeight.testing` (or `eightbyeight-emulator`, `make emulator`) "
    "and pass the Base URL it prints with --url"
)


class EmulatorClientError(Exception):
    """A request to the emulator's admin API failed; the text says what happened and how to fix it."""


def normalise_url(url: str) -> str:
    """
    The emulator's base URL from what a user passes: its base URL, with or without a trailing slash, or any
    admin URL it prints (``.../_emulator/info``).

    :param url: ``http://127.0.0.1:<port>`` or ``https://127.0.0.1:<port>``, optionally followed by ``/`` or
        ``/_emulator/...``.
    :return: The base URL without a trailing slash.
    :raises ValueError: ``url`` is not an http:// or https:// URL with a host.
    """
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"--url {url!r} is not an http:// or https:// URL; pass the Base URL the emulator prints, "
            "e.g. --url http://127.0.0.1:8088"
        )
    try:
        parsed.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"--url {url!r} has a bad port ({exc}); pass e.g. --url http://127.0.0.1:8088") from exc
    path = parsed.path.split("/_emulator", 1)[0].rstrip("/")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


class AdminClient:
    """
    Calls a running emulator's ``/_emulator/`` API.

    :param url: The emulator's base URL (see :func:`normalise_url`).
    :param ca_bundle: Optional. A PEM file of CAs to trust for https:// (the emulator's ``ca_path``, printed as
        ``CA:`` with ``--tls``); default the system's CAs.
    :param timeout: Seconds to wait for a connection and for each answer.
    :raises ValueError: A malformed ``url`` or an unreadable ``ca_bundle``.
    """

    def __init__(self, url: str, *, ca_bundle: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = normalise_url(url)
        self.timeout = timeout
        try:
            context = ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--ca-bundle {ca_bundle!r} is not a readable PEM file of CAs: {exc}") from exc
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def info(self) -> dict[str, Any]:
        """``GET /_emulator/info``: base URL, token URL, regions and accounts (with their regions)."""
        info = self.request("GET", "info")
        if not isinstance(info, dict) or not isinstance(info.get("accounts"), list):
            raise EmulatorClientError(self._not_the_emulator("GET /_emulator/info gave no emulator info"))
        return info

    def account_regions(self) -> list[str]:
        """The regions of the emulator's accounts (those an Airflow connection to it can search), in order."""
        regions: list[str] = []
        for account in self.info()["accounts"]:
            for region in account.get("regions") or []:
                if region not in regions:
                    regions.append(region)
        return regions

    def add_objects(self, region: str, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """
        ``POST /_emulator/objects``: add objects to one region, all at once (a search sees all or none).

        :param region: The region, e.g. ``us-east``.
        :param objects: One dict per object (``type``, ``size``, ``created``, ``state``, ``tags``, ... as in the
            admin API); ``{}`` for a seeded-looking call recording created now.
        :return: The objects created (ObjectResponse dicts).
        """
        answer = self.request("POST", "objects", {"region": region, "objects": objects})
        if not isinstance(answer, dict) or not isinstance(answer.get("objects"), list):
            raise EmulatorClientError(self._not_the_emulator("POST /_emulator/objects gave no objects"))
        return answer["objects"]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """
        One admin call; its JSON answer.

        :param method: HTTP method.
        :param path: The path after ``/_emulator/``.
        :param body: Optional. A JSON body.
        :raises EmulatorClientError: Unreachable, not the emulator, TLS refused, or an error answer.
        """
        url = f"{self.base_url}/_emulator/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise EmulatorClientError(self._http_error(method, path, exc)) from exc
        except urllib.error.URLError as exc:
            raise EmulatorClientError(self._connection_error(exc.reason)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise EmulatorClientError(self._connection_error(exc)) from exc
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise EmulatorClientError(self._not_the_emulator(f"{method} /_emulator/{path} answered non-JSON")) from exc

    # -- messages ------------------------------------------------------------------------------------------
    def _not_the_emulator(self, what: str) -> str:
        return (
            f"{self.base_url} is not the emulator's base URL ({what}); pass the URL it prints as "
            "'Base URL:' (or 'base_url' with --json), e.g. --url http://127.0.0.1:8088"
        )

    def _http_error(self, method: str, path: str, exc: urllib.error.HTTPError) -> str:
        try:
            raw = exc.read()
        except OSError:
            raw = b""
        message = raw.decode("utf-8", "replace").strip()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            message = parsed["message"]
        if exc.code in (404, 405):  # every admin path exists on the emulator: this URL is not its base URL
            return self._not_the_emulator(f"{method} /_emulator/{path} answered {exc.code}")
        return f"the emulator at {self.base_url} refused {method} /_emulator/{path} ({exc.code}): {message[:500]}"

    def _connection_error(self, reason: object) -> str:
        where = f"the emulator at {self.base_url}"
        if isinstance(reason, ssl.SSLCertVerificationError):
            return (
                f"cannot verify the certificate of {where} ({reason.verify_message}): an emulator started with "
                "--tls has its own CA; pass the path it prints as 'CA:' (or 'ca_path' with --json) with --ca-bundle"
            )
        if isinstance(reason, ssl.SSLError):
            return f"TLS with {where} failed ({reason}); if it was started without --tls, use an http:// URL"
        if isinstance(reason, ConnectionRefusedError):
            return f"cannot connect to {where}: connection refused, nothing listens there; {START_HINT}"
        if isinstance(reason, socket.gaierror):
            return f"cannot connect to {where}: unknown host ({reason}); {START_HINT}"
        if isinstance(reason, TimeoutError | socket.timeout):
            return f"cannot connect to {where}: no answer within {self.timeout:g} s (see --timeout); {START_HINT}"
        if isinstance(reason, http.client.RemoteDisconnected | ConnectionResetError | http.client.BadStatusLine):
            return (
                f"{where} closed the connection without an HTTP answer ({reason}); if it was started with --tls, "
                "use its https:// URL (and --ca-bundle with the CA it prints)"
            )
        return f"cannot connect to {where}: {reason}; {START_HINT}"
