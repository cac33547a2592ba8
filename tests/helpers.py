"""Helpers shared by the tests (not fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Fast retries for tests: the real backoff shape, tiny waits.
FAST_RETRY_EXTRAS = {"retry_backoff": 0.01, "retry_max_wait": 0.2}
ROOT = Path(__file__).resolve().parent.parent
#: The bucket S3 tests use on moto's server.
BUCKET = "recordings"
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


def airflow_cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the ``airflow`` CLI of this environment with the suite's AIRFLOW_HOME."""
    return subprocess.run(
        [AIRFLOW_BIN, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
