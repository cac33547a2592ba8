"""Registration with Airflow: provider info, connection form, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_eightbyeight.get_provider_info import get_provider_info

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised SQLite metadata DB in the suite's AIRFLOW_HOME."""
    done = airflow_cli("db", "migrate", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_provider_info_matches_airflows_schemas():
    info = get_provider_info()
    runtime_schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(info, runtime_schema)
    yaml_schema = json.loads(resources.files("airflow").joinpath("provider.yaml.schema.json").read_text())
    conn_type_schema = yaml_schema["properties"]["connection-types"]
    jsonschema.validate(info["connection-types"], conn_type_schema)
    conn = info["connection-types"][0]
    assert conn["connection-type"] == "eightbyeight"
    assert conn["hook-class-name"] == "airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook"
    assert set(conn["conn-fields"]) >= {
        "region",
        "api_base_url",
        "token_url",
        "api_version",
        "timeout",
        "max_retries",
    }
    for field in conn["conn-fields"].values():
        assert field["label"] and field["description"] and field["schema"]["type"]


def test_providers_manager_registers_hook_and_form():
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager = ProvidersManager()
        assert "airflow-provider-eightbyeight" in manager.providers
        hook = manager.hooks["eightbyeight"]
        widgets = manager.connection_form_widgets
        behaviour = manager.field_behaviours["eightbyeight"]
    assert hook is not None
    assert hook.hook_name == "8x8 Cloud Storage" and hook.connection_testable
    assert hook.connection_id_attribute_name == "eightbyeight_conn_id"
    assert "extra__eightbyeight__region" in widgets and "extra__eightbyeight__max_retries" in widgets
    assert behaviour["relabeling"] == {"login": "API key", "password": "Secret"}
    assert set(behaviour["hidden_fields"]) == {"host", "port", "schema"}
    ours = [w for w in caught if "eightbyeight" in str(w.message).lower()]
    assert not ours, [str(w.message) for w in ours]


def test_airflow_providers_list_shows_the_provider():
    done = airflow_cli("providers", "list", "--output", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "airflow-provider-eightbyeight" in done.stdout


def test_cli_connection_add_then_test_reports_regions(airflow_db, emulator):
    conn_id = "eightbyeight_cli"
    added = airflow_cli(
        "connections",
        "add",
        conn_id,
        "--conn-type",
        "eightbyeight",
        "--conn-login",
        emulator.key,
        "--conn-password",
        emulator.secret,
        "--conn-extra",
        json.dumps({"api_base_url": emulator.base_url}),
    )
    assert added.returncode == 0, added.stderr[-2000:]
    tested = airflow_cli("connections", "test", conn_id)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output[-2000:]
    assert "Authenticated; regions: us-east" in output
    assert emulator.secret not in output
    assert emulator.stats()["token_requests"] == 1
