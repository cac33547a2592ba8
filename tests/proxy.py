"""A real forward proxy for the tests: Debian's tinyproxy on loopback (CONNECT, optional basic auth)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TINYPROXY = shutil.which("tinyproxy") or "/usr/sbin/tinyproxy"
#: The marks of a test module that needs the proxy: skipped (saying how to get it) where it is not installed,
#: and the machine's own proxy and CA variables cleared.
NEEDS_TINYPROXY = [
    pytest.mark.skipif(
        not os.path.exists(TINYPROXY),
        reason="Debian's tinyproxy is not installed: `make test` installs it (apt-get install tinyproxy)",
    ),
    pytest.mark.usefixtures("no_ambient_network"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tinyproxy:
    """
    ``tinyproxy -d`` with its own config, log and port (files outside the tests' temp folder: its log is
    the proxy's, not ours). ``user``/``password``: require basic auth.
    """

    def __init__(self, user: str | None = None, password: str | None = None, *, extra: tuple[str, ...] = ()) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="8x8-tinyproxy-"))
        self.port = _free_port()
        self.log_path = self.folder / "proxy.log"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            f'LogFile "{self.log_path}"',
            "LogLevel Info",
            f'PidFile "{self.folder / "proxy.pid"}"',
            "MaxClients 100",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if user and password:
            lines.append(f"BasicAuth {user} {password}")
        lines.extend(extra)  # e.g. "ConnectPort 443": CONNECT to other ports is refused with 403
        conf = self.folder / "proxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        self._stderr = (self.folder / "stderr.txt").open("w")  # a pipe nobody reads would fill and stall it
        self.proc = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=self._stderr, text=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tinyproxy exited: {(self.folder / 'stderr.txt').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("tinyproxy did not start listening")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tunnels(self, port: int) -> int:
        """CONNECT requests the proxy received for ``127.0.0.1:port``."""
        return self.log().count(f"CONNECT 127.0.0.1:{port}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)
