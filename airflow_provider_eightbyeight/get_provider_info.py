"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_eightbyeight import __version__
from airflow_provider_eightbyeight.connection_form import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR

INTEGRATION = "8x8 Cloud Storage"


def get_provider_info() -> dict[str, Any]:
    """The provider's description: connection type and form, hooks, operators, sensors, triggers."""
    return {
        "package-name": "airflow-provider-eightbyeight",
        "name": INTEGRATION,
        "description": "Move 8x8 call recordings, transcripts, voicemails and other Cloud Storage objects "
        "into your data platform.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://developer.8x8.com/analytics/docs/cloud-storage-service",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_eightbyeight.hooks.eightbyeight"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_eightbyeight.operators.list_objects",
                    "airflow_provider_eightbyeight.operators.transfer",
                    "airflow_provider_eightbyeight.operators.manage",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_eightbyeight.sensors.eightbyeight"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_eightbyeight.triggers.eightbyeight",
                    "airflow_provider_eightbyeight.triggers.new_objects",
                ],
            }
        ],
        "extra-links": [
            "airflow_provider_eightbyeight.operators.links.EightByEightDestinationLink",
            "airflow_provider_eightbyeight.operators.links.EightByEightManifestLink",
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook",
                "hook-name": INTEGRATION,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
