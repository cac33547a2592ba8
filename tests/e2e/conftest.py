"""
Fixtures of the end-to-end suite: one emulator process and one running Airflow deployment per session
(started only when an e2e test is selected), and a headless Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS
from tests.e2e.checks import CONN_ID
from tests.e2e.deployment import ROOT, USER, AirflowDeployment, EmulatorProcess

#: Debian's Chromium (browsers cannot be downloaded here); ``make test`` installs it.
CHROMIUM = os.environ.get("EIGHTBYEIGHT_CHROMIUM", "/usr/bin/chromium")
#: What the emulator serves: two regions (the account has both), objects over the first days of November.
EMULATOR_ARGS = (
    "--regions",
    "us-east,uk",
    "--objects",
    "30",
    "--seed",
    "11",
    "--size-min",
    "2000",
    "--size-max",
    "30000",
    "--created-start",
    "2026-11-01T00:00:00Z",
    "--created-end",
    "2026-11-08T00:00:00Z",
    "--bulk-delay",
    "1",
    "--restore-delay",
    "2",
)


#: Where the suite saves screenshots (kept after the run; printed at the end of the session).
ARTIFACTS = Path(os.environ.get("EIGHTBYEIGHT_E2E_ARTIFACTS") or tempfile.gettempdir()) / "8x8-e2e-screenshots"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.is_dir() and any(ARTIFACTS.iterdir()):
        shots = ", ".join(sorted(p.name for p in ARTIFACTS.iterdir()))
        terminalreporter.write_line(f"End-to-end screenshots in {ARTIFACTS}: {shots}")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshot folder, emptied at the start of the session."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def e2e_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="8x8-e2e-"))
    yield folder
    if not os.environ.get("EIGHTBYEIGHT_KEEP_E2E"):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def emulator_process(e2e_dir: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(e2e_dir, *EMULATOR_ARGS)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def destinations(e2e_dir: Path) -> dict[str, Path]:
    names = ("daily", "backfill", "archive", "restored", "new")
    folders = {name: e2e_dir / "dest" / name for name in names}
    for folder in folders.values():
        folder.mkdir(parents=True)
    return folders


@pytest.fixture(scope="session")
def deployment(
    e2e_dir: Path, emulator_process: EmulatorProcess, destinations: dict[str, Path]
) -> Iterator[AirflowDeployment]:
    home = e2e_dir / "airflow_home"
    home.mkdir()
    env = {
        "AIRFLOW_VAR_EIGHTBYEIGHT_DESTINATION": destinations["daily"].as_uri() + "/",
        "AIRFLOW_VAR_EIGHTBYEIGHT_BACKFILL": destinations["backfill"].as_uri() + "/",
        "AIRFLOW_VAR_EIGHTBYEIGHT_ARCHIVE": destinations["archive"].as_uri() + "/",
        "AIRFLOW_VAR_EIGHTBYEIGHT_RESTORED": destinations["restored"].as_uri() + "/",
        "AIRFLOW_VAR_EIGHTBYEIGHT_NEW_RECORDINGS": destinations["new"].as_uri() + "/",
        # the event-driven example's watcher polls every 2 s (read when the DAG file is parsed)
        "EIGHTBYEIGHT_WATCH_POLL_SECONDS": "2",
        # a killed triggerer's triggers go to a new one after 10 s without heartbeat (default 30 s)
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    }
    if AIRFLOW_V_3_0_PLUS:
        airflow = AirflowDeployment(home, ROOT / "example_dags", env)
    else:  # webserver (Flask UI, REST API v1), scheduler and triggerer
        from tests.e2e.airflow2 import Airflow2Deployment

        airflow = Airflow2Deployment(home, ROOT / "example_dags", env)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `make test` (it installs Debian's chromium) or set "
            "EIGHTBYEIGHT_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, deployment: AirflowDeployment) -> Iterator[Any]:
    """A browser page logged in to the deployment's UI as its user."""
    login_path, login_marker = deployment.LOGIN
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{deployment.url}{login_path}")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", deployment.password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: login_marker not in url)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def connection(deployment: AirflowDeployment, emulator_process: EmulatorProcess) -> dict[str, Any]:
    """The 8x8 connection, saved in Airflow's database through the REST API (as the UI saves it)."""
    info = emulator_process.info
    body = {
        "connection_id": CONN_ID,
        "conn_type": "eightbyeight",
        "login": info["key"],
        "password": info["secret"],
        "extra": json.dumps({"api_base_url": info["base_url"]}),
    }
    deployment.api("DELETE", f"connections/{CONN_ID}", expect=(204, 404))
    deployment.api("POST", "connections", json=body, expect=(201,))
    return body
