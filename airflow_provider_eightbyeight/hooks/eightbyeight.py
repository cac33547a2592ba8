"""
The hook for the 8x8 Cloud Storage Service (CSS) v3 API: the only code that speaks HTTP to 8x8.

It swaps the API key and secret for a bearer token (OAuth client credentials), reuses that token
across hook instances until shortly before it expires, discovers the account's regions, searches
objects with FIQL across all pages, streams content with MD5 verification, runs bulk zip downloads,
restores archived objects and deletes objects. Requests share one pooled ``requests.Session``.

:class:`EightByEightHook` is a façade: the client (:mod:`.client`: session, token, retries, regions) and the
verbs (:mod:`.search`, :mod:`.content`, :mod:`.manage`, :mod:`.bulk_jobs`) each have a module; every name
this module offered before is still importable from here.
"""

from __future__ import annotations

# ruff: noqa: F401 (the names this module offered before its parts had their own modules)
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import cached_property
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_eightbyeight import __version__
from airflow_provider_eightbyeight.compat import BaseHook, mask_secret
from airflow_provider_eightbyeight.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    ConnectionSettings,
    host_and_port,
)
from airflow_provider_eightbyeight.connection_form import DOCUMENTED_REGIONS, field_behaviour, form_widgets
from airflow_provider_eightbyeight.errors import (
    ApiError,
    AuthenticationError,
    BulkJobError,
    ConfigurationError,
    EightByEightError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    ObjectNotAvailableError,
    PermissionDeniedError,
    RateLimitError,
    RegionError,
    TransportError,
)
from airflow_provider_eightbyeight.filters import FilterLike, all_of, any_of, comparison, to_fiql
from airflow_provider_eightbyeight.hooks import buckets, responses
from airflow_provider_eightbyeight.hooks.bulk_jobs import BulkVerbs
from airflow_provider_eightbyeight.hooks.client import (
    BULK_LIMIT_BYTES,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_DISCOVERY_REGION,
    DELETE_BATCH_SIZE,
    MAX_FLAGGED,
    MAX_PAGE_SIZE,
    STORAGE_PRODUCT,
    TEST_RETRIES,
    USER_AGENT,
    EightByEightClient,
    HookStats,
    mask,
)
from airflow_provider_eightbyeight.hooks.content import Destination, SinkFactory
from airflow_provider_eightbyeight.hooks.lean_get import lean_get
from airflow_provider_eightbyeight.hooks.manage import DeleteResult
from airflow_provider_eightbyeight.hooks.network import Network, Route
from airflow_provider_eightbyeight.hooks.retry import (
    RetryBudget,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE, AccessToken, cache_key
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.hooks.wire import follow_pages as _follow_pages
from airflow_provider_eightbyeight.hooks.wire import read_page as _read_page
from airflow_provider_eightbyeight.local_files import atomic_local_file
from airflow_provider_eightbyeight.models import Bucket, BulkJob, DownloadResult, ObjectState, StoredObject


class EightByEightHook(BulkVerbs):
    """
    Interact with the 8x8 Cloud Storage Service (call recordings, transcripts, voicemails...).

    Creating the hook does no network I/O; the connection is read on first use.

    :param eightbyeight_conn_id: The Airflow connection with the 8x8 API key (login) and secret (password).
    :param region: Optional. Region used when a call names none; wins over the connection's ``region`` extra.
    :param timeout: Optional. Read timeout in seconds; wins over the connection's ``timeout`` extra.
    :param max_retries: Optional. Retries per operation; wins over the connection's ``max_retries`` extra.
    :param pool_size: Connections kept open to 8x8; set it to the number of threads that share the hook.
    """

    conn_name_attr = "eightbyeight_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "8x8 Cloud Storage"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields, for Airflow below 3.2 (3.2+ reads ``conn-fields`` from the provider info)."""
        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and prefilled standard fields, for Airflow below 3.2 (3.2+: the provider info)."""
        return field_behaviour()

    # ------------------------------------------------------------------ Airflow UI

    def test_connection(self) -> tuple[bool, str]:
        """Get a token and the regions: ``(True, "Authenticated; regions: ...")`` or ``(False, reason)``."""
        # A Test is a question, not a job: at most TEST_RETRIES retries per request, so an unreachable 8x8 or a
        # typo in a URL answers in seconds instead of after the connection's full retry schedule.
        policy = self.retry_policy
        self.__dict__["retry_policy"] = replace(policy, max_retries=min(policy.max_retries, TEST_RETRIES))
        try:
            TOKEN_CACHE.invalidate(self._cache_key)
            self.get_token()
            regions = self.get_regions(refresh=True)
            configured = self.region or self.settings.region
            if configured and configured not in regions:
                return (
                    False,
                    f"Authenticated, but region {configured!r} is not one of this account's regions "
                    f"({', '.join(regions) or 'none'}); fix the connection's region extra.",
                )
            listed = ", ".join(regions) or "none"
            route = self.network.route(self.settings.api_base_url)
            notable = route.via or route.verify is False or self.settings.ca_bundle
            reached = f" Reached 8x8 {self.network.describe(self.settings.api_base_url)}." if notable else ""
            if configured and len(regions) > 1:
                return True, (
                    f"Authenticated; regions: {listed}. Tasks use region {configured!r} unless they name one." + reached
                )
            if len(regions) > 1:
                return True, (
                    f"Authenticated; regions: {listed}. Tasks that name no region search every region of the "
                    "account (set Region to limit them to one)." + reached
                )
            return True, f"Authenticated; regions: {listed}" + (f".{reached}" if reached else "")
        except EightByEightError as err:
            return False, self._for_test(str(err))
        except Exception as err:
            return False, self._for_test(f"{type(err).__name__}: {err}")
        finally:
            self.__dict__["retry_policy"] = policy
            self.close()

    def _for_test(self, message: str) -> str:
        """
        A test's message without the connection id: the UI's Test button tests a copy under a random id
        (``AucHSGHb``) that would only confuse; "this connection" is the one being tested either way.
        """
        quoted = repr(self.eightbyeight_conn_id)
        return message.replace(f"connection {quoted}", "this connection").replace(
            f"Connection {quoted}", "This connection"
        )


# ---------------------------------------------------------------------- helpers (module-private)
