"""Registration with Airflow: provider info, connection form, CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from importlib import resources

import jsonschema
import pytest

from airflow_provider_eightbyeight.get_provider_info import get_provider_info
from tests.helpers import airflow_cli


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
        "oauth_url",
        "api_version",
        "timeout",
        "max_retries",
    }
    for field in conn["conn-fields"].values():
        assert field["label"] and field["description"] and field["schema"]["type"]
    region = conn["conn-fields"]["region"]["schema"]  # suggestions (a datalist in Airflow 3's form), free text kept
    assert region["examples"] == ["us-west", "us-east", "uk", "ap", "ca"] and "enum" not in region
    assert "string" in region["type"]


def test_providers_manager_registers_hook_and_form():
    """
    The hook, its extra fields and its standard fields' labels, as the UI gets them: Airflow 3.2+ from the
    provider info (``conn-fields``); 2.11 from the hook's WTForms widgets; 3.0 and 3.1 from the same widgets, with
    WTForms and Flask-AppBuilder stood in for by Airflow's API when they are not installed.
    """
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_eightbyeight.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_2_PLUS:
            from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

            if not AIRFLOW_V_3_1_PLUS and importlib.util.find_spec("flask_appbuilder") is None:
                pytest.skip("Airflow 3.0 shows no provider's extra fields without apache-airflow-providers-fab")

            before = set(sys.modules)
            try:
                hooks, widgets, behaviours = HookMetaService._get_hooks_with_mocked_fab()
            finally:  # it leaves stand-ins for wtforms & co. in sys.modules, which break its next call
                for name in set(sys.modules) - before:
                    if not getattr(sys.modules[name], "__file__", None):
                        del sys.modules[name]
            manager = ProvidersManager()
        else:
            manager = ProvidersManager()
            hooks, widgets, behaviours = manager.hooks, manager.connection_form_widgets, manager.field_behaviours
        assert "airflow-provider-eightbyeight" in manager.providers
        hook = hooks["eightbyeight"]
        behaviour = behaviours["eightbyeight"]
    assert hook is not None
    assert hook.hook_name == "8x8 Cloud Storage" and hook.connection_testable
    assert hook.connection_id_attribute_name == "eightbyeight_conn_id"
    assert "extra__eightbyeight__region" in widgets and "extra__eightbyeight__max_retries" in widgets
    assert behaviour["relabeling"]["login"] == "API key" and behaviour["relabeling"]["password"] == "Secret"
    assert "enter 0" in behaviour["relabeling"]["port"] and "3.3.2" in behaviour["relabeling"]["port"]
    placeholder = behaviour["placeholders"]["port"]  # a number there reads as a value already entered
    assert placeholder and not any(c.isdigit() for c in placeholder), placeholder
    assert set(behaviour["hidden_fields"]) == {"host", "schema"}  # port: see the README's "Test button"
    ours = [name.rsplit("__", 1)[-1] for name in widgets if "eightbyeight" in name]
    assert not any("token" in name for name in ours), "Airflow masks extras named *token*"
    mine = [w for w in caught if "eightbyeight" in str(w.message).lower()]
    assert not mine, [str(w.message) for w in mine]


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
    assert "Connection success!" in output
    # What the UI's Test button runs in the API server: the stored connection's hook test_connection().
    script = (
        "from airflow.models.connection import Connection\n"
        f"print(Connection.get_connection_from_secrets({conn_id!r}).test_connection())"
    )
    via_hook = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "_AIRFLOW_PROCESS_CONTEXT": "server"},  # as the API server and the CLI run it
    )
    assert via_hook.returncode == 0, via_hook.stderr[-2000:]
    assert "(True, 'Authenticated; regions: us-east')" in via_hook.stdout
    assert emulator.secret not in output + via_hook.stdout + via_hook.stderr
    assert emulator.stats()["token_requests"] == 2


def test_distribution_metadata_and_typing_marker():
    from importlib import metadata, resources

    dist = metadata.distribution("airflow-provider-eightbyeight")
    assert dist.metadata["Requires-Python"] == ">=3.10"
    requires = dist.requires or []
    assert any(r.startswith("apache-airflow>=2.11.0") for r in requires)
    assert any(r.startswith("apache-airflow-providers-common-compat>=") for r in requires)
    assert any(r.startswith("requests") for r in requires) and any(r.startswith("pendulum") for r in requires)
    entry_points = {(e.group, e.name): e.value for e in dist.entry_points}
    assert entry_points[("apache_airflow_provider", "provider_info")] == (
        "airflow_provider_eightbyeight.get_provider_info:get_provider_info"
    )
    assert ("console_scripts", "eightbyeight-emulator") in entry_points
    assert resources.files("airflow_provider_eightbyeight").joinpath("py.typed").is_file()


def test_one_version_everywhere() -> None:
    """The package's __version__ is the distribution's (pyproject reads it), the provider info's and the README's."""
    from importlib.metadata import version

    from airflow_provider_eightbyeight import __version__
    from airflow_provider_eightbyeight.get_provider_info import get_provider_info
    from tests.helpers import ROOT

    assert version("airflow-provider-eightbyeight") == __version__
    assert get_provider_info()["versions"][0] == __version__
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()
    changes = (ROOT / "README.md").read_text().split("## Changes", 1)
    assert len(changes) == 2 and f"### {__version__} " in changes[1], "the README's Changes lack this release"


def test_the_form_below_airflow_3_2_has_the_same_fields_as_conn_fields():
    """Airflow 2.11, 3.0 and 3.1 build the form from the hook's WTForms widgets (they ignore conn-fields)."""
    for name in ("wtforms", "flask_appbuilder"):
        if not getattr(pytest.importorskip(name), "__file__", None):  # a stand-in Airflow's API left
            pytest.skip(f"{name} is not installed")
    from airflow_provider_eightbyeight.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook

    widgets = EightByEightHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)
    for name, widget in widgets.items():
        assert widget.args[0] == CONN_FIELDS[name]["label"]
        assert widget.kwargs["description"] == CONN_FIELDS[name]["description"]
    kinds = {name: widget.field_class.__name__ for name, widget in widgets.items()}
    assert kinds["max_retries"] == "IntegerField" and kinds["proxy_password"] == "PasswordField"
    assert kinds["verify"] == "BooleanField" and kinds["region"] == "StringField"
    behaviour = EightByEightHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }


def test_the_readme_documents_every_extra_field_of_the_form():
    """A field the form shows that the README's connection table leaves out is a field nobody can look up."""
    from airflow_provider_eightbyeight.connection_form import CONN_FIELDS
    from tests.helpers import ROOT

    section = (ROOT / "README.md").read_text().split("\n## The connection\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| "))
    missing = [name for name in CONN_FIELDS if f"`{name}`" not in table]
    assert not missing, f"README's connection table lacks the extras {missing}"
    assert str(len(CONN_FIELDS)) in (ROOT / "README.md").read_text().split("Extra Fields lists all", 1)[1][:4]
