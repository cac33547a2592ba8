"""
Test set-up shared by the whole suite.

Airflow gets a throw-away home (SQLite) before it is imported, its connections as ``AIRFLOW_CONN_*``
environment variables and its DAGs through ``AIRFLOW__CORE__DAGS_FOLDER``. 8x8 is the emulator from
``airflow_provider_eightbyeight.testing``, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

#: Property tests assert properties, never speed (speed is measured in benchmarks/): no per-example deadline,
#: which a loaded CI machine would miss. ``thorough`` (``--hypothesis-profile=thorough``) tries many more cases.
settings.register_profile("eightbyeight", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "eightbyeight"))

ROOT = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"  # the UI API tests need no login
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-jwt-secret")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.pop("AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT", None)

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS  # noqa: E402
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook  # noqa: E402
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE  # noqa: E402
from airflow_provider_eightbyeight.testing import EightByEightEmulator, EmulatorConfig  # noqa: E402
from tests.helpers import BUCKET, FAST_RETRY_EXTRAS, airflow_cli  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    End-to-end tests (``tests/e2e``) run last and are marked ``e2e``: their Airflow deployment lives until the
    session ends, and its scheduler and triggerer must not share the machine with the timing-sensitive tests.
    """
    e2e = [item for item in items if "/e2e/" in str(item.path)]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    items[:] = [item for item in items if item not in e2e] + e2e


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Every test starts with no cached token, so token counts are the test's own."""
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """The emulator set-up for a test; override in a module to change it."""
    return EmulatorConfig(seed=7)


@pytest.fixture
def emulator(emulator_config: EmulatorConfig) -> Iterator[EightByEightEmulator]:
    """A running emulator (fresh per test)."""
    with EightByEightEmulator(emulator_config) as emu:
        yield emu


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: str | dict) -> str:
    """Give Airflow a connection through its environment variable (URI or JSON)."""
    text = value if isinstance(value, str) else json.dumps(value)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", text)
    return conn_id


@pytest.fixture
def make_hook(
    emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., EightByEightHook]]:
    """
    Build hooks on an ``AIRFLOW_CONN_*`` connection to the emulator.

    ``make_hook(conn_id="x", key=..., secret=..., **extras)``; extras default to fast retries.
    """
    hooks: list[EightByEightHook] = []

    def factory(
        conn_id: str = "eightbyeight_default",
        *,
        key: str | None = None,
        secret: str | None = None,
        hook_kwargs: dict | None = None,
        **extras: object,
    ) -> EightByEightHook:
        extra = {"api_base_url": emulator.base_url, **FAST_RETRY_EXTRAS, **extras}
        set_connection(
            monkeypatch,
            conn_id,
            {
                "conn_type": "eightbyeight",
                "login": emulator.key if key is None else key,
                "password": emulator.secret if secret is None else secret,
                "extra": extra,
            },
        )
        hook = EightByEightHook(conn_id, **(hook_kwargs or {}))
        hooks.append(hook)
        return hook

    yield factory
    for hook in hooks:
        hook.close()


@pytest.fixture
def hook(make_hook: Callable[..., EightByEightHook]) -> EightByEightHook:
    """A hook on the default emulator account."""
    return make_hook()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised SQLite metadata DB in the suite's AIRFLOW_HOME (once per session)."""
    done = airflow_cli("db", "migrate", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="session")
def example_dagbag(airflow_db: None) -> Any:
    """The example DAGs, parsed as Airflow parses them."""
    from tests.helpers import dagbag

    bag = dagbag(dag_folder=str(ROOT / "example_dags"))
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        # Airflow 3.0's dag.test() refuses assets the DB does not know (the DAG processor records them)
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        bag.sync_to_db("dags-folder", None)
    return bag


@pytest.fixture
def run_dag(example_dagbag: Any, emulator: EightByEightEmulator, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """
    Run an example DAG with ``dag.test()`` against the emulator; returns the DagRun.

    ``run_dag(dag_id, logical_date=None, conf=None, variables={...})``; variables become
    ``AIRFLOW_VAR_*`` environment variables.
    """
    monkeypatch.setenv(
        "AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT",
        emulator.connection_json(**FAST_RETRY_EXTRAS),
    )

    def run(
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        conf: dict | None = None,
        variables: dict[str, str] | None = None,
    ) -> Any:
        for name, value in (variables or {}).items():
            monkeypatch.setenv(f"AIRFLOW_VAR_{name.upper()}", value)
        dag = example_dagbag.get_dag(dag_id)
        assert dag is not None, f"{dag_id} not found; import errors: {example_dagbag.import_errors}"
        kwargs: dict[str, Any] = {"run_conf": conf}
        if logical_date is not None:  # Airflow 2 calls it execution_date
            kwargs["logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date"] = logical_date
        if not AIRFLOW_V_3_0_PLUS:  # Airflow 2's dag.test() records dataset events only of datasets in the DB
            import airflow.providers.fab.auth_manager.models  # noqa: F401 - the tables the DAG's rows refer to

            dag.sync_to_db()
        return dag.test(**kwargs)

    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A clean bucket on moto's server, and AIRFLOW_CONN_AWS_MOTO pointing at it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET in existing:
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    else:
        client.create_bucket(Bucket=BUCKET)
    return client


# ---------------------------------------------------------------------------- secret scan over the whole suite
#
#: Environment variables that steer ``requests``' (and so the hook's) network settings.
NETWORK_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "NO_PROXY",
    "no_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture
def no_ambient_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine may set REQUESTS_CA_BUNDLE, proxies and friends (this one does); each test says what it wants."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[Any]:
    """A running tinyproxy without authentication (tests/proxy.py)."""
    from tests.proxy import Tinyproxy

    server = Tinyproxy()
    yield server
    server.stop()


# Every emulator account's secret (12+ characters) and every token any emulator issues is watched for in
# each test's captured output and logs, in the Airflow metadata DB (XCom, rendered template fields,
# next_kwargs, trigger kwargs, ...) and in every text file the tests wrote (manifests, sidecars, DAG logs).
# A single occurrence fails the session.

from airflow_provider_eightbyeight.testing.state import Store  # noqa: E402

WATCHED: set[str] = set()
#: The accounts' secrets (the connections' passwords) among WATCHED.
ACCOUNT_SECRETS: set[str] = set()
LEAKS: list[str] = []
SCANNED = {"outputs": 0, "files": 0, "db bytes": 0}
_issue_token = Store.issue_token
_store_init = Store.__init__


def _watching_init(self: Store, config: EmulatorConfig, *args: Any, **kwargs: Any) -> None:
    _store_init(self, config, *args, **kwargs)
    secrets = {a.secret for a in config.accounts if len(a.secret) >= 12}
    WATCHED.update(secrets)
    ACCOUNT_SECRETS.update(secrets)


def _watching_issue(self: Store, *args: Any, **kwargs: Any) -> Any:
    info = _issue_token(self, *args, **kwargs)
    WATCHED.add(info.token)
    return info


Store.__init__ = _watching_init  # type: ignore[method-assign]
Store.issue_token = _watching_issue  # type: ignore[method-assign]


#: Airflow 3.0's in-process supervisor (``dag.test()``) logs every value a task asks it to mask, at debug level,
#: unredacted: the connection's password, which Airflow masks itself when it reads the connection (3.1 logs no
#: value). That echo of a password is Airflow's and is not counted; a token in it would be (the provider gives its
#: tokens only to the in-process masker there: compat.mask_secret). See the README's Compatibility section.
_AIRFLOW_3_0_MASK_ECHO = re.compile(r"^.*Sending request\s+msg=MaskSecret\(value=.*$", re.MULTILINE)


def _leaks_in(text: str) -> list[str]:
    without_echo = text
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        without_echo = _AIRFLOW_3_0_MASK_ECHO.sub("", text)
    return [w for w in WATCHED if w in (without_echo if w in ACCOUNT_SECRETS else text)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "test_emulator_" in report.nodeid:  # the emulator's own tests handle tokens and secrets by design
        return
    for section, content in report.sections:
        SCANNED["outputs"] += 1
        for leak in _leaks_in(content):
            LEAKS.append(f"{report.nodeid} [{section}]: {leak[:4]}...")
    if report.longrepr:
        for leak in _leaks_in(str(report.longrepr)):
            LEAKS.append(f"{report.nodeid} [failure text]: {leak[:4]}...")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    home = Path(os.environ["AIRFLOW_HOME"])
    for db_file in home.glob("airflow.db*"):
        data = db_file.read_bytes().decode("utf-8", "replace")
        SCANNED["db bytes"] += len(data)
        LEAKS.extend(f"metadata DB {db_file.name}: {leak[:4]}..." for leak in _leaks_in(data))
    basetemp = session.config._tmp_path_factory.getbasetemp() if hasattr(session.config, "_tmp_path_factory") else None
    for root in filter(None, [basetemp, ROOT / ".demo"]):
        for path in Path(root).rglob("*"):
            if path.is_file() and path.suffix in {".json", ".jsonl", ".log", ".txt", ".cfg"}:
                if "test_emulator_" in str(path):
                    continue
                SCANNED["files"] += 1
                for leak in _leaks_in(path.read_text("utf-8", "replace")):
                    LEAKS.append(f"file {path}: {leak[:4]}...")
    if LEAKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"Secret scan: {len(WATCHED)} secrets and tokens watched in {SCANNED['outputs']} captured outputs, "
        f"{SCANNED['files']} files and {SCANNED['db bytes']:,} bytes of metadata DB: {len(LEAKS)} leaks"
    )
    for leak in LEAKS[:50]:
        terminalreporter.write_line(f"  LEAK {leak}")
