"""The CSS API of the emulator (contract sections 2-10): routing, auth and the handlers.

Independent of sockets: :class:`CssApi` turns a :class:`~.routing.Request` into a
:class:`~.routing.Reply`; :mod:`.server` does the IO and the fault injection.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from airflow_provider_eightbyeight.testing import fiql
from airflow_provider_eightbyeight.testing.admin import AdminHandlers
from airflow_provider_eightbyeight.testing.config import EmulatorConfig
from airflow_provider_eightbyeight.testing.faults import FaultInjector
from airflow_provider_eightbyeight.testing.models import ObjectRecord
from airflow_provider_eightbyeight.testing.routing import (
    PROBLEM_JSON,
    ApiError,
    Context,
    Reply,
    Request,
    Resolved,
    Route,
    id_list,
    json_reply,
    match_route,
    parse_bool,
    parse_int,
)
from airflow_provider_eightbyeight.testing.state import DOWNLOADABLE_BULK, Store, StoreError
from airflow_provider_eightbyeight.testing.zipstream import iter_zip


class CssApi(AdminHandlers):
    """Routing and handlers; independent of sockets (the request handler does the IO)."""

    def __init__(self, store: Store, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults
        self.base_url = ""
        self.token_url = ""
        self.ca_path: str | None = None  # the CA bundle to trust when served over HTTPS
        self.config: EmulatorConfig = store.config
        self._app_names = {
            a.key: str(uuid.UUID(int=random.Random(f"{self.config.seed}:app:{a.key}").getrandbits(128), version=4))
            for a in self.config.accounts
        }
        self.storage_routes = [
            Route(("regions",), {"GET": ("regions", self.h_regions)}),
            Route(("objects",), {"GET": ("search", self.h_search)}),
            Route(("objects", "{id}"), {"GET": ("get_object", self.h_get_object)}),
            Route(("objects", "{id}", "metadata"), {"GET": ("metadata", self.h_get_object)}),
            Route(("objects", "{id}", "content"), {"GET": ("content", self.h_content)}),
            Route(("objects", "{id}", "restore"), {"POST": ("restore", self.h_restore)}),
            Route(("buckets",), {"GET": ("buckets", self.h_buckets)}),
            Route(("buckets", "{id}"), {"GET": ("get_bucket", self.h_get_bucket)}),
            Route(("bulk", "download", "start"), {"POST": ("bulk_start", self.h_bulk_start)}),
            Route(("bulk", "download", "status"), {"GET": ("bulk_statuses", self.h_bulk_statuses)}),
            Route(("bulk", "download", "clear"), {"PUT": ("bulk_clear", self.h_bulk_clear)}),
            Route(("bulk", "download", "status", "{zip}"), {"GET": ("bulk_status", self.h_bulk_status)}),
            Route(
                ("bulk", "download", "cancel", "{zip}"),
                {"PUT": ("bulk_cancel", self.h_bulk_cancel), "POST": ("bulk_cancel", self.h_bulk_cancel)},
            ),
            Route(("bulk", "download", "{zip}"), {"GET": ("bulk_download", self.h_bulk_download)}),
            Route(("bulk",), {"DELETE": ("delete", self.h_delete)}),
        ]
        self.admin_routes = self.build_admin_routes()

    # -- routing -------------------------------------------------------------------------------
    @staticmethod
    def _segments(path: str) -> list[str]:
        parts = path.split("/")[1:]
        if len(parts) > 1 and parts[-1] == "":
            parts = parts[:-1]
        return [unquote(p) for p in parts]

    def resolve(self, request: Request) -> Resolved:
        """Find the handler for a request (errors become a :class:`Resolved` with ``error``)."""
        segments = self._segments(request.path)
        try:
            if segments[:3] == ["oauth", "v2", "token"] and len(segments) == 3:
                if request.method != "POST":
                    raise ApiError(405, "Use POST for the token endpoint", headers=[("Allow", "POST")])
                return Resolved("token", self.h_token, Context(request, {}), kind="token")
            if segments and segments[0] == "_presigned" and len(segments) == 2:
                if request.method not in ("GET", "HEAD"):
                    raise ApiError(405, "Presigned URLs only support GET", headers=[("Allow", "GET")])
                return Resolved(
                    "presigned", self.h_presigned, Context(request, {"opaque": segments[1]}), kind="presigned"
                )
            if segments and segments[0] == "_emulator":
                name, handler, params = match_route(self.admin_routes, request.method, segments[1:])
                return Resolved(name, handler, Context(request, params), kind="admin")
            if len(segments) >= 3 and segments[0] == "storage":
                region, version = segments[1], segments[2]
                if version not in self.config.api_versions:
                    raise ApiError(404, f"Unknown API version '{version}'; supported: {list(self.config.api_versions)}")
                name, handler, params = match_route(self.storage_routes, request.method, segments[3:])
                return Resolved(name, handler, Context(request, params, region=region, version=version))
            raise ApiError(404, f"No such resource: {request.path}")
        except ApiError as exc:
            kind = "admin" if segments and segments[0] == "_emulator" else "css"
            return Resolved("admin" if kind == "admin" else "unknown", None, None, exc, kind)

    def object_ids(self, resolved: Resolved) -> list[str]:
        """The object ids a request is about (for fault rules with ``object_ids``)."""
        ctx = resolved.context
        if ctx is None:
            return []
        if resolved.route in ("get_object", "metadata", "content", "restore"):
            return [ctx.params["id"]]
        if resolved.route in ("bulk_start", "delete"):
            try:
                data = json.loads(ctx.request.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                return []
            return [i for i in data if isinstance(i, str)] if isinstance(data, list) else []
        if resolved.route == "bulk_download":
            return self.store.bulk_object_ids(None, ctx.region, ctx.params["zip"])
        if resolved.route == "presigned":
            item = self.store.presigned(ctx.params["opaque"])
            if item is None:
                return []
            if item.kind == "object":
                return [item.ref]
            return self.store.bulk_object_ids(None, item.region, item.ref)
        return []

    def authorize(self, ctx: Context, any_region: bool = False) -> None:
        """Bearer-token auth, product and region checks (401 / 403 / 404)."""
        header = ctx.request.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        challenge = [("WWW-Authenticate", 'Bearer realm="8x8"')]
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "Missing or malformed Authorization header; expected 'Bearer <token>'", headers=challenge
            )
        info = self.store.token_info(token.strip())
        if info is None:
            raise ApiError(401, "Invalid or expired access token", headers=challenge)
        account = info.account
        if account.status != "approved":
            raise ApiError(401, f"API key is not approved (status: {account.status})", headers=challenge)
        if "storage" not in account.products:
            raise ApiError(403, "This API key does not include the 'storage' product (Call Recordings & Storage)")
        if ctx.region not in self.config.regions or (not any_region and ctx.region not in account.regions):
            raise ApiError(
                404,
                f"Unknown region '{ctx.region}' for this account; provisioned regions: {list(account.regions)}",
            )
        ctx.account = account

    # -- token ---------------------------------------------------------------------------------
    def h_token(self, ctx: Context) -> Reply:
        """POST /oauth/v2/token (contract section 2)."""
        invalid = ApiError(
            401,
            "ClientId is Invalid",
            body={"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"},
            content_type=PROBLEM_JSON,
        )
        header = ctx.request.headers.get("Authorization", "")
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise invalid
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise invalid from exc
        key, sep, secret = decoded.partition(":")
        account = self.store.authenticate(key, secret) if sep else None
        if account is None:
            raise invalid
        form = parse_qs(ctx.request.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = (form.get("grant_type") or [""])[0]
        if grant != "client_credentials":
            raise ApiError(
                400,
                f"Unsupported grant type : {grant}",
                body={"ErrorCode": "invalid_request", "Error": f"Unsupported grant type : {grant}"},
                content_type=PROBLEM_JSON,
            )
        info = self.store.issue_token(account)
        products = list(account.products)
        payload = {
            "access_token": info.token,
            "token_type": "BearerToken",
            "expires_in": str(self.config.token_lifetime),
            "issued_at": str(int(info.issued_at * 1000)),
            "status": account.status,
            "scope": "",
            "refresh_token_expires_in": "0",
            "refresh_count": "0",
            "client_id": "deprecated",
            "developer.email": "deprecated",
            "application_name": self._app_names[account.key],
            "organization_name": "",
            "api_product_list": "[" + ", ".join(products) + "]",
            "api_product_list_json": products,
        }
        return json_reply(200, payload, headers=[("Cache-Control", "no-store")])

    # -- CSS: regions and objects --------------------------------------------------------------
    def h_regions(self, ctx: Context) -> Reply:
        """GET /regions: the account's regions, through any known region."""
        self.authorize(ctx, any_region=True)
        return json_reply(200, list(ctx.acct.regions))

    def _page_args(self, req: Request) -> tuple[int, int, str, bool]:
        offset = parse_int("pageKey", req.arg("pageKey"), 0)
        if offset < 0:
            raise ApiError(400, f"pageKey must be >= 0, got {offset}")
        limit = parse_int("limit", req.arg("limit"), 100)
        if self.config.page_key_mode == "page":
            offset *= max(1, min(limit, 100))
        if limit < 1:
            raise ApiError(400, f"limit must be between 1 and 100, got {limit}")
        if limit > 100:
            if self.config.limit_over_max == "clamp":
                limit = 100
            else:
                raise ApiError(400, f"limit must be between 1 and 100, got {limit}")
        sort_field = (req.arg("sortField") or "").strip() or "createdTime"
        direction = (req.arg("sortDirection") or "").strip().upper() or "DESC"
        if direction not in ("ASC", "DESC"):
            raise ApiError(400, f"sortDirection must be ASC or DESC, got {req.arg('sortDirection')!r}")
        return offset, limit, sort_field, direction == "DESC"

    def _filter(self, req: Request, known: Callable[[], set[str]]) -> tuple[str | None, fiql.Node | None]:
        text = req.arg("filter")
        if text is None or not text.strip():
            return None, None
        try:
            node = fiql.parse(text)
        except fiql.FiqlError as exc:
            raise ApiError(400, str(exc)) from exc
        if self.config.strict:
            unknown = sorted(fiql.selectors(node) - known())
            if unknown:
                raise ApiError(400, f"Unknown filter selector(s): {unknown}")
        if self.config.filter_times == "epoch_ms":
            for selector, value in _TIME_COMPARISON.findall(text):
                if not re.fullmatch(r"-?\d+", value.strip("'\"")):
                    raise ApiError(400, f"{selector} values in filters are epoch milliseconds, got {value!r}")
        return text.strip(), node

    def _page(self, items: list[Any], offset: int, limit: int, total: int) -> Any:
        reported = total if self.config.total_mode == "records" else (total + limit - 1) // limit
        page = {
            "content": items,
            "pageKey": offset // limit if self.config.page_key_mode == "page" else offset + limit,
            "pageSize": len(items),
            "lastPage": offset + limit >= total,
            "total": reported,
        }
        return [page] if self.config.search_shape == "list" else page

    def h_search(self, ctx: Context) -> Reply:
        """GET /objects (contract section 5)."""
        self.authorize(ctx)
        req = ctx.request
        if self.config.strict and "Content-Type" not in req.headers:
            raise ApiError(400, "Content-Type header is required (application/json)")
        offset, limit, sort_field, descending = self._page_args(req)
        known = functools.partial(self.store.known_object_selectors, ctx.region)
        if self.config.strict and sort_field not in known():
            raise ApiError(400, f"Unknown sortField '{sort_field}'")
        text, node = self._filter(req, known)
        page, total = self.store.search_objects(ctx.region, text, node, sort_field, descending, offset, limit)
        return json_reply(200, self._page([o.wire() for o in page], offset, limit, total))

    def h_get_object(self, ctx: Context) -> Reply:
        """GET /objects/{id} and /objects/{id}/metadata: any state."""
        self.authorize(ctx)
        return json_reply(200, self._object(ctx).wire())

    def _object(self, ctx: Context) -> ObjectRecord:
        try:
            return self.store.get_object(ctx.params["id"], ctx.region)
        except StoreError as exc:
            raise ApiError(exc.status, exc.message) from exc

    def _not_available(self, record: ObjectRecord) -> ApiError:
        return ApiError(
            self.config.content_refusal_status(record.id),
            f"Object '{record.id}' is {record.state}; only AVAILABLE objects can be downloaded",
        )

    def presigned_url(self, kind: str, region: str, ref: str, account_key: str) -> str:
        """Register and format a presigned URL (S3-like query)."""
        item = self.store.presign(kind, region, ref, account_key)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.store.now()))
        return (
            f"{self.base_url}/_presigned/{item.opaque}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={stamp}"
            f"&X-Amz-Expires={self.config.presign_ttl}&X-Amz-SignedHeaders=host&X-Amz-Signature={item.signature}"
        )

    def _presign_reply(self, url: str) -> Reply:
        shape = self.config.presign_shape
        if shape == "url":
            return json_reply(200, {"url": url})
        if shape == "presignedUrl":
            return json_reply(200, {"presignedUrl": url})
        if shape == "text":
            return Reply(200, url.encode(), "text/plain; charset=utf-8")
        if shape == "json-string":
            return json_reply(200, url)
        return Reply(302, b"", None, [("Location", url)])

    def _content_reply(self, record: ObjectRecord, req: Request) -> Reply:
        size = record.size
        start, end, status = 0, size, 200
        headers = [("Accept-Ranges", "bytes")]
        spec = req.headers.get("Range")
        if spec:
            parsed = _parse_range(spec, size)
            if parsed == "unsatisfiable":
                raise ApiError(
                    416,
                    f"Range {spec!r} not satisfiable for {size} bytes",
                    headers=[("Content-Range", f"bytes */{size}")],
                )
            if isinstance(parsed, tuple):
                start, end = parsed
                status = 206
                headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        body = record.content.iter_chunks(start, end)
        return Reply(status, body, record.mime_type, headers, length=end - start)

    def h_content(self, ctx: Context) -> Reply:
        """GET /objects/{id}/content (bytes, or a presigned URL with presignUrl=true)."""
        self.authorize(ctx)
        presign = parse_bool("presignUrl", ctx.request.arg("presignUrl"))
        record = self._object(ctx)
        if record.state != "AVAILABLE":
            raise self._not_available(record)
        if presign:
            return self._presign_reply(self.presigned_url("object", ctx.region, record.id, ctx.acct.key))
        return self._content_reply(record, ctx.request)

    def h_presigned(self, ctx: Context) -> Reply:
        """GET /_presigned/<opaque>: no Authorization needed (S3-like errors)."""
        req = ctx.request
        item = self.store.presigned(ctx.params["opaque"])
        if item is None:
            raise _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if req.arg("X-Amz-Signature") != item.signature:
            raise _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        if self.store.now() > item.expires_at:
            raise _s3_error(403, "AccessDenied", "Request has expired")
        if self.config.strict and "Authorization" in req.headers:
            raise _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        if item.kind == "zip":
            found = self.store.bulk_job_any(item.account_key, item.region, item.ref)
            if found is None or found[1] not in DOWNLOADABLE_BULK:
                raise _s3_error(404, "NoSuchKey", "The specified key does not exist.")
            return self._zip_reply(found[0].zip_name, found[0].entries)
        try:
            record = self.store.get_object(item.ref)
        except StoreError as exc:
            raise _s3_error(404, "NoSuchKey", "The specified key does not exist.") from exc
        if record.state in ("REVOKED", "DELETED"):
            raise _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if record.state != "AVAILABLE":
            raise _s3_error(403, "InvalidObjectState", f"The object is {record.state}.")
        return self._content_reply(record, req)

    def h_restore(self, ctx: Context) -> Reply:
        """POST /objects/{id}/restore (contract section 7.2)."""
        self.authorize(ctx)
        if not ctx.acct.can_edit:
            raise ApiError(403, "This API key may not edit objects (restore needs edit rights)")
        days = 7
        if ctx.request.body.strip():
            data = ctx.request.json()
            if not isinstance(data, dict):
                raise ApiError(400, 'Restore body must be a JSON object like {"expirationDays": 7}')
            if "expirationDays" in data and data["expirationDays"] is not None:
                value = data["expirationDays"]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ApiError(400, f"expirationDays must be an integer 1..10, got {value!r}")
                days = value
        if not 1 <= days <= 10:
            raise ApiError(400, f"expirationDays must be between 1 and 10, got {days}")
        try:
            effective = self.store.restore(ctx.region, ctx.params["id"], days)
        except StoreError as exc:
            raise ApiError(exc.status, exc.message) from exc
        return json_reply(200, {"expirationDays": effective})

    # -- CSS: buckets --------------------------------------------------------------------------
    def h_buckets(self, ctx: Context) -> Reply:
        """GET /buckets: a page of BucketResponse items."""
        self.authorize(ctx)
        offset, limit, sort_field, descending = self._page_args(ctx.request)
        known = functools.partial(self.store.known_bucket_selectors, ctx.region)
        _, node = self._filter(ctx.request, known)
        page, total = self.store.search_buckets(ctx.region, node, sort_field, descending, offset, limit)
        return json_reply(200, self._page([b.to_dict() for b in page], offset, limit, total))

    def h_get_bucket(self, ctx: Context) -> Reply:
        """GET /buckets/{bucketId}."""
        self.authorize(ctx)
        try:
            view = self.store.get_bucket(ctx.region, ctx.params["id"])
        except StoreError as exc:
            raise ApiError(exc.status, exc.message) from exc
        return json_reply(200, view.to_dict())

    # -- CSS: bulk -----------------------------------------------------------------------------
    def h_bulk_start(self, ctx: Context) -> Reply:
        """POST /bulk/download/start."""
        self.authorize(ctx)
        ids = id_list(ctx.request, "bulk download start")
        try:
            job = self.store.start_bulk(ctx.acct, ctx.region, ids)
        except StoreError as exc:
            raise ApiError(exc.status, exc.message) from exc
        return json_reply(200, job.to_dict(self.store.now()))

    def h_bulk_status(self, ctx: Context) -> Reply:
        """GET /bulk/download/status/{zip} (presignUrl=true adds ``url`` once downloadable)."""
        self.authorize(ctx)
        presign = parse_bool("presignUrl", ctx.request.arg("presignUrl"))
        status = self._store_call(lambda: self.store.bulk_status(ctx.acct, ctx.region, ctx.params["zip"]))
        if presign and status["status"] in DOWNLOADABLE_BULK:
            status["url"] = self.presigned_url("zip", ctx.region, ctx.params["zip"], ctx.acct.key)
        return json_reply(200, status)

    def h_bulk_statuses(self, ctx: Context) -> Reply:
        """GET /bulk/download/status: all of the account's jobs."""
        self.authorize(ctx)
        return json_reply(200, self.store.bulk_statuses(ctx.acct, ctx.region))

    def h_bulk_cancel(self, ctx: Context) -> Reply:
        """PUT or POST /bulk/download/cancel/{zip}."""
        self.authorize(ctx)
        return json_reply(
            200, self._store_call(lambda: self.store.bulk_cancel(ctx.acct, ctx.region, ctx.params["zip"]))
        )

    def h_bulk_clear(self, ctx: Context) -> Reply:
        """PUT /bulk/download/clear."""
        self.authorize(ctx)
        return json_reply(200, self.store.bulk_clear(ctx.acct, ctx.region))

    def _zip_reply(self, zip_name: str, entries: list[Any]) -> Reply:
        headers = [("Content-Disposition", f'attachment; filename="{zip_name}"')]
        zipped = iter_zip(entries, compression=self.config.zip_compression)
        return Reply(200, zipped, self.config.zip_content_type, headers, length=None)

    def h_bulk_download(self, ctx: Context) -> Reply:
        """GET /bulk/download/{zip}: the zip, streamed, once DONE / PARTIAL_DONE."""
        self.authorize(ctx)
        job, status = self._store_call(lambda: self.store.bulk_job(ctx.acct, ctx.region, ctx.params["zip"]))
        if status not in DOWNLOADABLE_BULK:
            raise ApiError(404, f"Bulk download '{job.zip_name}' is {status}; the zip is not available")
        entries = job.entries
        if ctx.drop_entries is not None:
            drop = ctx.drop_entries or {e.object_id for e in entries[:1]}
            entries = [e for e in entries if e.object_id not in drop]
        return self._zip_reply(job.zip_name, entries)

    def h_delete(self, ctx: Context) -> Reply:
        """DELETE /bulk: mark objects REVOKED; 204."""
        self.authorize(ctx)
        if not ctx.acct.can_edit:
            raise ApiError(403, "This API key may not delete objects (needs edit rights)")
        ids = id_list(ctx.request, "bulk delete")
        if ctx.keep_ids is not None:  # a keep fault: answered as done, these ids left alone
            kept = ctx.keep_ids or set(ids[:1])
            ids = [i for i in ids if i not in kept]
        strict = self.config.strict or self.config.delete_unknown == "404"
        self._store_call(lambda: self.store.delete(ctx.region, ids, strict))
        return Reply(204, b"", None)


_TIME_COMPARISON = re.compile(r"(createdTime|updatedTime)(?:==|!=|=gt=|=ge=|=lt=|=le=)([^;,()]+)")


def _s3_error(status: int, code: str, message: str) -> ApiError:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return ApiError(status, message, body=body, content_type="application/xml")


def _parse_range(spec: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)``, ``"unsatisfiable"``, or ``None`` to ignore the header."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", spec)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end
