"""Seeded generation of realistic 8x8 CSS objects and buckets (contract section 4).

Everything is derived from ``random.Random`` instances seeded from the emulator seed, so the same
configuration always yields the same ids, names, tags, sizes, times and states.
"""

from __future__ import annotations

import random
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_eightbyeight.testing.content import ContentSource
from airflow_provider_eightbyeight.testing.models import BucketRecord, ObjectRecord

TYPE_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("callrecording", 30),
    ("callcenterrecording", 25),
    ("transcription", 20),
    ("voicemail", 6),
    ("callcentervoicemail", 5),
    ("screenrecording", 5),
    ("meeting", 4),
    ("agentnotes", 2),
    ("summary", 2),
    ("postcallsurvey", 1),
)
MIME_TYPES = {
    "callrecording": "audio/mpeg",
    "callcenterrecording": "audio/mpeg",
    "callcentervoicemail": "audio/mpeg",
    "voicemail": "audio/mpeg",
    "voicecommentrecording": "audio/wav",
    "screenrecording": "video/mp4",
    "meeting": "video/mp4",
    "transcription": "application/json",
    "summary": "application/json",
    "sentimentScore": "application/json",
    "postcallsurvey": "application/json",
    "agentnotes": "text/plain",
}
EXTENSIONS = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "video/mp4": "mp4",
    "application/json": "json",
    "text/plain": "txt",
}
PRIMARY_TYPES = ("callrecording", "callcenterrecording", "callcentervoicemail")
CC_TYPES = ("callcenterrecording", "callcentervoicemail")
DERIVED_PARENTS = {
    "transcription": PRIMARY_TYPES,
    "summary": ("transcription",),
    "agentnotes": CC_TYPES,
    "screenrecording": ("callcenterrecording",),
    "postcallsurvey": CC_TYPES,
}
QUEUE_NAMES = ("Sales Queue", "Support", "Billing (EMEA)", "Tier 2, Escalations", "Renewals")
AGENT_NAMES = ("Alex Morgan", "Sam Patel", "Jordan Lee", "Riley Chen", "Casey O'Neil", "Taylor Brooks")
TENANTS = ("demotenant01", "acmecorp02", "northwind03")
PBX_NAMES = ("acmepbx", "northwindpbx")
LANGUAGES = ("en-US", "en-GB", "fr-CA", "es-US")
_URLSAFE = string.ascii_letters + string.digits + "-_"
_ALNUM = string.ascii_letters + string.digits


def unique_name(name: str, taken: set[str]) -> str:
    """``name`` or ``name`` with a ``-<n>`` suffix before the extension, not yet in ``taken``."""
    candidate = name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while candidate in taken:
        candidate = f"{stem}-{n}.{ext}" if dot else f"{stem}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def new_uuid(rng: random.Random) -> str:
    """A UUID4-shaped id from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _phone(rng: random.Random) -> str:
    return "+1" + rng.choice(("415", "617", "646", "312")) + _chars(rng, string.digits, 7)


@dataclass
class _Agent:
    agent_id: str
    name: str
    email: str
    user_id: str


class ObjectFactory:
    """Builds object and bucket records; one instance per emulator (shared tenant/users)."""

    def __init__(self, seed: int, size_range: tuple[int, int]) -> None:
        self.seed = seed
        self.size_range = size_range
        rng = random.Random(f"{seed}:customer")
        self.customer_id = "0012J00000" + _chars(rng, string.ascii_uppercase + string.digits, 8)
        self.agents = [
            _Agent(
                agent_id="ag" + _chars(rng, _ALNUM, 20),
                name=name,
                email=name.lower().replace(" ", ".").replace("'", "") + "@example.com",
                user_id=_chars(rng, _URLSAFE, 22),
            )
            for name in AGENT_NAMES
        ]

    # -- public --------------------------------------------------------------------------------
    def pick_type(self, rng: random.Random) -> str:
        """A random object type following the realistic mix in :data:`TYPE_WEIGHTS`."""
        types, weights = zip(*TYPE_WEIGHTS, strict=True)
        return rng.choices(types, weights=weights)[0]

    def build(
        self,
        rng: random.Random,
        region: str,
        obj_type: str,
        *,
        created_ms: int,
        state: str,
        size: int | None = None,
        parent: ObjectRecord | None = None,
        bucket: BucketRecord | None = None,
        tags: tuple[tuple[str, str], ...] | None = None,
        object_name: str | None = None,
        mime_type: str | None = None,
        checksum_override: str | None = None,
    ) -> tuple[ObjectRecord, BucketRecord | None]:
        """One object; returns ``(record, new_bucket_or_None)``.

        ``parent`` (an object of the same call) shares its bucket and call tags; ``bucket`` puts
        the object in an existing bucket; otherwise a new bucket is created.
        """
        object_id = new_uuid(rng)
        if size is None:
            size = rng.randint(*self.size_range)
        agent = rng.choice(self.agents)
        parent_tags = dict(parent.tags) if parent else {}
        tenant = parent_tags.get("tenantId") or rng.choice(TENANTS)
        call_id = parent_tags.get("callId") or self._call_id(rng, created_ms, tenant)
        if parent is not None:
            agent = next((a for a in self.agents if a.user_id == parent.user_id), agent)
        mime = mime_type or MIME_TYPES.get(obj_type, "application/octet-stream")
        generated_tags, generated_name = self._tags_and_name(
            rng, obj_type, call_id, tenant, agent, created_ms, parent, mime
        )
        new_bucket: BucketRecord | None = None
        if parent is not None:
            bucket_id = parent.bucket_id
        elif bucket is not None:
            bucket_id = bucket.bucket_id
        else:
            bucket_id = new_uuid(rng)
            new_bucket = BucketRecord(
                bucket_id=bucket_id,
                region=region,
                customer_id=self.customer_id,
                user_id=agent.user_id,
                tags=(("callId", call_id), ("name", call_id)),
            )
        record = ObjectRecord(
            id=object_id,
            region=region,
            type=obj_type,
            mime_type=mime,
            object_name=object_name or generated_name,
            customer_id=self.customer_id,
            user_id=agent.user_id,
            size=size,
            created_ms=created_ms,
            updated_ms=created_ms + rng.randint(2, 45) * 1000,
            state=state,
            bucket_id=bucket_id,
            tags=tags if tags is not None else generated_tags,
            content=ContentSource(self.seed, object_id, size),
            checksum_override=checksum_override,
            shared=rng.random() < 0.1,
        )
        return record, new_bucket

    def seed_region(
        self,
        region: str,
        count: int,
        created_range: tuple[int, int],
        archived_fraction: float,
        revoked_fraction: float,
        multipart_fraction: float,
    ) -> tuple[list[ObjectRecord], list[BucketRecord]]:
        """``count`` seeded objects of one region, plus their buckets."""
        rng = random.Random(f"{self.seed}:region:{region}")
        objects: list[ObjectRecord] = []
        names: set[str] = set()
        buckets: dict[str, BucketRecord] = {}
        start, end = created_range
        for _ in range(count):
            obj_type = self.pick_type(rng)
            created_ms = rng.randint(start // 1000, end // 1000) * 1000
            roll = rng.random()
            if roll < archived_fraction:
                state = "ARCHIVED"
            elif roll < archived_fraction + revoked_fraction:
                state = "REVOKED"
            else:
                state = "AVAILABLE"
            checksum = None
            if rng.random() < multipart_fraction:
                checksum = f"{rng.getrandbits(128):032x}-1"
            parent = self._pick_parent(rng, obj_type, objects)
            if parent is not None:
                created_ms = min(parent.created_ms + rng.randint(5, 120) * 1000, end)
            record, bucket = self.build(
                rng,
                region,
                obj_type,
                created_ms=created_ms,
                state=state,
                parent=parent,
                checksum_override=checksum,
            )
            record.object_name = unique_name(record.object_name, names)
            objects.append(record)
            if bucket is not None:
                buckets[bucket.bucket_id] = bucket
            buckets[record.bucket_id].object_ids.append(record.id)
        return objects, list(buckets.values())

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _pick_parent(rng: random.Random, obj_type: str, existing: list[ObjectRecord]) -> ObjectRecord | None:
        parent_types = DERIVED_PARENTS.get(obj_type)
        if not parent_types:
            return None
        candidates = [o for o in existing[-25:] if o.type in parent_types]
        if not candidates or rng.random() < 0.15:
            return None
        return rng.choice(candidates)

    @staticmethod
    def _call_id(rng: random.Random, created_ms: int, tenant: str) -> str:
        return f"int-{created_ms:x}-{_chars(rng, _ALNUM, 14)}-phone-00-{tenant}"

    def _tags_and_name(
        self,
        rng: random.Random,
        obj_type: str,
        call_id: str,
        tenant: str,
        agent: _Agent,
        created_ms: int,
        parent: ObjectRecord | None,
        mime: str,
    ) -> tuple[tuple[tuple[str, str], ...], str]:
        ext = EXTENSIONS.get(mime, "bin")
        duration_ms = rng.randint(15, 1800) * 1000
        start_ms = created_ms - duration_ms - rng.randint(1, 20) * 1000
        direction = rng.choice(("INBOUND", "OUTBOUND"))
        ipbxid = rng.choice(PBX_NAMES)
        tags: list[tuple[str, str]]
        name: str
        if obj_type == "callrecording":
            ext_num = str(rng.randint(1000, 1999))
            call_log_id = str(rng.randint(10**12, 10**13 - 1))
            caller = _phone(rng)
            base = f"{start_ms}-{call_log_id}-x{ext_num}u1-{caller}_{'I' if direction == 'INBOUND' else 'E'}"
            if rng.random() < 0.25:
                name = f"ipbx:{ipbxid}:callrecording:users:{ext_num}:{base}.{ext}"
            else:
                name = f"{base}.{ext}".replace("+", "")
            tags = [
                ("pbxname", ipbxid),
                ("pbxId", _chars(rng, _ALNUM, 12)),
                ("extensionId", _chars(rng, _ALNUM, 16)),
                ("extensionNumber", ext_num),
                ("callId", call_id),
                ("callLogId", call_log_id),
                ("direction", direction),
                ("callerId", caller),
                ("address", _phone(rng)),
                ("startTime", str(start_ms)),
                ("endTime", str(start_ms + duration_ms)),
                ("duration", str(duration_ms)),
                ("relativePath", f"recordings/{ipbxid}/{ext_num}/"),
                ("guid", new_uuid(rng)),
                ("ipbxid", ipbxid),
                ("branchId", str(rng.randint(1, 9))),
                ("userName", agent.name),
                ("userEmail", agent.email),
                ("media-processed", "true"),
            ]
        elif obj_type in CC_TYPES:
            queue = rng.choice(QUEUE_NAMES)
            caller_name = rng.choice(("Pat Doe", "Chris Roe", "Unknown", "Acme, Inc."))
            kind = "voicemail" if obj_type == "callcentervoicemail" else "phone"
            name = f"{call_id.replace('-phone-', f'-{kind}-')}.{ext}"
            tags = [
                ("direction", direction),
                ("agentId", agent.agent_id),
                ("agentName", agent.name),
                ("callId", call_id),
                ("callSnippetId", str(rng.randint(1, 3))),
                ("callerId", _phone(rng)),
                ("callerName", caller_name),
                ("calleeId", _phone(rng)),
                ("calleeName", agent.name),
                ("address", _phone(rng)),
                ("queueNumber", str(rng.randint(8000, 8999))),
                ("queueName", queue),
                ("channelName", rng.choice(("Main Line", "Support Line"))),
                ("transactionId", str(rng.randint(10**6, 10**7))),
                ("holdDuration", str(rng.randint(0, 120) * 1000)),
                ("billingTelephoneNumber", _phone(rng)),
                ("startTime", str(start_ms)),
                ("duration", str(duration_ms)),
                ("ipbxid", ipbxid),
                ("tenantId", tenant),
                ("extensionNumber", str(rng.randint(1000, 1999))),
                ("mediaUrl", f"/nfs/{tenant}/{call_id}.{ext}"),
                ("branchId", str(rng.randint(1, 9))),
            ]
            if obj_type == "callcentervoicemail":
                tags += [("agentEmail", agent.email), ("originalCallId", call_id)]
        elif obj_type == "transcription":
            source_type = {
                "callrecording": "callrecordingchannel",
                "callcenterrecording": "callcenterrecording",
                "callcentervoicemail": "callcentervoicemail",
            }.get(parent.type if parent else "", rng.choice(("callcenterrecording", "voicecommentrecording")))
            speaker = rng.choice(("owner", "external"))
            stem = parent.object_name.rsplit(".", 1)[0] if parent else call_id
            name = f"{stem}-{speaker}-transcript.{ext}"
            tags = [
                ("sourceObjectType", source_type),
                ("speaker", speaker),
                ("sourceId", parent.id if parent else new_uuid(rng)),
                ("result", "SUCCESS"),
                ("language", rng.choices(LANGUAGES, weights=(6, 2, 1, 1))[0]),
                ("provider", "8x8"),
                ("duration", str(duration_ms // 1000)),
                ("callId", call_id),
                ("tenantId", tenant),
            ]
        elif obj_type == "voicemail":
            ext_num = str(rng.randint(1000, 1999))
            name = f"voicemail-{ext_num}-{start_ms}.{ext}"
            tags = [
                ("callId", call_id),
                ("direction", "INBOUND"),
                ("callerId", _phone(rng)),
                ("extensionNumber", ext_num),
                ("startTime", str(start_ms)),
                ("duration", str(duration_ms)),
            ]
        elif obj_type == "screenrecording":
            stamp = _compact_time(start_ms)
            name = f"screen-{call_id}-{stamp}.{ext}"
            tags = [
                ("agentId", agent.agent_id),
                ("callId", call_id),
                ("startTime", str(start_ms)),
                ("tenantId", tenant),
                ("transactionId", str(rng.randint(10**6, 10**7))),
                ("duration", str(duration_ms)),
                ("startedBy", rng.choice(("agent", "supervisor", "auto"))),
                ("identifier", _chars(rng, _ALNUM, 10)),
                ("recording_start_time", stamp),
            ]
        elif obj_type == "meeting":
            session = _chars(rng, _ALNUM, 12)
            name = f"meeting-{session}.{ext}"
            tags = [
                ("duration", str(duration_ms)),
                ("meetingUrl", f"https://meet.example.com/{session}"),
                ("sessionId", session),
            ]
        elif obj_type == "agentnotes":
            name = f"agentnotes-{call_id}.{ext}"
            tags = [("callId", call_id), ("ipbxid", ipbxid), ("tenantId", tenant)]
        elif obj_type == "summary":
            name = f"summary-{call_id}.{ext}"
            tags = [
                ("callId", call_id),
                ("result", "SUCCESS"),
                ("tenantId", tenant),
                ("sourceObjectId", parent.id if parent else new_uuid(rng)),
                ("sourceObjectType", "transcription"),
                ("contentObjectType", "callcenterrecordingchannel"),
            ]
        elif obj_type == "postcallsurvey":
            pcs_id = str(rng.randint(10**5, 10**6))
            name = f"pcs-{pcs_id}-{call_id}.{ext}"
            tags = [("pcsId", pcs_id), ("callId", call_id), ("agentId", agent.agent_id), ("tenantId", tenant)]
        else:
            name = f"{obj_type}-{call_id}.{ext}"
            tags = [("callId", call_id), ("tenantId", tenant)]
        return tuple(tags), name


def _compact_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y%m%dT%H%M%S")
