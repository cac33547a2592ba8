"""HTTP layer of the 8x8 CSS emulator: the fault-aware request handler and response writer on the
standard library's ``ThreadingHTTPServer`` (keep-alive, TCP_NODELAY, 256 KiB writes, daemon threads),
optionally over TLS (the listening socket wrapped by an ``SSLContext``; each connection's handshake
runs in its own thread, so a client that fails or stalls it costs only that connection).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_eightbyeight.testing.api import CssApi
from airflow_provider_eightbyeight.testing.content import CHUNK_SIZE
from airflow_provider_eightbyeight.testing.faults import RESPONSE_KINDS, FaultRule
from airflow_provider_eightbyeight.testing.routing import (
    JSON,
    STREAMED_ROUTES,
    ApiError,
    Reply,
    Request,
    Resolved,
    error_reply,
    json_reply,
)

log = logging.getLogger(__name__)

#: Seconds a client has to complete the TLS handshake.
HANDSHAKE_TIMEOUT = 10.0


class _HandshakeFailed(Exception):
    """The TLS handshake of one connection failed (already logged; the connection is dropped)."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Request handler: reads the request, applies faults, writes the reply."""

    protocol_version = "HTTP/1.1"
    server_version = "8x8-css-emulator/1.0"
    sys_version = ""
    timeout = 300
    server: EmulatorHTTPServer

    def setup(self) -> None:
        self.server.track(self.request, add=True)
        try:
            if isinstance(self.request, ssl.SSLSocket):
                self._handshake(self.request)
            super().setup()
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            self.server.track(self.request, add=False)
            raise

    def _handshake(self, sock: ssl.SSLSocket) -> None:
        sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            sock.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError, timeout, reset, or a socket closed by stop()
            log.warning("8x8 emulator: TLS handshake with %s failed, connection dropped: %s", self.client_address, exc)
            raise _HandshakeFailed(str(exc)) from exc

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, add=False)

    def version_string(self) -> str:
        """The ``Server`` header value."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.config.log_requests:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by the stdlib parser (bad request line, headers): JSON, never 5xx."""
        if code >= 500:
            code = 400
        body = json.dumps({"message": message or HTTPStatus(code).phrase}).encode()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._write_head(code, [("Content-Type", JSON), ("Content-Length", str(len(body)))], body)

    # every method goes through one dispatcher (unknown ones answer 405, never 501)
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    # -- request reading -----------------------------------------------------------------------
    def _read_body(self) -> bytes:
        limit = self.server.api.config.max_body_bytes
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                self.close_connection = True
                raise _BadRequest(400, f"Unsupported Transfer-Encoding {encoding!r}")
            return self._read_chunked(limit)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not raw.strip().isdigit():
            self.close_connection = True
            raise _BadRequest(400, f"Invalid Content-Length {raw!r}")
        length = int(raw)
        if length > limit:
            self.close_connection = True
            raise _BadRequest(413, f"Request body too large ({length} > {limit} bytes)")
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            self.close_connection = True
            raise _BadRequest(400, "Request body shorter than Content-Length")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                self.close_connection = True
                raise _BadRequest(400, "Malformed chunked request body") from exc
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise _BadRequest(413, "Request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- dispatch ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        api = self.server.api
        stats = api.store.stats
        stats.enter()
        route = "unknown"
        try:
            try:
                body = self._read_body()
            except _BadRequest as exc:
                route = "unknown"
                stats.request(route)
                reply = json_reply(exc.status, {"message": exc.message})
                stats.status(route, reply.status)
                self._send(reply, None, route)
                return
            split = urlsplit(self.path)
            request = Request(
                method=self.command.upper(),
                path=split.path or "/",
                query=parse_qs(split.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
            )
            resolved = api.resolve(request)
            route = resolved.route
            stats.request(route)
            fault: FaultRule | None = None
            if resolved.error is None and resolved.kind != "admin":
                recording = api.config.record_object_requests
                ids = api.object_ids(resolved) if recording or api.faults.has_rules() else []
                if recording:
                    stats.objects(route, ids)
                decision = api.faults.decide(route, request.method, ids)
                for kind in decision.kinds:
                    stats.fault(kind)
                if decision.delay > 0:
                    time.sleep(decision.delay)
                fault = decision.fault
            reply = self._produce(resolved, fault)
            # count before writing, so a client that got its answer sees it counted
            stats.status(route, reply.status)
            if api.config.log_requests:
                self.log_request(reply.status)
            stream_fault = fault if fault is not None and fault.kind not in ("status", *RESPONSE_KINDS) else None
            self._send(reply, stream_fault, route)
        finally:
            stats.leave()

    def _produce(self, resolved: Resolved, fault: FaultRule | None) -> Reply:
        if fault is not None and fault.kind == "status":
            return _fault_status_reply(fault)
        if resolved.error is not None:
            return error_reply(resolved.error)
        assert resolved.handler is not None and resolved.context is not None
        if fault is not None and fault.kind == "zip_drop":
            resolved.context.drop_entries = frozenset(fault.object_ids or ())
        if fault is not None and fault.kind == "keep":
            resolved.context.keep_ids = frozenset(fault.object_ids or ())
        try:
            reply = resolved.handler(resolved.context)
            if fault is not None and fault.kind == "bulk_outcome" and reply.status == 200:
                zip_name = json.loads(bytes(reply.body))["zipName"]  # type: ignore[arg-type]
                account = resolved.context.acct
                self.server.api.store.force_bulk_outcome(
                    account.key, zip_name, fault.job_status or "FAILED", fault.object_ids or ()
                )
            return reply
        except ApiError as exc:
            return error_reply(exc)
        except Exception as exc:  # a bug: surface it as a 500 with the reason
            traceback.print_exc(file=sys.stderr)
            return json_reply(500, {"message": f"Emulator error: {type(exc).__name__}: {exc}"})

    # -- response writing ----------------------------------------------------------------------
    def _write_head(self, status: int, headers: list[tuple[str, str]], tail: bytes = b"") -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
        ]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + tail if tail and len(tail) <= 65536 else head)
        if tail and len(tail) > 65536:
            self.wfile.write(tail)

    def _send(self, reply: Reply, fault: FaultRule | None, route: str) -> None:
        head_only = self.command.upper() == "HEAD"
        no_body = head_only or reply.status in (204, 304) or 100 <= reply.status < 200
        headers = list(reply.headers)
        if reply.content_type and reply.status != 204:
            headers.insert(0, ("Content-Type", reply.content_type))
        length = reply.length
        chunked = False
        if reply.status == 204:
            pass
        elif length is not None:
            headers.append(("Content-Length", str(length)))
        elif self.request_version == "HTTP/1.0" or head_only:
            self.close_connection = True
        else:
            chunked = True
            headers.append(("Transfer-Encoding", "chunked"))
        body = reply.body
        try:
            if no_body:
                self._write_head(reply.status, headers)
                _close_iter(body)
                return
            if isinstance(body, bytes | bytearray) and fault is None and not chunked:
                self._write_head(reply.status, headers, bytes(body))
                return
            self._write_head(reply.status, headers)
            self._stream(body, fault, chunked, route in STREAMED_ROUTES, length=reply.length)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError):
            self.close_connection = True
        finally:
            _close_iter(body)

    def _stream(
        self,
        body: bytes | Iterable[bytes],
        fault: FaultRule | None,
        chunked: bool,
        count: bool,
        *,
        length: int | None = None,
    ) -> None:
        chunks: Iterable[bytes] = [bytes(body)] if isinstance(body, bytes | bytearray) else body
        stats = self.server.api.store.stats
        cut = fault.after_bytes if fault is not None and fault.kind in ("reset", "truncate") else None
        flip_from = fault.after_bytes if fault is not None and fault.kind == "corrupt" else None
        known = length if length is not None else (len(body) if isinstance(body, bytes | bytearray) else None)
        if flip_from is not None and known is not None and known > 0:  # an injected corruption changes the body
            flip_from = min(flip_from, known - 1)
        sent = 0
        write = self.wfile.write
        for raw in chunks:
            if not raw:
                continue
            data = _corrupt(raw, sent, flip_from) if flip_from is not None else raw
            if cut is not None and sent + len(data) >= cut:
                data = data[: cut - sent]
                if data:
                    write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                    sent += len(data)
                break
            if count:
                stats.content_bytes(len(data))
            write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
        else:
            if cut is None:
                if chunked:
                    write(b"0\r\n\r\n")
                return
        assert fault is not None
        self._abort(fault.kind)

    def _abort(self, kind: str) -> None:
        self.close_connection = True
        if kind == "reset":
            sock = self.connection
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                sock.close()
            except OSError:
                pass


def _close_iter(body: Any) -> None:
    close = getattr(body, "close", None)
    if callable(close) and not isinstance(body, bytes | bytearray):
        close()


def _corrupt(chunk: bytes, offset: int, flip_from: int, stride: int = 65536) -> bytes:
    """Flip one byte at ``flip_from`` and every ``stride`` bytes after it (absolute offsets)."""
    end = offset + len(chunk)
    if end <= flip_from:
        return chunk
    first = max(flip_from, offset)
    rem = (first - flip_from) % stride
    pos = first if rem == 0 else first + (stride - rem)
    if pos >= end:
        return chunk
    data = bytearray(chunk)
    while pos < end:
        data[pos - offset] ^= 0xFF
        pos += stride
    return bytes(data)


def _fault_status_reply(rule: FaultRule) -> Reply:
    status = int(rule.status or 503)
    headers: list[tuple[str, str]] = []
    if rule.retry_after is not None:
        value = rule.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        headers.append(("Retry-After", str(value)))
    if rule.body is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Injected fault"
        return json_reply(status, {"message": f"{phrase} (injected fault)"}, headers=headers)
    content_type = rule.content_type
    if content_type is None:
        try:
            json.loads(rule.body)
            content_type = JSON
        except json.JSONDecodeError:
            content_type = "text/plain; charset=utf-8"
    return Reply(status, rule.body.encode(), content_type, headers)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server that remembers its open connections so ``stop()`` can end them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False

    def __init__(self, address: tuple[str, int], api: CssApi, ssl_context: ssl.SSLContext | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.api = api
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)
        self.ssl_context = ssl_context
        if ssl_context is not None:
            # accept() returns SSLSockets without a handshake; the handler thread does it (never the accept loop)
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def track(self, sock: socket.socket, add: bool) -> None:
        """Remember / forget an open connection."""
        with self._live_lock:
            if add:
                self._live.add(sock)
            else:
                self._live.discard(sock)

    def close_connections(self) -> None:
        """Shut down every open connection (idle keep-alive ones included)."""
        with self._live_lock:
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                # the plain socket's shutdown: SSLSocket.shutdown would also drop the TLS state under a reader
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects and failed TLS handshakes are routine; print anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | _HandshakeFailed):
            return
        if isinstance(exc, ssl.SSLError):
            log.warning("8x8 emulator: TLS error with %s, connection dropped: %s", client_address, exc)
            return
        super().handle_error(request, client_address)


def iter_bytes(data: bytes, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Split ``data`` into chunks (helper for tests)."""
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]
