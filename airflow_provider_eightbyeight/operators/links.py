"""
The transfer operator's extra links (buttons on its task in the UI): the destination and the run's manifest, in
the object store's web console. A link exists where a console can show the place: S3 (the AWS console) and Google
Cloud Storage; a local or other destination has none (the task log names both: "Destination:", "Manifest:").

The operator pushes both URLs to XCom (:data:`XCOM_KEY`) when the run starts, so a failed or deferred run has its
links too. What a link reads back from XCom is untrusted: anything but an object-store URL gives no link.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_eightbyeight.compat import BaseOperatorLink, XCom

#: The XCom key of ``{"destination": url, "manifest": url}``.
XCOM_KEY = "eightbyeight_links"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AWS = "https://s3.console.aws.amazon.com/s3"
_GCS = "https://console.cloud.google.com/storage/browser"


def browsable_url(url: object, *, folder: bool) -> str:
    """
    The web-console address of a place in an object store, or ``""`` when there is none.

    :param url: an ``s3://bucket/key`` or ``gs://bucket/key`` URL (a connection id before ``@`` is dropped).
    :param folder: the place is a folder (a prefix), not one object.
    """
    if not isinstance(url, str) or not url or any(c in url for c in "\r\n\t\x00"):
        return ""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    bucket = parts.netloc.rpartition("@")[2]
    if not _BUCKET.match(bucket) or parts.query or parts.fragment:
        return ""
    key = parts.path.lstrip("/")
    if folder:
        key = key.rstrip("/") + "/" if key.strip("/") else ""
    elif not key or key.endswith("/"):
        return ""
    if parts.scheme in ("s3", "s3a"):
        if folder:
            return f"{_AWS}/buckets/{bucket}?prefix={quote(key, safe='/')}"
        return f"{_AWS}/object/{bucket}?prefix={quote(key, safe='/')}"
    if parts.scheme in ("gs", "gcs"):
        return (
            f"{_GCS}/{bucket}/{quote(key, safe='/')}" if folder else f"{_GCS}/_details/{bucket}/{quote(key, safe='/')}"
        )
    return ""


def pushed_places(value: object) -> dict[str, str]:
    """The URLs the operator pushed, each kept only if it is a string (what XCom gives back is untrusted)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k in ("destination", "manifest") and isinstance(v, str)}


class _PlaceLink(BaseOperatorLink):
    place = ""
    folder = True

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The console address of this task instance's place, or ``""``."""
        try:
            value = XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
        except Exception:  # no XCom (the task never ran), or a backend that cannot read it
            return ""
        return browsable_url(pushed_places(value).get(self.place), folder=self.folder)


class EightByEightDestinationLink(_PlaceLink):
    """The destination folder of the transfer, in the object store's console."""

    name = "8x8 copies"
    place = "destination"


class EightByEightManifestLink(_PlaceLink):
    """The run's manifest, in the object store's console."""

    name = "8x8 manifest"
    place = "manifest"
    folder = False
