"""Usage ingest: validate a batch, store it durably and deduplicated, answer per event.

Outcomes per event, in request order:

- ``accepted``: stored now (pending rating);
- ``duplicate``: the same ``event_id`` with the same canonical payload is already stored (success, nothing
  stored twice);
- ``conflict``: the same ``event_id`` with a different payload is stored; the stored one is kept;
- ``rejected`` with a ``reason`` (see ``Reject``): nothing stored;
- ``quarantined`` with a ``reason`` (see ``Quarantine``): stored, never billed until re-attributed.

Durability: the response is built only after the transaction that stores the events (and claims the
request's ``Idempotency-Key``) has committed (``billing.usage.storage``: COPY into a temporary staging
table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``). After the commit,
``usage_stored`` is sent: rating's nudge listens."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.usage.idempotency import IngestResult, request_claim, request_replay
from billing.usage.models import IngestRequest, Quarantine, UsageEvent
from billing.usage.parsing import (
    EventRejected,
    Reject,
    TagLimits,
    canonical_tags,
    parse_quantity,
    parse_tags,
    parse_timestamp,
    payload_sha256,
    plain_text,
    short_string,
)
from billing.usage.signals import announce_usage_stored
from billing.usage.storage import StoredRow, store_batch
from common import metrics
from common.errors import ApplicationError, PermissionDenied
from tenants.models import Project, Tenant

logger = logging.getLogger(__name__)

__all__ = ["BatchTooLarge", "Reject", "catalog_cache_clear", "usage_ingest"]

ALLOWED_FIELDS = frozenset({"event_id", "sku", "timestamp", "quantity", "project", "tags", "tenant"})
DEFAULT_BACKDATING_DAYS = 35


class ParsedEvent(NamedTuple):
    """One event that passed parsing, before attribution (tenant, SKU, project, version)."""

    position: int  # in the request
    event_id: str
    sku_code: str
    tenant_slug: str
    project_code: str
    timestamp: datetime
    quantity: Decimal
    tags: dict[str, Any]


class SkuRules(NamedTuple):
    """What attribution needs of a SKU, looked up once per batch."""

    sku: Sku
    sku_id: int
    allow_negative: bool
    unique_count: bool


class BatchTooLarge(ApplicationError):
    status_code = 413
    code = "batch_too_large"


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
        if tenant.status == Tenant.Status.CLOSED:
            metrics.INGEST_AUTH_FAILURES.labels(reason="tenant_closed").inc()
            raise PermissionDenied(f"tenant {tenant.slug!r} is closed: it can no longer send usage")
        for event in events:
            if isinstance(event, dict) and event.get("tenant") not in (None, tenant.slug):
                metrics.INGEST_AUTH_FAILURES.labels(reason="tenant_mismatch").inc()
                raise PermissionDenied("a tenant API key can only send its own tenant's events")

    scope = f"tenant:{tenant.pk}" if tenant is not None else "platform"
    if idempotency_key is not None:
        replay = request_replay(scope=scope, key=idempotency_key, request_sha256=request_sha256)
        if replay is not None:
            return replay

    outcomes: list[dict[str, Any] | None] = [None] * len(events)
    rows = _validate_and_resolve(tenant=tenant, events=events, outcomes=outcomes, now=now)

    # Duplicates inside the batch are classified against the batch's first occurrence.
    first_by_key: dict[tuple[int | None, str, str], StoredRow] = {}
    unique_rows: list[StoredRow] = []
    for row in rows:
        seen = first_by_key.get(row.key)
        if seen is None:
            first_by_key[row.key] = row
            unique_rows.append(row)
        else:
            outcomes[row.index] = _outcome(row.event_id, "duplicate" if seen.sha == row.sha else "conflict")

    tenant_ids = {
        r.tenant_id for r in unique_rows if r.tenant_id is not None and r.status == UsageEvent.Status.ACCEPTED
    }
    with transaction.atomic():
        if idempotency_key is not None:
            request_claim(scope=scope, key=idempotency_key, request_sha256=request_sha256)
        stored = store_batch(unique_rows, received_at=now)
        for row in unique_rows:
            existing_sha = stored.get(row.index)
            if existing_sha is None:  # same dict as _outcome() builds (a stored row's event_id is a str)
                stored_as = "quarantined" if row.status == UsageEvent.Status.QUARANTINED else "accepted"
                stored_item: dict[str, Any] = {"event_id": row.event_id, "status": stored_as}
                if row.reason:
                    stored_item["reason"] = row.reason
                outcomes[row.index] = stored_item
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
            transaction.on_commit(announce_usage_stored)

    by_outcome: dict[tuple[str, str], int] = {}
    for item in outcomes:
        assert item is not None
        label = (item["status"], item.get("reason", ""))
        by_outcome[label] = by_outcome.get(label, 0) + 1
    for (status, reason), n in by_outcome.items():
        metrics.INGEST_EVENTS.labels(outcome=status, reason=reason).inc(n)
        if status == "quarantined":  # the reason without its detail (a missing tag's name)
            metrics.QUARANTINED_EVENTS.labels(stage="ingest", reason=reason.split(":")[0]).inc(n)
    metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
    return IngestResult(status_code=200, body=body, counts=counts)


def _validate_and_resolve(
    *, tenant: Tenant | None, events: Sequence[Any], outcomes: list[dict[str, Any] | None], now: datetime
) -> list[StoredRow]:
    catalog = _Catalog.lookup()
    future_limit = now + timedelta(seconds=settings.USAGE_FUTURE_TOLERANCE_SECONDS)
    limits = TagLimits.current()

    # (index, event_id, sku code, tenant slug, project code, timestamp, quantity, tags) per valid event
    parsed: list[ParsedEvent] = []
    for index, event in enumerate(events):
        try:
            if not isinstance(event, dict):
                raise EventRejected(Reject.NOT_AN_OBJECT, "each event must be a JSON object")
            if not ALLOWED_FIELDS.issuperset(event):
                unknown = set(event) - ALLOWED_FIELDS
                raise EventRejected(Reject.UNKNOWN_FIELD, f"unknown field(s): {', '.join(sorted(unknown))}")
            # The common case (short printable ASCII) inline; anything else gets short_string's checks.
            event_id = event.get("event_id")
            if not (type(event_id) is str and 0 < len(event_id) <= 128 and plain_text(event_id)):
                event_id = short_string(
                    event_id, max_length=128, reason=Reject.INVALID_EVENT_ID, name="event_id"
                )
            sku_code = event.get("sku")
            if not (type(sku_code) is str and 0 < len(sku_code) <= 64 and plain_text(sku_code)):
                sku_code = short_string(sku_code, max_length=64, reason=Reject.INVALID_SKU, name="sku")
            if tenant is None:
                if event.get("tenant") is None:
                    raise EventRejected(
                        Reject.MISSING_TENANT, "a platform key must name the tenant of each event"
                    )
                slug = short_string(
                    event["tenant"], max_length=64, reason=Reject.INVALID_TENANT, name="tenant"
                )
            else:
                slug = tenant.slug
            project = event.get("project")
            project_code = (
                ""
                if project is None
                else short_string(project, max_length=64, reason=Reject.INVALID_PROJECT, name="project")
            )
            timestamp = parse_timestamp(event.get("timestamp"))
            if "quantity" not in event:
                raise EventRejected(Reject.INVALID_QUANTITY, "quantity is required")
            quantity = parse_quantity(event["quantity"])
            tags = parse_tags(event.get("tags"), limits)
            if timestamp > future_limit:
                raise EventRejected(
                    Reject.TIMESTAMP_IN_FUTURE,
                    f"timestamp is more than {settings.USAGE_FUTURE_TOLERANCE_SECONDS} s in the future",
                )
        except EventRejected as rejected:
            raw_id = event.get("event_id") if isinstance(event, dict) else None
            outcomes[index] = _outcome(raw_id, "rejected", rejected.reason, rejected.message)
            continue
        parsed.append(ParsedEvent(index, event_id, sku_code, slug, project_code, timestamp, quantity, tags))

    if tenant is not None:
        tenants = {tenant.slug: tenant}
    else:
        slugs = {p.tenant_slug for p in parsed}
        tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=slugs)}
    timeline = VersionTimeline(t.pk for t in tenants.values())
    wanted_projects = {
        (tenants[p.tenant_slug].pk, p.project_code)
        for p in parsed
        if p.project_code and p.tenant_slug in tenants
    }
    projects: dict[tuple[int, str], Project] = {}
    if wanted_projects:
        for known in Project.objects.filter(
            tenant_id__in={t for t, _ in wanted_projects}, code__in={c for _, c in wanted_projects}
        ):
            projects[(known.tenant_id, known.code)] = known

    # Per-batch lookups (a batch has a handful of tenants, SKUs and versions but 1,000 events): the tenant
    # id, each SKU's id and meter flags, each version's backdating cutoff and required tags, once each.
    owner_ids: dict[str, int] = {slug: t.pk for slug, t in tenants.items()}
    skus: dict[str, SkuRules] = {}
    for code in {p.sku_code for p in parsed}:
        sku = catalog.get(code)
        if sku is not None:
            meter = sku.meter
            unique = meter.aggregation == Meter.Aggregation.UNIQUE_COUNT
            skus[code] = SkuRules(sku, sku.pk, meter.allow_negative, unique)
    version_rules: dict[Any, tuple[int, list[str], datetime]] = {}
    priced: dict[tuple[Any, str], bool] = {}
    quarantined, accepted = UsageEvent.Status.QUARANTINED, UsageEvent.Status.ACCEPTED
    closed = Tenant.Status.CLOSED

    rows: list[StoredRow] = []
    for index, event_id, sku_code, slug, project_code, timestamp, quantity, tags in parsed:
        owner = tenants.get(slug)
        sku_entry = skus.get(sku_code)
        reason = ""
        owner_id = owner_ids[slug] if owner is not None else None
        version = timeline.version_at(owner_id, timestamp) if owner_id is not None else None
        version_key = version.pk if version is not None else None
        rules = version_rules.get(version_key)
        if rules is None:
            days, required = _version_settings(version)
            rules = version_rules[version_key] = (days, required, now - timedelta(days=days))
        backdating_days, required_tags, oldest = rules
        try:
            if owner is not None and owner.status == closed:
                raise EventRejected(Reject.TENANT_CLOSED, f"tenant {owner.slug!r} is closed")
            if quantity < 0 and (sku_entry is None or not sku_entry.allow_negative):
                raise EventRejected(Reject.NEGATIVE_QUANTITY, "quantity must not be negative for this meter")
            if timestamp < oldest:
                raise EventRejected(
                    Reject.TIMESTAMP_TOO_OLD,
                    f"timestamp is older than the {backdating_days}-day backdating window",
                )
        except EventRejected as rejected:
            outcomes[index] = _outcome(event_id, "rejected", rejected.reason, rejected.message)
            continue
        project_row: Project | None = None
        if owner_id is not None and project_code:
            project_row = projects.get((owner_id, project_code))
        if owner is None:
            reason = Quarantine.UNKNOWN_TENANT
        elif sku_entry is None:
            reason = Quarantine.UNKNOWN_SKU
        elif project_code and project_row is None:
            reason = Quarantine.UNKNOWN_PROJECT
        elif version is None:
            reason = Quarantine.NO_PROFILE_VERSION
        else:
            sku = sku_entry.sku
            in_profile = priced.get((version_key, sku_code))
            if in_profile is None:
                in_profile = priced[(version_key, sku_code)] = timeline.prices(version, sku.code)
            if not in_profile:
                reason = Quarantine.SKU_NOT_IN_PROFILE
            elif required_tags and any(
                not _has_tag(t, tags=tags, project_code=project_code) for t in required_tags
            ):
                reason = Quarantine.MISSING_REQUIRED_TAG
            elif sku_entry.unique_count and not _has_tag(sku.meter.unique_tag, tags=tags, project_code=""):
                reason = Quarantine.MISSING_UNIQUE_TAG
        tags_json = canonical_tags(tags)
        sha = payload_sha256(
            tenant=slug,
            event_id=event_id,
            sku=sku_code,
            timestamp=timestamp,
            quantity=quantity,
            project=project_code,
            tags_json=tags_json,
        )
        rows.append(
            StoredRow(  # positional (a thousand per request): the order of StoredRow's fields
                index,
                owner_id,
                slug,
                event_id,
                sku_entry.sku_id if sku_entry is not None else None,
                sku_code,
                project_row.pk if project_row is not None else None,
                project_code,
                timestamp,
                quantity,
                tags,
                tags_json,
                sha,
                quarantined if reason else accepted,
                reason,
            )
        )
    return rows
