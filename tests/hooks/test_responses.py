"""Pure parsing of 8x8's answers (hooks/responses.py): what each kind of body, status and message gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_eightbyeight.errors import ApiError, RateLimitError
from airflow_provider_eightbyeight.hooks import responses
from airflow_provider_eightbyeight.models import BulkJob


def answer(body: bytes | str, status: int = 400, content_type: str = "application/json") -> requests.Response:
    """A ``requests.Response`` as the session builds it from bytes on the wire (no server is needed to parse)."""
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode() if isinstance(body, str) else body
    resp.headers["Content-Type"] = content_type
    resp.encoding = "utf-8"
    return resp


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b"   \n", None),
        (b'{"a": 1}', {"a": 1}),
        (b"[1, 2]", [1, 2]),
        (b'"text"', "text"),
        (b"<html>oops</html>", None),
        (b"{not json", None),
        (b"null", None),
    ],
)
def test_json_or_none(body: bytes, expected: Any) -> None:
    assert responses.json_or_none(answer(body)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        ("plain   text\n with  spaces", "plain text with spaces"),
        ("", ""),
        ("<b>a</b><i>b</i>", "a b"),
    ],
)
def test_strip_html(text: str, expected: str) -> None:
    assert responses.strip_html(text) == expected


@pytest.mark.parametrize(
    ("body", "raw", "expected"),
    [
        ({"ErrorCode": "E1", "message": "bad filter"}, "", "E1: bad filter"),
        ({"error": "invalid_client", "error_description": "bad secret"}, "", "invalid_client: bad secret"),
        ({"message": "same", "detail": "same"}, "", "same"),  # repeats once
        ({"errors": ["a", "b"]}, "", "['a', 'b']"),
        ({"message": ""}, "<p>fallback</p>", "fallback"),
        ({"other": 1}, "", None),
        ("a string body", "", "a string body"),
        (None, "<html><title>Proxy error</title></html>", "Proxy error"),
        (None, "x" * 400, "x" * 300),
        (None, "", None),
    ],
)
def test_server_message(body: Any, raw: str, expected: str | None) -> None:
    assert responses.server_message(answer(raw), body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"api_product_list_json": ["storage", " voice "]}, ["storage", "voice"]),
        ({"api_product_list": ["storage"]}, ["storage"]),
        ({"api_product_list": "[storage, voice]"}, ["storage", "voice"]),
        ({"api_product_list": "storage"}, ["storage"]),
        ({"api_product_list": "  "}, None),
        ({"api_product_list": "[]"}, []),
        ({}, None),
        ({"api_product_list_json": "not a list", "api_product_list": "a,b"}, ["a", "b"]),
    ],
)
def test_products(body: dict, expected: list[str] | None) -> None:
    assert responses.products(body) == expected


JOB = {"zipName": "z.zip", "status": "DONE"}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (JOB, ["z.zip"]),
        ([JOB, {**JOB, "zipName": "y.zip"}], ["z.zip", "y.zip"]),
        ([JOB, {"no": "name"}, "junk"], ["z.zip"]),  # malformed members are left out
    ],
)
def test_read_jobs(body: Any, names: list[str]) -> None:
    jobs = responses.read_jobs(body, "uk", "GET", "https://x/storage/uk/v3/bulk/download")
    assert [j.zip_name for j in jobs] == names and all(isinstance(j, BulkJob) and j.region == "uk" for j in jobs)


@pytest.mark.parametrize("body", [None, [], {}, ["junk"], [{"no": "name"}]])
def test_read_jobs_without_a_job_is_an_error_unless_allowed(body: Any) -> None:
    with pytest.raises(ApiError, match="without a job status") as info:
        responses.read_jobs(body, "uk", "POST", "https://x/storage/uk/v3/bulk/download?a=1")
    assert info.value.path == "/storage/uk/v3/bulk/download" and info.value.method == "POST"
    assert responses.read_jobs(body, "uk", "POST", "https://x/p", allow_empty=True) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("plain", None),
        (' {"a": 1}', {"a": 1}),
        ("[1]", [1]),
        ("{broken", None),
    ],
)
def test_json_of_text(text: str | None, expected: Any) -> None:
    assert responses.json_of_text(text) == expected


IDS = ["o1", "o2"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"id": "o1", "status": "DELETED"}], {"o1": "DELETED"}),
        ([{"objectId": "o2", "status": "FAILED", "message": "locked"}], {"o2": "FAILED: locked"}),
        ([{"object_id": "o1", "error": "x", "reason": "x"}], {"o1": "x"}),
        (["o1: DELETED", "o2:NOT_FOUND", "other:DELETED", "no colon"], {"o1": "DELETED", "o2": "NOT_FOUND"}),
        ({"results": [{"id": "o1", "result": "ok"}]}, {"o1": "ok"}),
        ({"content": "not a list", "o2": "DELETED", "o3": "DELETED"}, {"o2": "DELETED"}),
        ({"o1": 404, "o2": {"nested": 1}}, {"o1": "404"}),
        ({"message": "Deleted"}, {}),  # an ordinary message body is never read as statuses
        ([{"id": "o1"}], {}),  # no status field
        ("o1:DELETED", {}),
        (None, {}),
        ([{"id": "elsewhere", "status": "DELETED"}], {}),
    ],
)
def test_per_id_statuses(body: Any, expected: dict[str, str]) -> None:
    assert responses.per_id_statuses(body, IDS) == expected


def test_per_id_statuses_of_a_json_message() -> None:
    text = json.dumps({"items": [{"id": "o2", "objectState": "REVOKED"}]})
    assert responses.per_id_statuses(responses.json_of_text(text), IDS) == {"o2": "REVOKED"}


@pytest.mark.parametrize(("status", "cls"), [(429, RateLimitError), (500, ApiError), (503, ApiError), (400, ApiError)])
def test_error_class(status: int, cls: type) -> None:
    assert responses.error_class(status) is cls


@pytest.mark.parametrize(
    ("status", "retries", "regions", "cls", "text"),
    [
        (401, 0, None, "AuthenticationError", "8x8 rejected a freshly issued access token"),
        (403, 0, None, "PermissionDeniedError", "8x8 refused access"),
        (404, 0, None, "NotFoundError", "Not found in region 'uk'"),
        (404, 0, ["us-east", "us-west"], "RegionError", "Region 'uk' is not one of this account's regions (us-east, "),
        (404, 0, [], "RegionError", "Region 'uk' is not one of this account's regions (none)"),
        (400, 0, None, "InvalidRequestError", "8x8 rejected the request"),
        (405, 2, None, "InvalidRequestError", "8x8 rejected the request"),
        (422, 0, None, "InvalidRequestError", "8x8 rejected the request"),
        (429, 3, None, "RateLimitError", "8x8 kept rate-limiting the request after 3 retries"),
        (429, 0, None, "RateLimitError", "8x8 kept rate-limiting the request"),
        (500, 5, None, "ApiError", "8x8 failed to answer after 5 retries"),
        (503, 0, None, "ApiError", "8x8 failed to answer"),
        (409, 0, None, "ApiError", "8x8 failed to answer"),
    ],
)  # fmt: skip
def test_error_for(status: int, retries: int, regions: list[str] | None, cls: str, text: str) -> None:
    err = responses.error_for(
        status, "their words", method="GET", path="/storage/uk/v3/objects", region="uk", retries=retries,
        account_regions=regions,
    )  # fmt: skip
    assert type(err).__name__ == cls
    assert str(err).startswith(text), str(err)
    where = (err.status, err.method, err.path, err.server_message)
    assert where == (status, "GET", "/storage/uk/v3/objects", "their words")
    assert err.hint  # every error says what to do
