"""What the Airflow 3 UI uses, through Airflow's own API app: the connection form and the Test button."""

from __future__ import annotations

import importlib.util
import json

import pytest

from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 has no FastAPI UI")


@pytest.fixture(scope="module")
def api(airflow_db):
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    with TestClient(create_app()) as client:
        # Airflow 3.0 and 3.1 want a token even when every user is an admin (3.2+ let such a request in)
        user = SimpleAuthManagerUser(username="admin", role="ADMIN")
        client.headers["Authorization"] = f"Bearer {get_auth_manager().generate_jwt(user)}"
        yield client


def test_connection_form_is_labelled(api):
    from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_1_PLUS

    if not AIRFLOW_V_3_1_PLUS and importlib.util.find_spec("flask_appbuilder") is None:
        pytest.skip("Airflow 3.0 shows no provider's extra fields without apache-airflow-providers-fab")
    response = api.get("/ui/connections/hook_meta")
    assert response.status_code == 200
    [meta] = [m for m in response.json() if m["connection_type"] == "eightbyeight"]
    assert meta["hook_name"] == "8x8 Cloud Storage"
    standard = meta["standard_fields"]
    assert standard["login"]["title"] == "API key" and standard["password"]["title"] == "Secret"
    assert standard["host"]["hidden"] and standard["url_schema"]["hidden"]
    # Port stays visible (Airflow 3.3's Test button needs a stored port); its label says what to enter
    assert not standard["port"]["hidden"] and "0" in standard["port"]["title"]
    extras = meta["extra_fields"]
    for name, title in {
        "region": "Region",
        "api_base_url": "API base URL",
        "oauth_url": "OAuth token URL",
        "api_version": "API version",
        "timeout": "Timeout (seconds)",
        "max_retries": "Max retries",
        "allow_insecure": "Allow insecure HTTP",
    }.items():
        assert extras[name]["schema"]["title"] == title and extras[name]["description"]


@pytest.mark.parametrize(
    ("secret_suffix", "status", "message"),
    [("", True, "Authenticated; regions: us-east"), ("-wrong", False, "rejected the API key and secret")],
)
def test_test_button(api, emulator, secret_suffix, status, message):
    body = {
        "connection_id": "ui_test",
        "conn_type": "eightbyeight",
        "login": emulator.key,
        "password": emulator.secret + secret_suffix,
        "extra": json.dumps({"api_base_url": emulator.base_url}),
    }
    response = api.post("/api/v2/connections/test", json=body)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] is status and message in result["message"]
    assert emulator.secret not in response.text
    # Airflow tests a copy under a random id: the message must not name it
    assert "connection '" not in result["message"] and "Connection '" not in result["message"]
