"""Usage ingest: validate a batch, store it durably and deduplicated, answer per event, nudge rating.

Outcomes per event, in request order:

- ``accepted``: stored now (pending rating);
- ``duplicate``: the same ``event_id`` with the same canonical payload is already stored (success, nothing
  stored twice);
- ``conflict``: the same ``event_id`` with a different payload is stored; the stored one is kept;
- ``rejected`` with a ``reason`` (see ``Reject``): nothing stored;
- ``quarantined`` with a ``reason`` (see ``Quarantine``): stored, never billed until re-attributed.

Durability: the response is built only after the transaction that stores the events (and claims the
request's ``Idempotency-Key``) has committed. PostgreSQL takes the fast path (COPY into a temporary
staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``); other databases take a
portable path with the same outcomes (read the stored keys, then a bulk insert, inside the writer-exclusive
transaction SQLite gives us)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from billing.models import IngestRequest, Meter, ProfileVersion, Sku, UsageEvent
from billing.selectors.usage import VersionTimeline, pending_backlog
from billing.services import usage_metrics as metrics
from common.errors import ApplicationError, Conflict, PermissionDenied
from tenants.models import Project, Tenant

logger = logging.getLogger(__name__)

QUANTUM = Decimal("1e-12")
MAX_QUANTITY = Decimal(10) ** 26  # numeric(38, 12)
ALLOWED_FIELDS = frozenset({"event_id", "sku", "timestamp", "quantity", "project", "tags", "tenant"})
MAX_TIMESTAMP_LENGTH = 64
DEFAULT_BACKDATING_DAYS = 35


class Reject:
    """Machine-readable reasons for `rejected` (nothing stored)."""

    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_EVENT_ID = "invalid_event_id"
    INVALID_SKU = "invalid_sku"
    MISSING_TENANT = "missing_tenant"
    INVALID_TENANT = "invalid_tenant"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    INVALID_QUANTITY = "invalid_quantity"
    QUANTITY_NOT_FINITE = "quantity_not_finite"
    NEGATIVE_QUANTITY = "negative_quantity"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    INVALID_PROJECT = "invalid_project"
    INVALID_TAGS = "invalid_tags"


class Quarantine:
    """Reasons for `quarantined` (stored, counted, not billed until re-attributed)."""

    UNKNOWN_TENANT = "unknown_tenant"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_PROJECT = "unknown_project"
    MISSING_REQUIRED_TAG = "missing_required_tag"
    MISSING_UNIQUE_TAG = "missing_unique_tag"
    NO_PROFILE_VERSION = "no_profile_version"
    SKU_NOT_IN_PROFILE = "sku_not_in_profile"


class BatchTooLarge(ApplicationError):
    status_code = 413
    code = "batch_too_large"


class Backpressure(ApplicationError):
    """429 (per-tenant rate) or 503 (rating backlog); `retry_after` in seconds."""

    code = "backpressure"

    def __init__(self, message: str, *, status_code: int, retry_after: int):
        super().__init__(message, extra={"retry_after": retry_after})
        self.status_code = status_code
        self.retry_after = retry_after


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass
class IngestResult:
    status_code: int
    body: bytes
    replayed: bool = False
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Row:
    """One event that will be stored (accepted or quarantined)."""

    index: int
    tenant_id: int | None
    tenant_slug: str
    event_id: str
    sku_id: int | None
    sku_code: str
    project_id: int | None
    project_code: str
    timestamp: datetime
    quantity: Decimal
    tags: dict[str, Any]
    tags_json: str
    sha: str
    status: str
    reason: str = ""

    @property
    def key(self) -> tuple[int | None, str, str]:
        return (self.tenant_id, "" if self.tenant_id is not None else self.tenant_slug, self.event_id)


# --- validation -----------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value or len(value) > MAX_TIMESTAMP_LENGTH:
        raise _Rejected(Reject.INVALID_TIMESTAMP, "timestamp must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise _Rejected(Reject.INVALID_TIMESTAMP, f"timestamp is not ISO 8601: {value!r}") from err
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Rejected(Reject.TIMESTAMP_WITHOUT_OFFSET, "timestamp needs a UTC offset (e.g. Z or +01:00)")
    return parsed.astimezone(UTC)


def _parse_quantity(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _Rejected(Reject.INVALID_QUANTITY, "quantity must be a decimal string or a number")
    if isinstance(value, str):
        if len(value) > 64:
            raise _Rejected(Reject.INVALID_QUANTITY, "quantity is too long")
        try:
            quantity = Decimal(value.strip())
        except InvalidOperation as err:
            raise _Rejected(Reject.INVALID_QUANTITY, f"quantity is not a decimal: {value!r}") from err
    else:
        quantity = Decimal(value)
    if not quantity.is_finite():
        raise _Rejected(Reject.QUANTITY_NOT_FINITE, "quantity must be finite (no NaN or Infinity)")
    if abs(quantity) >= MAX_QUANTITY or quantity != quantity.quantize(QUANTUM):
        raise _Rejected(
            Reject.QUANTITY_OUT_OF_RANGE, "quantity needs at most 26 integer digits and 12 decimal places"
        )
    return quantity


@dataclass(frozen=True)
class _Limits:
    """Settings read once per batch (settings attribute access is slow in a per-event loop)."""

    tags_max_keys: int
    tag_key_max: int
    tag_value_max: int

    @classmethod
    def current(cls) -> _Limits:
        return cls(
            settings.USAGE_TAGS_MAX_KEYS,
            settings.USAGE_TAG_KEY_MAX_LENGTH,
            settings.USAGE_TAG_VALUE_MAX_LENGTH,
        )


def _parse_tags(value: Any, limits: _Limits) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Rejected(Reject.INVALID_TAGS, "tags must be a flat JSON object")
    if len(value) > limits.tags_max_keys:
        raise _Rejected(Reject.INVALID_TAGS, f"at most {limits.tags_max_keys} tags")
    tags: dict[str, Any] = {}
    key_max, value_max = limits.tag_key_max, limits.tag_value_max
    for key, raw in value.items():
        if not key or len(key) > key_max:
            raise _Rejected(Reject.INVALID_TAGS, f"tag keys need 1 to {key_max} characters")
        kind = type(raw)
        if kind is str:
            if len(raw) > value_max:
                raise _Rejected(Reject.INVALID_TAGS, f"tag {key!r} is longer than {value_max}")
            tags[key] = raw
        elif kind is Decimal:  # JSON numbers with a fraction arrive exact; stored as their text
            if not raw.is_finite():
                raise _Rejected(Reject.INVALID_TAGS, f"tag {key!r} is not finite")
            tags[key] = str(raw)
        elif raw is None or kind is int or kind is bool:
            tags[key] = raw
        else:
            raise _Rejected(
                Reject.INVALID_TAGS, f"tag {key!r} must be a scalar (string, number, boolean, null)"
            )
    return tags


def _short_string(value: Any, *, max_length: int, reason: str, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _Rejected(reason, f"{name} must be a string of 1 to {max_length} characters")
    return value


def canonical_tags(tags: dict[str, Any]) -> str:
    return json.dumps(tags, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_sha256(
    *,
    tenant: str,
    event_id: str,
    sku: str,
    timestamp: datetime,
    quantity: Decimal,
    project: str,
    tags_json: str,
) -> str:
    """Hash of the canonical event: what makes a resent event a duplicate rather than a conflict. The
    timestamp is compared in UTC and the quantity at the stored scale, so `1` and `"1.0"` are the same;
    tags by their canonical JSON (sorted keys)."""
    canonical = "\x1f".join(
        (
            tenant,
            event_id,
            sku,
            timestamp.isoformat(),
            format(quantity.quantize(QUANTUM), "f"),
            project,
            tags_json,
        )
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- resolution -----------------------------------------------------------------------------------


class _Catalog:
    """SKUs by SKU code (or by meter code when that meter has one SKU), cached briefly per process."""

    _cache: tuple[float, dict[str, Sku]] | None = None
    TTL = 5.0

    @classmethod
    def lookup(cls) -> dict[str, Sku]:
        now = time.monotonic()
        if cls._cache is not None and now - cls._cache[0] < cls.TTL:
            return cls._cache[1]
        skus = list(Sku.objects.select_related("meter").filter(active=True))
        by_code: dict[str, Sku] = {}
        by_meter: dict[str, list[Sku]] = {}
        for sku in skus:
            by_code[sku.code] = sku
            by_meter.setdefault(sku.meter.code, []).append(sku)
        for meter_code, rows in by_meter.items():
            if len(rows) == 1 and meter_code not in by_code:
                by_code[meter_code] = rows[0]
        cls._cache = (now, by_code)
        return by_code

    @classmethod
    def clear(cls) -> None:
        cls._cache = None


def catalog_cache_clear() -> None:
    _Catalog.clear()


def _version_settings(version: ProfileVersion | None) -> tuple[int, list[str]]:
    if version is None:
        return DEFAULT_BACKDATING_DAYS, []
    body = version.body
    days = body.get("backdating_days", DEFAULT_BACKDATING_DAYS)
    required = body.get("required_tags") or []
    return int(days), [str(t) for t in required]


def _has_tag(name: str, *, tags: dict[str, Any], project_code: str) -> bool:
    if name == "project" and project_code:
        return True
    value = tags.get(name)
    return value is not None and value != ""


# --- the service ----------------------------------------------------------------------------------


def _outcome(event_id: Any, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {"event_id": event_id if isinstance(event_id, str) else None, "status": status}
    if reason:
        item["reason"] = reason
    if message:
        item["message"] = message
    return item


def usage_ingest(
    *,
    tenant: Tenant | None,
    events: Sequence[Any],
    idempotency_key: str | None = None,
    request_sha256: str = "",
    now: datetime | None = None,
) -> IngestResult:
    """Store a batch of usage events for `tenant` (a tenant key) or, when `tenant` is None (a platform key),
    for the tenant each event names by slug. Returns the response to send, already committed."""
    started = time.perf_counter()
    now = now or timezone.now()
    if len(events) > settings.USAGE_BATCH_MAX_EVENTS:
        raise BatchTooLarge(
            f"a batch holds at most {settings.USAGE_BATCH_MAX_EVENTS} events; this one has {len(events)}",
            extra={"limit": settings.USAGE_BATCH_MAX_EVENTS},
        )
    if tenant is not None:
        for event in events:
            if isinstance(event, dict) and event.get("tenant") not in (None, tenant.slug):
                metrics.INGEST_AUTH_FAILURES.labels(reason="tenant_mismatch").inc()
                raise PermissionDenied("a tenant API key can only send its own tenant's events")

    scope = f"tenant:{tenant.pk}" if tenant is not None else "platform"
    if idempotency_key is not None:
        replay = _replay(scope=scope, key=idempotency_key, request_sha256=request_sha256)
        if replay is not None:
            return replay

    outcomes: list[dict[str, Any] | None] = [None] * len(events)
    rows = _validate_and_resolve(tenant=tenant, events=events, outcomes=outcomes, now=now)

    # Duplicates inside the batch are classified against the batch's first occurrence.
    first_by_key: dict[tuple[int | None, str, str], _Row] = {}
    unique_rows: list[_Row] = []
    for row in rows:
        seen = first_by_key.get(row.key)
        if seen is None:
            first_by_key[row.key] = row
            unique_rows.append(row)
        else:
            outcomes[row.index] = _outcome(row.event_id, "duplicate" if seen.sha == row.sha else "conflict")

    tenant_ids = {
        r.tenant_id for r in unique_rows if r.tenant_id is not None and r.status == UsageEvent.Status.PENDING
    }
    with transaction.atomic():
        if idempotency_key is not None:
            _claim(scope=scope, key=idempotency_key, request_sha256=request_sha256)
        if connection.vendor == "postgresql":
            stored = _store_postgresql(unique_rows, received_at=now)
        else:
            stored = _store_portable(unique_rows, received_at=now)
        for row in unique_rows:
            existing_sha = stored.get(row.index)
            if existing_sha is None:
                stored_as = "quarantined" if row.status == UsageEvent.Status.QUARANTINED else "accepted"
                outcomes[row.index] = _outcome(row.event_id, stored_as, row.reason)
            else:
                outcomes[row.index] = _outcome(
                    row.event_id, "duplicate" if existing_sha == row.sha else "conflict"
                )
        counts: dict[str, int] = {}
        for item in outcomes:
            assert item is not None
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        body = json.dumps({"results": outcomes, "counts": counts}, separators=(",", ":")).encode()
        if idempotency_key is not None:
            IngestRequest.objects.create(
                scope=scope,
                key=idempotency_key,
                tenant=tenant,
                request_sha256=request_sha256,
                response_status=200,
                response_body=body.decode(),
                created_at=now,
            )
        if counts.get("accepted") and tenant_ids:
            transaction.on_commit(rating_nudge)

    by_outcome: dict[tuple[str, str], int] = {}
    for item in outcomes:
        assert item is not None
        label = (item["status"], item.get("reason", ""))
        by_outcome[label] = by_outcome.get(label, 0) + 1
    for (status, reason), n in by_outcome.items():
        metrics.INGEST_EVENTS.labels(outcome=status, reason=reason).inc(n)
    metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
    return IngestResult(status_code=200, body=body, counts=counts)


def _validate_and_resolve(
    *, tenant: Tenant | None, events: Sequence[Any], outcomes: list[dict[str, Any] | None], now: datetime
) -> list[_Row]:
    catalog = _Catalog.lookup()
    future_limit = now + timedelta(seconds=settings.USAGE_FUTURE_TOLERANCE_SECONDS)
    limits = _Limits.current()

    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, event in enumerate(events):
        try:
            if not isinstance(event, dict):
                raise _Rejected(Reject.NOT_AN_OBJECT, "each event must be a JSON object")
            unknown = set(event) - ALLOWED_FIELDS
            if unknown:
                raise _Rejected(Reject.UNKNOWN_FIELD, f"unknown field(s): {', '.join(sorted(unknown))}")
            event_id = _short_string(
                event.get("event_id"), max_length=128, reason=Reject.INVALID_EVENT_ID, name="event_id"
            )
            sku_code = _short_string(event.get("sku"), max_length=64, reason=Reject.INVALID_SKU, name="sku")
            if tenant is None:
                if event.get("tenant") is None:
                    raise _Rejected(
                        Reject.MISSING_TENANT, "a platform key must name the tenant of each event"
                    )
                slug = _short_string(
                    event["tenant"], max_length=64, reason=Reject.INVALID_TENANT, name="tenant"
                )
            else:
                slug = tenant.slug
            project = event.get("project")
            project_code = (
                ""
                if project is None
                else _short_string(project, max_length=64, reason=Reject.INVALID_PROJECT, name="project")
            )
            timestamp = _parse_timestamp(event.get("timestamp"))
            if "quantity" not in event:
                raise _Rejected(Reject.INVALID_QUANTITY, "quantity is required")
            quantity = _parse_quantity(event["quantity"])
            tags = _parse_tags(event.get("tags"), limits)
            if timestamp > future_limit:
                raise _Rejected(
                    Reject.TIMESTAMP_IN_FUTURE,
                    f"timestamp is more than {settings.USAGE_FUTURE_TOLERANCE_SECONDS} s in the future",
                )
        except _Rejected as rejected:
            raw_id = event.get("event_id") if isinstance(event, dict) else None
            outcomes[index] = _outcome(raw_id, "rejected", rejected.reason, rejected.message)
            continue
        parsed.append(
            (
                index,
                {
                    "event_id": event_id,
                    "sku": sku_code,
                    "slug": slug,
                    "project": project_code,
                    "timestamp": timestamp,
                    "quantity": quantity,
                    "tags": tags,
                },
            )
        )

    if tenant is not None:
        tenants = {tenant.slug: tenant}
    else:
        slugs = {p["slug"] for _, p in parsed}
        tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=slugs)}
    timeline = VersionTimeline(t.pk for t in tenants.values())
    wanted_projects = {
        (tenants[p["slug"]].pk, p["project"]) for _, p in parsed if p["project"] and p["slug"] in tenants
    }
    projects: dict[tuple[int, str], Project] = {}
    if wanted_projects:
        for known in Project.objects.filter(
            tenant_id__in={t for t, _ in wanted_projects}, code__in={c for _, c in wanted_projects}
        ):
            projects[(known.tenant_id, known.code)] = known

    rows: list[_Row] = []
    for index, p in parsed:
        owner = tenants.get(p["slug"])
        sku = catalog.get(p["sku"])
        quantity = p["quantity"]
        timestamp = p["timestamp"]
        reason = ""
        version = timeline.version_at(owner.pk, timestamp) if owner is not None else None
        backdating_days, required_tags = _version_settings(version)
        try:
            if quantity < 0 and (sku is None or not sku.meter.allow_negative):
                raise _Rejected(Reject.NEGATIVE_QUANTITY, "quantity must not be negative for this meter")
            if timestamp < now - timedelta(days=backdating_days):
                raise _Rejected(
                    Reject.TIMESTAMP_TOO_OLD,
                    f"timestamp is older than the {backdating_days}-day backdating window",
                )
        except _Rejected as rejected:
            outcomes[index] = _outcome(p["event_id"], "rejected", rejected.reason, rejected.message)
            continue
        project_row: Project | None = None
        if owner is not None and p["project"]:
            project_row = projects.get((owner.pk, p["project"]))
        if owner is None:
            reason = Quarantine.UNKNOWN_TENANT
        elif sku is None:
            reason = Quarantine.UNKNOWN_SKU
        elif p["project"] and project_row is None:
            reason = Quarantine.UNKNOWN_PROJECT
        elif version is None:
            reason = Quarantine.NO_PROFILE_VERSION
        elif not timeline.prices(version, sku.code):
            reason = Quarantine.SKU_NOT_IN_PROFILE
        elif any(not _has_tag(t, tags=p["tags"], project_code=p["project"]) for t in required_tags):
            reason = Quarantine.MISSING_REQUIRED_TAG
        elif sku.meter.aggregation == Meter.Aggregation.UNIQUE_COUNT and not _has_tag(
            sku.meter.unique_tag, tags=p["tags"], project_code=""
        ):
            reason = Quarantine.MISSING_UNIQUE_TAG
        tags_json = canonical_tags(p["tags"])
        sha = payload_sha256(
            tenant=p["slug"],
            event_id=p["event_id"],
            sku=p["sku"],
            timestamp=timestamp,
            quantity=quantity,
            project=p["project"],
            tags_json=tags_json,
        )
        rows.append(
            _Row(
                index=index,
                tenant_id=owner.pk if owner is not None else None,
                tenant_slug=p["slug"],
                event_id=p["event_id"],
                sku_id=sku.pk if sku is not None else None,
                sku_code=p["sku"],
                project_id=project_row.pk if project_row is not None else None,
                project_code=p["project"],
                timestamp=timestamp,
                quantity=quantity,
                tags=p["tags"],
                tags_json=tags_json,
                sha=sha,
                status=UsageEvent.Status.QUARANTINED if reason else UsageEvent.Status.PENDING,
                reason=reason,
            )
        )
    return rows


# --- storage --------------------------------------------------------------------------------------

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS usage_ingest_stage (
    ord integer NOT NULL,
    tenant_id bigint,
    tenant_slug varchar(64) NOT NULL,
    event_id varchar(128) NOT NULL,
    sku_id bigint,
    sku_code varchar(64) NOT NULL,
    project_id bigint,
    project_code varchar(64) NOT NULL,
    "timestamp" timestamptz NOT NULL,
    quantity numeric(38, 12) NOT NULL,
    tags jsonb NOT NULL,
    payload_sha256 varchar(64) NOT NULL,
    status varchar(16) NOT NULL,
    quarantine_reason varchar(64) NOT NULL
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = (
    'ord, tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, project_code, "timestamp", '
    "quantity, tags, payload_sha256, status, quarantine_reason"
)
_EVENT_COLUMNS = (
    'tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, project_code, "timestamp", quantity, '
    "tags, payload_sha256, status, quarantine_reason"
)


def _store_postgresql(rows: list[_Row], *, received_at: datetime) -> dict[int, str]:
    """COPY the rows into a per-connection temporary table, insert what is new in one statement, and
    return {index: stored payload hash} for the rows that were already stored."""
    if not rows:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        with cursor.copy(f"COPY usage_ingest_stage ({_STAGE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.index,
                        row.tenant_id,
                        row.tenant_slug,
                        row.event_id,
                        row.sku_id,
                        row.sku_code,
                        row.project_id,
                        row.project_code,
                        row.timestamp,
                        row.quantity,
                        row.tags_json,
                        row.sha,
                        row.status,
                        row.reason,
                    )
                )
        cursor.execute(  # built from the constant column lists above only
            f"INSERT INTO billing_usageevent ({_EVENT_COLUMNS}, late, received_at) "  # noqa: S608
            f"SELECT {_EVENT_COLUMNS}, false, %s FROM usage_ingest_stage ORDER BY ord "
            "ON CONFLICT DO NOTHING RETURNING id",
            [received_at],
        )
        inserted = {r[0] for r in cursor.fetchall()}
        if len(inserted) == len(rows):
            cursor.execute("TRUNCATE usage_ingest_stage")
            return {}
        cursor.execute(
            "SELECT s.ord, e.id, e.payload_sha256 FROM usage_ingest_stage s "
            "JOIN billing_usageevent e ON e.tenant_id = s.tenant_id AND e.event_id = s.event_id "
            "WHERE s.tenant_id IS NOT NULL "
            "UNION ALL "
            "SELECT s.ord, e.id, e.payload_sha256 FROM usage_ingest_stage s "
            "JOIN billing_usageevent e ON e.tenant_id IS NULL AND e.tenant_slug = s.tenant_slug "
            "AND e.event_id = s.event_id WHERE s.tenant_id IS NULL"
        )
        existing = {ord_: sha for ord_, event_pk, sha in cursor.fetchall() if event_pk not in inserted}
        cursor.execute("TRUNCATE usage_ingest_stage")
    return existing


def _store_portable(rows: list[_Row], *, received_at: datetime) -> dict[int, str]:
    """Same outcomes without COPY: read which keys are stored, then bulk-insert the rest. Correct because
    SQLite runs write transactions one at a time (IMMEDIATE mode), so nothing can slip in between."""
    if not rows:
        return {}
    stored: dict[tuple[int | None, str, str], str] = {}
    by_tenant: dict[int | None, list[_Row]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    for tenant_id, group in by_tenant.items():
        for start in range(0, len(group), 500):
            chunk = group[start : start + 500]
            if tenant_id is None:
                qs = UsageEvent.objects.filter(
                    tenant__isnull=True,
                    tenant_slug__in={r.tenant_slug for r in chunk},
                    event_id__in=[r.event_id for r in chunk],
                )
                for slug, event_id, sha in qs.values_list("tenant_slug", "event_id", "payload_sha256"):
                    stored[(None, slug, event_id)] = sha
            else:
                qs = UsageEvent.objects.filter(tenant_id=tenant_id, event_id__in=[r.event_id for r in chunk])
                for event_id, sha in qs.values_list("event_id", "payload_sha256"):
                    stored[(tenant_id, "", event_id)] = sha
    existing: dict[int, str] = {}
    new: list[UsageEvent] = []
    for row in rows:
        stored_sha = stored.get(row.key)
        if stored_sha is not None:
            existing[row.index] = stored_sha
            continue
        new.append(
            UsageEvent(
                tenant_id=row.tenant_id,
                tenant_slug=row.tenant_slug,
                event_id=row.event_id,
                sku_id=row.sku_id,
                sku_code=row.sku_code,
                project_id=row.project_id,
                project_code=row.project_code,
                timestamp=row.timestamp,
                quantity=row.quantity,
                tags=row.tags,
                payload_sha256=row.sha,
                status=row.status,
                quarantine_reason=row.reason,
                received_at=received_at,
            )
        )
    UsageEvent.objects.bulk_create(new, batch_size=500)
    return existing


# --- request idempotency --------------------------------------------------------------------------


def _replay(*, scope: str, key: str, request_sha256: str) -> IngestResult | None:
    record = IngestRequest.objects.filter(scope=scope, key=key).first()
    if record is None:
        return None
    if record.request_sha256 != request_sha256:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return IngestResult(status_code=record.response_status, body=record.response_body.encode(), replayed=True)


def _claim(*, scope: str, key: str, request_sha256: str) -> None:
    """Claim the key inside the storing transaction. On PostgreSQL a transaction-scoped advisory lock
    makes a concurrent request with the same key fail fast with 409 instead of waiting; SQLite
    serializes writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"ingest:{scope}:{key}"]
            )
            (locked,) = cursor.fetchone()
        if not locked:
            raise IdempotencyConflict("a request with this Idempotency-Key is still in flight; retry later")
    # A request that committed between the replay check and the lock: answer 409 (the retry replays).
    record = (
        IngestRequest.objects.filter(scope=scope, key=key).values_list("request_sha256", flat=True).first()
    )
    if record is not None:
        raise IdempotencyConflict(
            "this Idempotency-Key was just used by another request; retry to get its response"
            if record == request_sha256
            else "this Idempotency-Key was used with a different request body"
        )


# --- backpressure ---------------------------------------------------------------------------------


def usage_backpressure_check(*, tenant_key: str, now: float | None = None) -> None:
    """Per-tenant fixed-window rate limit (429) and the unrated-backlog bound (503). The counters live in
    the cache (Redis in production); when the cache is down the checks fail open: ingest keeps accepting."""
    now = time.time() if now is None else now
    window = settings.USAGE_RATE_LIMIT_WINDOW_SECONDS
    limit = settings.USAGE_RATE_LIMIT_REQUESTS
    try:
        if limit > 0:
            slot = int(now // window)
            counter = f"usage:rate:{tenant_key}:{slot}"
            cache.add(counter, 0, timeout=window * 2)
            used = cache.incr(counter)
            if used > limit:
                metrics.INGEST_RATE_LIMITED.labels(kind="rate").inc()
                retry = max(1, math.ceil((slot + 1) * window - now))
                raise Backpressure(
                    f"rate limit of {limit} requests per {window} s exceeded",
                    status_code=429,
                    retry_after=retry,
                )
        bound = settings.USAGE_BACKLOG_MAX_PENDING
        if bound > 0:
            backlog = cache.get("usage:backlog")
            if backlog is None:
                backlog = pending_backlog()
                cache.set("usage:backlog", backlog, timeout=settings.USAGE_BACKLOG_CACHE_SECONDS)
            if backlog > bound:
                metrics.INGEST_RATE_LIMITED.labels(kind="backlog").inc()
                raise Backpressure(
                    f"the rating backlog is over {bound} events; retry later",
                    status_code=503,
                    retry_after=settings.USAGE_BACKLOG_RETRY_AFTER_SECONDS,
                )
    except (RedisError, OSError) as err:
        logger.warning("usage backpressure check skipped, cache unavailable: %s", err)


# --- rating nudge ---------------------------------------------------------------------------------


NUDGE_FLAG = "usage:rating-queued"


def rating_nudge() -> None:
    """Ask a worker to rate pending events, coalesced: a flag in the cache says "a rating task is queued";
    while it is set nobody publishes another, and the task clears it when it starts, so every commit is
    either seen by a running task or makes the next one. A broker or cache outage is logged and counted,
    never raised: the sweeper rates what a lost nudge left behind."""
    from billing.tasks.rating import rate_pending

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            if not cache.add(NUDGE_FLAG, 1, timeout=settings.RATING_NUDGE_FLAG_TTL_SECONDS):
                return
        except (RedisError, OSError) as err:
            logger.warning("rating nudge coalescing skipped, cache unavailable: %s", err)
    try:
        rate_pending.delay()
    except Exception as err:  # a fire-and-forget side effect after commit; kombu raises many types
        metrics.RATING_NUDGE_FAILURES.inc()
        logger.warning("rating nudge failed (broker unavailable?); the sweeper will catch up: %s", err)
        with contextlib.suppress(RedisError, OSError):
            cache.delete(NUDGE_FLAG)


def rating_nudge_received() -> None:
    """Called by the rating task when it starts: later commits must publish a new task."""
    try:
        cache.delete(NUDGE_FLAG)
    except (RedisError, OSError) as err:
        logger.warning("rating nudge flag not cleared, cache unavailable: %s", err)
