"""
Airflow 2.11's Flask-AppBuilder UI (the webserver of a running deployment), driven in headless Chromium like a
user: log in, add the 8x8 connection through its form (the hook's WTForms widgets), press Test, save, read a
transfer's task log; and the event-driven example's import error, which names the version and the sensor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS
from tests.e2e.deployment import AirflowDeployment, EmulatorProcess

pytestmark = pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2's Flask UI (Airflow 3's: test_ui.py)")


def _open_form(page: Any, deployment: AirflowDeployment) -> None:
    page.goto(f"{deployment.url}/connection/add")
    page.select_option("#conn_type", "eightbyeight")
    page.locator("#extra__eightbyeight__region").wait_for()


def _fill(page: Any, conn_id: str, key: str, secret: str, base_url: str) -> None:
    page.fill("#conn_id", conn_id)
    page.fill("#login", key)
    page.fill("#password", secret)
    page.fill("#port", "0")
    page.fill("#extra__eightbyeight__api_base_url", base_url)


def _press_test(page: Any) -> tuple[dict[str, Any], str]:
    """Press Test; the REST API's answer and the alert the user sees."""
    with page.expect_response(lambda r: "/api/v1/connections/test" in r.url) as answer:
        page.click("#test-connection")
    alert = page.locator(".alert").filter(has_text=" ").last
    alert.wait_for()
    return answer.value.json(), alert.inner_text()


def test_the_form_is_labelled_tests_ok_and_saves_the_extras(
    page: Any, deployment: AirflowDeployment, emulator_process: EmulatorProcess, artifacts: Path
) -> None:
    """A new user's path on Airflow 2: Add a new record, pick "8x8 Cloud Storage", read the form, fill it, Test."""
    info = emulator_process.info
    conn_id = "eightbyeight_from_form"
    deployment.api("DELETE", f"connections/{conn_id}", expect=(204, 404))
    _open_form(page, deployment)
    form = page.locator("#model_form").inner_text()
    for text in (
        "API key",
        "Secret",
        "Port (8x8 needs none; on Airflow 3.3.1-3.3.2 enter 0",
        "Region",
        "every region of the account",
        "API base URL",
        "Default https://api.8x8.com",
        "OAuth token URL",
        "Timeout (seconds)",
        "Max retries",
        "Allow insecure HTTP",
    ):
        assert text in form, text
    assert not page.locator("#host").is_visible() and not page.locator("#schema").is_visible()
    _fill(page, conn_id, info["key"], info["secret"], info["base_url"])
    page.screenshot(path=str(artifacts / "airflow2-1-connection-form.png"), full_page=True)
    body, alert = _press_test(page)
    assert body["status"] is True, body
    assert "Authenticated; regions: us-east, uk" in alert, alert
    page.screenshot(path=str(artifacts / "airflow2-2-test-result.png"), full_page=True)
    assert info["secret"] not in page.content()
    page.locator("#model_form").get_by_role("button", name="Save").first.click()
    page.get_by_text("Added Row").wait_for()  # Flask-AppBuilder's flash message after a save
    stored = deployment.api("GET", f"connections/{conn_id}")
    assert json.loads(stored["extra"])["api_base_url"] == info["base_url"] and stored["port"] == 0


def test_a_wrong_secret_fails_with_words_for_this_connection(
    page: Any, deployment: AirflowDeployment, emulator_process: EmulatorProcess
) -> None:
    info = emulator_process.info
    wrong = "not-the-secret-" + info["secret"][::-1]
    _open_form(page, deployment)
    _fill(page, "eightbyeight_wrong", info["key"], wrong, info["base_url"])
    body, alert = _press_test(page)
    assert body["status"] is False
    assert "rejected the API key and secret of this connection" in alert, alert
    assert wrong not in page.content() and wrong not in json.dumps(body)


def test_a_task_log_shows_what_the_transfer_did(page: Any, deployment: AirflowDeployment, artifacts: Path) -> None:
    """The transfer's log in the UI (a run of the daily export made by the example-DAG tests)."""
    dag_id, task_id = "example_eightbyeight_daily_export", "copy_recordings_and_transcripts"
    runs = deployment.api("GET", f"dags/{dag_id}/dagRuns", params={"state": "success"})["dag_runs"]
    assert runs, "the example-DAG tests leave a successful daily export run"
    run_id = runs[0]["dag_run_id"]
    query = urlencode({"dag_run_id": run_id, "task_id": task_id, "tab": "logs"})  # run ids hold "+" and ":"
    page.goto(f"{deployment.url}/dags/{dag_id}/grid?{query}")
    page.get_by_text("Transfer finished:").first.wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "airflow2-3-task-log.png"), full_page=True)


def test_the_event_driven_example_says_why_it_cannot_load(deployment: AirflowDeployment) -> None:
    deployment.wait_for_dag("example_eightbyeight_daily_export")
    errors = deployment.import_errors()  # type: ignore[attr-defined]
    [(path, error)] = errors.items()
    assert path.endswith("example_eightbyeight_new_recordings.py")
    assert "needs event-driven scheduling, which Airflow 3.0 added" in error
    assert "EightByEightObjectsSensor(deferrable=True)" in error
