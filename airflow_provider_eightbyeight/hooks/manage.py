"""
Changing objects at 8x8: restore archived objects, read states by id, delete with a read-back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from airflow_provider_eightbyeight import arguments
from airflow_provider_eightbyeight.errors import (
    AuthenticationError,
    ConfigurationError,
    EightByEightError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RegionError,
)
from airflow_provider_eightbyeight.filters import all_of, any_of, comparison
from airflow_provider_eightbyeight.hooks import responses
from airflow_provider_eightbyeight.hooks.client import (
    DELETE_BATCH_SIZE,
    MAX_PAGE_SIZE,
)
from airflow_provider_eightbyeight.hooks.content import ContentVerbs
from airflow_provider_eightbyeight.hooks.wire import check_id as _check_id
from airflow_provider_eightbyeight.models import ObjectState, StoredObject


@dataclass(frozen=True)
class DeleteResult:
    """
    Outcome of :meth:`EightByEightHook.delete_objects`, as 8x8 confirms it afterwards.

    :param deleted: ids that read REVOKED or DELETED after the delete.
    :param failed: ids still in another state (or whose state could not be read), with why.
    :param not_found: ids 8x8 does not know in the region.
    :param already_deleted: ids that read REVOKED or DELETED before the call (another run, or a person,
        deleted them): not sent, and not counted as deleted by this call.
    """

    deleted: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    not_found: tuple[str, ...] = ()
    already_deleted: tuple[str, ...] = ()


class ManageVerbs(ContentVerbs):
    """
    Changing objects at 8x8: restore archived objects, read states by id, delete with a read-back.

    A part of :class:`~airflow_provider_eightbyeight.hooks.eightbyeight.EightByEightHook`, which is
    how to use it.
    """

    # ------------------------------------------------------------------ restore and delete

    def restore_object(self, object_id: str, expiration_days: int = 7, *, region: str | None = None) -> dict:
        """
        Ask 8x8 to restore an ARCHIVED object. Asynchronous: it becomes AVAILABLE after hours (up to ~24 h).

        :param expiration_days: days (1..10) the restored copy is kept before 8x8 removes it again.
        :return: 8x8's answer (usually ``{"expirationDays": n}``).
        :raises PermissionDeniedError: when the key may only read or download.
        """
        object_id = _check_id(object_id)
        arguments.restore_days("expiration_days", expiration_days)
        name = self.resolve_region(region)
        body = self._request_json(
            "POST",
            name,
            f"objects/{quote(object_id, safe='')}/restore",
            json={"expirationDays": expiration_days},
        )
        return body if isinstance(body, dict) else {"expirationDays": expiration_days}

    def get_objects(self, object_ids: Iterable[str], *, region: str | None = None) -> dict[str, StoredObject]:
        """
        Current metadata of many objects by id, in any state: one ``id=in=(...)`` search per 100 ids
        (not a request per id). Ids 8x8 does not know in the region are absent from the result.
        """
        ids = list(dict.fromkeys(_check_id(i) for i in object_ids))
        name = self.resolve_region(region)
        found: dict[str, StoredObject] = {}
        every_state = any_of(*(comparison("objectState", "==", s.value) for s in ObjectState))
        for start in range(0, len(ids), MAX_PAGE_SIZE):
            batch = ids[start : start + MAX_PAGE_SIZE]
            wanted = set(batch)
            fiql = all_of(any_of(*(comparison("id", "==", i) for i in batch)), every_state)
            for obj in self._iter_region(name, fiql, "createdTime", "ASC", MAX_PAGE_SIZE):
                if obj.id in wanted:
                    found[obj.id] = obj
        return found

    def delete_objects(
        self,
        object_ids: Iterable[str],
        *,
        region: str | None = None,
        batch_size: int = DELETE_BATCH_SIZE,
        expect_md5: Mapping[str, str] | None = None,
    ) -> DeleteResult:
        """
        Delete objects at 8x8 (``DELETE /bulk``), in batches, and report what 8x8 confirms.

        Each batch is read first: ids already REVOKED or DELETED are ``already_deleted`` and not sent (two
        runs deleting overlapping sets report each delete once; only calls made at the very same moment can
        both report one), ids 8x8 does not know are ``not_found`` and not sent.
        8x8 documents no body for the answer, so after each batch the ids are read back
        (:meth:`get_objects`, or one metadata read per id where the search cannot select by ``id``): only
        ids that then read REVOKED or DELETED count as deleted, ids 8x8 does not know are ``not_found``, and
        ids still in another state are ``failed`` with why (quoting 8x8's own status for the id when its
        answer carries per-id statuses). A batch that fails is reported and the other batches still run;
        authentication and permission errors stop at once.

        :param object_ids: ids to delete (duplicates are sent once; an empty list sends nothing).
        :param region: the region of every id (see :meth:`resolve_regions`).
        :param batch_size: ids per request (1..1000).
        :param expect_md5: Optional. The MD5 a caller proved it holds for some ids: such an id is deleted
            only if 8x8's plain MD5 for it, read just before the call, is that one (``failed`` otherwise).
        """
        if isinstance(object_ids, str):
            raise ConfigurationError("object_ids must be a list of ids, not one string")
        ids = list(dict.fromkeys(_check_id(i) for i in object_ids))
        arguments.whole_number("batch_size", batch_size, 1, 1000)
        if not ids:
            return DeleteResult()
        name = self.resolve_region(region)
        expected = expect_md5 or {}
        deleted: list[str] = []
        not_found: list[str] = []
        already: list[str] = []
        failed: dict[str, str] = {}
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            try:
                before = self._read_back(batch, name)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:
                failed.update(dict.fromkeys(batch, f"not deleted: its state could not be read first: {err}"))
                continue
            gone_before = {
                i for i, o in before.items() if o.state in (ObjectState.REVOKED.value, ObjectState.DELETED.value)
            }
            not_found.extend(i for i in batch if i not in before)
            already.extend(i for i in batch if i in gone_before)
            batch = [i for i in batch if i in before and i not in gone_before]
            for object_id in [i for i in batch if i in expected]:
                if before[object_id].md5 != str(expected[object_id]).lower():
                    failed[object_id] = (
                        f"not deleted: 8x8's checksum for it ({before[object_id].checksum!r}) is not the MD5 of "
                        f"the copy this run proved ({expected[object_id]})"
                    )
            batch = [i for i in batch if i not in failed]
            if not batch:
                continue
            refusal: EightByEightError | None = None
            try:
                with self._send("DELETE", name, "bulk", json=batch) as resp:
                    said = responses.per_id_statuses(responses.json_or_none(resp), batch)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:  # e.g. 404 for unknown ids: some may still have been deleted
                refusal = err
                said = responses.per_id_statuses(responses.json_of_text(err.server_message), batch)
            try:
                current = self._read_back(batch, name)
            except (AuthenticationError, PermissionDeniedError, RegionError):
                raise
            except EightByEightError as err:
                self.log.error("Could not confirm the deletion of %d object(s): %s", len(batch), err)
                failed.update(dict.fromkeys(batch, f"deletion not confirmed: {refusal or err}"))
                continue
            for object_id in batch:
                obj = current.get(object_id)
                quoted = f" (8x8 answered {said[object_id]!r} for it)" if object_id in said else ""
                if obj is None:
                    not_found.append(object_id)
                elif obj.state in (ObjectState.REVOKED.value, ObjectState.DELETED.value):
                    deleted.append(object_id)
                elif refusal is not None:
                    failed[object_id] = f"{refusal}{quoted}"
                else:
                    failed[object_id] = f"8x8 accepted the delete but the object is still {obj.state}{quoted}"
        if failed or not_found or already:
            self.log.warning(
                "Deleted %d object(s) at 8x8; %d not deleted, %d not found, %d already deleted before this call.",
                len(deleted),
                len(failed),
                len(not_found),
                len(already),
            )
        return DeleteResult(
            deleted=tuple(deleted), failed=failed, not_found=tuple(not_found), already_deleted=tuple(already)
        )

    def _read_back(self, ids: list[str], region: str) -> dict[str, StoredObject]:
        """
        The current metadata of ``ids`` (absent: unknown to 8x8), to confirm a delete: one ``id`` search
        (:meth:`get_objects`), or one metadata read per id when the search cannot select by ``id`` (it
        answers 400, or finds none of the ids while the first one reads fine on its own).
        """
        try:
            found = self.get_objects(ids, region=region)
        except InvalidRequestError as err:
            self.log.info("8x8 refused to search by id (%s); reading the %d object(s) one by one.", err, len(ids))
            return self._read_each(ids, region)
        if found or not ids:
            return found
        try:  # none found: unknown ids, or a search that ignores the ``id`` selector; one read tells which
            first = self.get_object(ids[0], region=region)
        except NotFoundError:
            return found
        self.log.info("8x8's search did not select by id; reading the %d object(s) one by one.", len(ids))
        return {first.id: first, **self._read_each(ids[1:], region)}

    def _read_each(self, ids: list[str], region: str) -> dict[str, StoredObject]:
        found: dict[str, StoredObject] = {}
        for object_id in ids:
            try:
                found[object_id] = self.get_object(object_id, region=region)
            except NotFoundError:
                continue
        return found
