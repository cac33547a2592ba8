"""
The ``eightbyeight`` connection type and its form fields. Pure constants.

Kept free of Airflow imports: Airflow's ProvidersManager imports this (through ``get_provider_info``)
while Airflow itself may still be initialising.

Airflow 3.2+ builds the form from ``conn-fields`` and ``ui-field-behaviour`` in the provider info. Older
Airflows (2.11's Flask-AppBuilder UI, 3.0 and 3.1) ask the hook instead: :func:`form_widgets` and
:func:`field_behaviour` give them the same fields as WTForms widgets, built from the same definitions.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "eightbyeight"
DEFAULT_CONN_ID = "eightbyeight_default"
DEFAULT_API_BASE_URL = "https://api.8x8.com"
DEFAULT_API_VERSION = "v3"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 1.0
DEFAULT_RETRY_MAX_WAIT = 60.0
MAX_MAX_RETRIES = 20
#: Every documented storage region (contract, "Regions"): the Region field's suggestions, and the regions discovery
#: falls back through if a region's /regions answers 404. Accounts may have others: free text stays accepted.
DOCUMENTED_REGIONS = ("us-west", "us-east", "uk", "ap", "ca")
#: The label of the standard Port field: 8x8 needs no port, but the Test button of Airflow 3.3.1 and 3.3.2 only
#: works for a connection stored with one (apache/airflow#73298 fixes it after 3.3.2; README, "Test button").
PORT_LABEL = "Port (8x8 needs none; on Airflow 3.3.1-3.3.2 enter 0 for the Test button)"
#: Its placeholder: words, not a number that reads as a value already entered.
PORT_PLACEHOLDER = "none needed (see the label)"

#: The connection form's custom fields (``conn-fields`` in the provider info).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "label": "Region",
        "description": f"8x8 storage region ({', '.join(DOCUMENTED_REGIONS)}; pick one or type another). Leave "
        "empty to let tasks that name no region search every region of the account.",
        # ``examples``: Airflow 3's form offers them as suggestions (an HTML datalist) and still takes free text.
        "schema": {"type": ["string", "null"], "examples": list(DOCUMENTED_REGIONS)},
    },
    "api_base_url": {
        "label": "API base URL",
        "description": f"Root of the 8x8 API. Default {DEFAULT_API_BASE_URL}. HTTPS only, except loopback "
        "addresses (a local emulator) or when 'Allow insecure HTTP' is set.",
        "schema": {"type": ["string", "null"], "format": "url"},
    },
    "oauth_url": {
        "label": "OAuth token URL",
        "description": "OAuth token endpoint. Default {api_base_url}/oauth/v2/token, so setting the API "
        "base URL is usually enough. (The old extra name token_url is still read.)",
        "schema": {"type": ["string", "null"], "format": "url"},
    },
    "api_version": {
        "label": "API version",
        "description": f"Cloud Storage API version in the URL path. Default {DEFAULT_API_VERSION}.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": f"Seconds to wait for 8x8 to connect or send data. Default {DEFAULT_TIMEOUT:g}.",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a failed request (HTTP 429 and 5xx, connection errors, timeouts) with "
        f"exponential backoff. Default {DEFAULT_MAX_RETRIES}.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_MAX_RETRIES},
    },
    "proxy": {
        "label": "Proxy",
        "description": "HTTP(S) proxy for every request to 8x8, e.g. http://proxy.example.com:3128 (user:password@ "
        "allowed; the password is masked). Default: the environment's HTTPS_PROXY / HTTP_PROXY and NO_PROXY, as "
        "requests uses them. 'direct' ignores the environment's proxies.",
        "schema": {"type": ["string", "null"]},
    },
    "proxy_password": {
        "label": "Proxy password",
        "description": "Password for the proxy's user (instead of writing it in the Proxy URL).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Path (on the workers and triggerer) of a PEM file of the CAs to trust, e.g. your "
        "network's TLS-inspection CA. Default: REQUESTS_CA_BUNDLE or SSL_CERT_FILE if set, else certifi's CAs.",
        "schema": {"type": ["string", "null"]},
    },
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Check 8x8's certificate (default true). False only for a test server: it warns on every use.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "client_cert": {
        "label": "Client certificate",
        "description": "Path of a PEM client certificate (with its key, or give Client key), for a proxy or "
        "gateway that asks for one. Default none.",
        "schema": {"type": ["string", "null"]},
    },
    "client_key": {
        "label": "Client key",
        "description": "Path of the client certificate's PEM private key, if not in the certificate file.",
        "schema": {"type": ["string", "null"]},
    },
    "allow_insecure": {
        "label": "Allow insecure HTTP",
        "description": "Allow an http:// base URL that is not a loopback address. Never for real 8x8.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}

#: How the standard fields look (``ui-field-behaviour``): Port stays visible, since the Test button of Airflow
#: 3.3.1-3.3.2 only works for a connection stored with a port (README, "Test button"); 8x8 itself needs none. Airflow 3
#: shows placeholders of the standard fields only; the extra fields' defaults are in their descriptions.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema"],
    "relabeling": {"login": "API key", "password": "Secret", "port": PORT_LABEL},
    "placeholders": {
        "login": "API key from 8x8 Admin Console > API Keys",
        "password": "The key's secret",
        "port": PORT_PLACEHOLDER,
    },
}


def field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` as ``BaseHook.get_ui_field_behaviour`` returns it (Airflow below 3.2)."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def _kind(field: dict[str, Any]) -> str:
    schema = field["schema"]
    types = [t for t in schema["type"] if t != "null"]
    return "password" if schema.get("format") == "password" else types[0]


def form_widgets() -> dict[str, Any]:
    """
    :data:`CONN_FIELDS` as WTForms fields, as ``BaseHook.get_connection_form_widgets`` returns them (Airflow
    below 3.2). Needs ``wtforms`` and ``flask_appbuilder`` (Airflow 2.11 has them; on 3.0 and 3.1 they come
    with apache-airflow-providers-fab): without them Airflow shows the standard fields and the Extra box.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, field in CONN_FIELDS.items():
        label, description, kind = field["label"], field["description"], _kind(field)
        schema = field["schema"]
        if kind == "boolean":
            widgets[name] = BooleanField(label, description=description, default=schema.get("default", False))
        elif kind == "integer":
            limits = NumberRange(min=schema.get("minimum"), max=schema.get("maximum"))
            widgets[name] = IntegerField(
                label, description=description, widget=BS3TextFieldWidget(), validators=[Optional(), limits]
            )
        elif kind == "password":
            widgets[name] = PasswordField(label, description=description, widget=BS3PasswordFieldWidget())
        else:  # strings, and numbers (a StringField keeps "60.5"; the hook validates it with a clear error)
            widgets[name] = StringField(label, description=description, widget=BS3TextFieldWidget())
    return widgets
