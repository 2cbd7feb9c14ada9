"""Quarantined usage: events stored but not billable until someone attributes them (finance, through the
admin's re-attribute action). Re-attribution fixes tenant, SKU, project or tags and sends the event to
rating in a one-event RatingBatch; the event keeps its payload hash, so the client resending the
original event still gets `duplicate`."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.profiles.selectors import VersionTimeline
from billing.usage.models import Quarantine, RatingBatch, UsageEvent
from billing.usage.signals import announce_usage_stored
from common.errors import Conflict, FieldIssue, PermissionDenied, StateError, ValidationFailed
from ledger.audit.services import audit_record
from tenants.models import Project, Role, Tenant
from tenants.selectors import user_is_finance

logger = logging.getLogger(__name__)


def usage_event_reattribute(
    *,
    event: UsageEvent,
    actor: AbstractBaseUser,
    tenant: Tenant | None = None,
    sku: Sku | None = None,
    project: Project | None = None,
    tags: dict[str, Any] | None = None,
) -> UsageEvent:
    """Attribute a quarantined event (each argument given replaces the stored value) and queue it for
    rating. Refuses what would be quarantined again, with the reason."""
    with transaction.atomic():
        locked = UsageEvent.objects.select_for_update().get(pk=event.pk)
        if locked.status != UsageEvent.Status.QUARANTINED:
            raise StateError(f"event {locked.event_id!r} is {locked.status}, not quarantined")
        if tenant is not None:
            locked.tenant = tenant
            locked.tenant_slug = tenant.slug
        if sku is not None:
            locked.sku = sku
            locked.sku_code = sku.code
        if project is not None:
            locked.project = project
            locked.project_code = project.code
        if tags is not None:
            locked.tags = tags
        issues = _issues(locked)
        if issues:
            raise ValidationFailed("the event would still be quarantined", issues=issues)
        if (
            tenant is not None
            and UsageEvent.objects.filter(tenant=tenant, event_id=locked.event_id)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise Conflict(f"tenant {tenant.slug} already has an event {locked.event_id!r}")
        now = timezone.now()
        locked.rating_batch = RatingBatch.objects.create(
            first_event_id=locked.pk,
            last_event_id=locked.pk,
            event_count=1,
            tenant_ids=[locked.tenant_id],
            tenant_id=locked.tenant_id,
            earliest_event_at=locked.timestamp,
            latest_event_at=locked.timestamp,
            source=RatingBatch.Source.REATTRIBUTION,
            created_at=now,
        )
        locked.status = UsageEvent.Status.ACCEPTED
        locked.quarantine_reason = ""
        locked.late = False
        locked.profile_version = None
        locked.reattributed_by = actor  # type: ignore[assignment]
        locked.reattributed_at = now
        locked.save()
        transaction.on_commit(announce_usage_stored)
    logger.info("usage event %s re-attributed by %s", locked.pk, actor.pk)
    return locked


@dataclass(slots=True)
class _Row:
    """What the bulk road reads of a quarantined event (a tuple per row, not a model instance: 50,000 of
    them are read at once) and what `_issues` checks."""

    pk: int
    tenant_id: int | None
    tenant_slug: str
    event_id: str
    sku_id: int | None
    sku_code: str
    project_id: int | None
    project_code: str
    quantity: Decimal
    timestamp: datetime
    tags: dict[str, Any]


_ROW_FIELDS = (
    "pk",
    "tenant_id",
    "tenant_slug",
    "event_id",
    "sku_id",
    "sku_code",
    "project_id",
    "project_code",
    "quantity",
    "timestamp",
    "tags",
)


class _Lookups:
    """What checking an event's attribution reads (SKUs with meters, projects' tenants, the version
    timeline of the tenants), read once for many events: the single-event road and the bulk road use the
    same check (`_issues`), the bulk one with one set of lookups for all its events."""

    def __init__(self, tenant_ids: set[int] | None = None) -> None:
        self._tenant_ids = tenant_ids
        self._timeline: VersionTimeline | None = None
        self._skus: dict[int, Sku] = {}
        self._projects: dict[int, int] = {}

    def sku(self, sku_id: int) -> Sku:
        if sku_id not in self._skus:
            self._skus[sku_id] = Sku.objects.select_related("meter").get(pk=sku_id)
        return self._skus[sku_id]

    def skus(self, ids: set[int]) -> None:
        for sku in Sku.objects.select_related("meter").filter(pk__in=ids - set(self._skus)):
            self._skus[sku.pk] = sku

    def project_tenant(self, project_id: int) -> int:
        if project_id not in self._projects:
            self._projects[project_id] = Project.objects.values_list("tenant_id", flat=True).get(
                pk=project_id
            )
        return self._projects[project_id]

    def projects(self, ids: set[int]) -> None:
        self._projects.update(Project.objects.filter(pk__in=ids).values_list("pk", "tenant_id"))

    def timeline(self, tenant_id: int) -> VersionTimeline:
        if self._timeline is None or (self._tenant_ids is not None and tenant_id not in self._tenant_ids):
            self._tenant_ids = {tenant_id} if self._tenant_ids is None else self._tenant_ids | {tenant_id}
            self._timeline = VersionTimeline(self._tenant_ids)
        return self._timeline


def _issues(event: UsageEvent | _Row, lookups: _Lookups | None = None) -> list[FieldIssue]:
    """Why `event`, as attributed now, would still be quarantined (empty: it may be rated)."""
    lookups = lookups or _Lookups()
    if event.tenant_id is None:
        return [FieldIssue("tenant", Quarantine.UNKNOWN_TENANT)]
    if event.sku_id is None:
        return [FieldIssue("sku", Quarantine.UNKNOWN_SKU)]
    sku = lookups.sku(event.sku_id)
    if event.project_id is None and event.project_code:
        return [FieldIssue("project", Quarantine.UNKNOWN_PROJECT)]
    if event.project_id is not None and lookups.project_tenant(event.project_id) != event.tenant_id:
        return [FieldIssue("project", "the project belongs to another tenant")]
    if not sku.meter.allow_negative and event.quantity < 0:
        return [FieldIssue("quantity", "negative quantity for a meter that does not allow it")]
    timeline = lookups.timeline(event.tenant_id)
    version = timeline.version_at(event.tenant_id, event.timestamp)
    if version is None:
        return [FieldIssue("tenant", Quarantine.NO_PROFILE_VERSION)]
    if not timeline.prices(version, sku.code):
        return [FieldIssue("sku", Quarantine.SKU_NOT_IN_PROFILE)]
    tags = event.tags or {}
    for name in version.body.get("required_tags") or []:
        if name == "project" and event.project_code:
            continue
        if tags.get(name) in (None, ""):
            return [FieldIssue("tags", f"{Quarantine.MISSING_REQUIRED_TAG}: {name}")]
    if sku.meter.aggregation == Meter.Aggregation.UNIQUE_COUNT and tags.get(sku.meter.unique_tag) in (
        None,
        "",
    ):
        return [FieldIssue("tags", f"{Quarantine.MISSING_UNIQUE_TAG}: {sku.meter.unique_tag}")]
    return []


def usage_event_reattribute_from_codes(*, event: UsageEvent, actor: AbstractBaseUser) -> UsageEvent:
    """Re-attribute using the codes the client sent (tenant slug, SKU code, project code), for when finance
    has since created what was missing (the tenant, the SKU, the project, a profile version)."""
    tenant = Tenant.objects.filter(slug=event.tenant_slug).first() if event.tenant_id is None else None
    tenant_id = event.tenant_id if tenant is None else tenant.pk
    sku = Sku.objects.filter(code=event.sku_code).first() if event.sku_id is None else None
    project = None
    if event.project_id is None and event.project_code and tenant_id is not None:
        project = Project.objects.filter(tenant_id=tenant_id, code=event.project_code).first()
    return usage_event_reattribute(event=event, actor=actor, tenant=tenant, sku=sku, project=project)


# --- Bulk re-attribution (finance's quarantine triage) -------------------------------------------------

# One rating batch holds at most this many re-attributed events, and ids at most this far apart: rating
# reads a batch's events by id range (RatingBatch), so a batch over scattered ids would scan the events
# of other batches in between.
BULK_BATCH_EVENTS = 10_000
REATTRIBUTING_ROLES = frozenset({Role.FINANCE_EDITOR, Role.FINANCE_APPROVER})
BULK_BATCH_SPAN = 100_000


@dataclass(frozen=True)
class BulkReattribution:
    """What one bulk re-attribution did: events re-attributed (sent to rating in `batches` rating
    batches), those left quarantined by why (the would-be reason, or a duplicate event id), and how many
    more of the reason group wait beyond the per-request cap."""

    reattributed: int
    left: dict[str, int]
    batches: int
    remaining: int


def usage_events_reattribute_max() -> int:
    return int(getattr(settings, "QUARANTINE_REATTRIBUTE_MAX", 50_000))


def usage_events_reattribute(
    *,
    actor: AbstractBaseUser,
    tenant: Tenant | None = None,
    sku: Sku | None = None,
    project: Project | None = None,
    events: Sequence[int] | None = None,
    reason: str | None = None,
    sku_code: str | None = None,
    tenant_slug: str | None = None,
    now: datetime | None = None,
) -> BulkReattribution:
    """Re-attribute quarantined events in bulk to `tenant`, `sku` and/or `project` (what is given replaces
    the stored value, as in `usage_event_reattribute`): the chosen `events` (ids), or a reason group
    (`reason`, optionally narrowed to the SKU code and tenant slug the client sent). A tenant is given only
    to events that have none or already have it: an event of another customer is left, never moved
    between customers in bulk. The same check as the single road, event by event (`_issues`), with one set
    of lookups; events that would stay quarantined, or whose event id their tenant already has, are left
    as they are and counted by why. At most `QUARANTINE_REATTRIBUTE_MAX` (50,000) events per call: chosen
    events beyond it are refused; a reason group is taken oldest first up to it and `remaining` says how
    many wait (call again). Rows are locked (FOR UPDATE, in id order) for the transaction."""
    if not (actor.is_superuser or user_is_finance(user=actor, roles=REATTRIBUTING_ROLES)):  # type: ignore[attr-defined]
        raise PermissionDenied("only finance editors and approvers (or a superuser) re-attribute usage")
    cap = usage_events_reattribute_max()
    if (events is None) == (reason is None):
        raise ValidationFailed("choose quarantined events or one reason group")
    if tenant is None and sku is None and project is None:
        raise ValidationFailed("choose the customer, SKU or project to attribute the events to")
    if events is not None and len(set(events)) > cap:
        raise ValidationFailed(
            f"at most {cap:,} events per request: {len(set(events)):,} are selected; choose fewer"
        )
    if project is not None and tenant is not None and project.tenant_id != tenant.pk:
        raise ValidationFailed(
            "the project belongs to another tenant", issues=[FieldIssue("project", "not one of the tenant's")]
        )
    now = now or timezone.now()
    group = UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED)
    if events is not None:
        group = group.filter(pk__in=list(set(events)))
    else:
        group = group.filter(quarantine_reason=reason)
        if sku_code is not None:
            group = group.filter(sku_code=sku_code)
        if tenant_slug is not None:
            group = group.filter(tenant_slug=tenant_slug)
    target = _Target(tenant, sku, project)
    with transaction.atomic():
        locked = group.select_for_update().order_by("pk").values_list(*_ROW_FIELDS)[: cap + 1]
        rows = [_Row(*values) for values in locked]
        remaining = 0
        if len(rows) > cap:
            remaining = group.count() - cap
            rows = rows[:cap]
        result, batch_ids = _bulk_apply(rows, target=target, actor=actor, now=now)
        if result.reattributed:
            transaction.on_commit(announce_usage_stored)
        audit_record(
            actor=actor,
            action="usage.reattribute",
            obj=None,
            object_type="billing.usageevent",
            object_id=f"reason:{reason}" if reason is not None else "selected",
            before={
                "status": UsageEvent.Status.QUARANTINED,
                "reason": reason,
                "sku_code": sku_code,
                "tenant_slug": tenant_slug,
                "events": len(rows),
            },
            after={
                "tenant": tenant.slug if tenant is not None else None,
                "sku": sku.code if sku is not None else None,
                "project": project.code if project is not None else None,
                "reattributed": result.reattributed,
                "rating_batches": batch_ids,  # their events are exactly the re-attributed ones
                "left": result.left,
                "remaining": remaining,
            },
            at=now,
        )
    logger.info(
        "%s quarantined events re-attributed by %s (%s left)",
        result.reattributed,
        actor.pk,
        sum(result.left.values()),
    )
    return BulkReattribution(result.reattributed, result.left, result.batches, remaining)


@dataclass(frozen=True)
class _Target:
    tenant: Tenant | None
    sku: Sku | None
    project: Project | None

    def apply(self, event: _Row) -> None:
        if self.tenant is not None:
            event.tenant_id, event.tenant_slug = self.tenant.pk, self.tenant.slug
        if self.sku is not None:
            event.sku_id, event.sku_code = self.sku.pk, self.sku.code
        if self.project is not None:
            event.project_id, event.project_code = self.project.pk, self.project.code

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.tenant is not None:
            fields |= {"tenant_id": self.tenant.pk, "tenant_slug": self.tenant.slug}
        if self.sku is not None:
            fields |= {"sku_id": self.sku.pk, "sku_code": self.sku.code}
        if self.project is not None:
            fields |= {"project_id": self.project.pk, "project_code": self.project.code}
        return fields


ANOTHER_CUSTOMER = "the event is another customer's (not moved in bulk)"
DUPLICATE_ID = "the tenant already has an event with this id"


def _bulk_apply(
    rows: list[_Row], *, target: _Target, actor: AbstractBaseUser, now: datetime
) -> tuple[BulkReattribution, list[int]]:
    left: Counter[str] = Counter()
    if target.tenant is not None:
        moving = [e for e in rows if e.tenant_id is not None and e.tenant_id != target.tenant.pk]
        left.update({ANOTHER_CUSTOMER: len(moving)} if moving else {})
        rows = [e for e in rows if e.tenant_id is None or e.tenant_id == target.tenant.pk]
    # event ids the new tenant already holds (events that had no tenant are checked against it)
    newcomers = [e for e in rows if e.tenant_id is None]
    taken: set[str] = set()
    if target.tenant is not None and newcomers:
        with connection.cursor() as cursor:  # arrays, not 50,000 IN parameters
            cursor.execute(
                "SELECT event_id FROM billing_usageevent WHERE tenant_id = %s AND event_id = ANY(%s)",
                [target.tenant.pk, [e.event_id for e in newcomers]],
            )
            taken = {row[0] for row in cursor.fetchall()}
    tenant_ids = {e.tenant_id for e in rows if e.tenant_id is not None}
    lookups = _Lookups(tenant_ids | ({target.tenant.pk} if target.tenant is not None else set()))
    lookups.skus(
        {e.sku_id for e in rows if e.sku_id is not None} | ({target.sku.pk} if target.sku else set())
    )
    lookups.projects({e.project_id for e in rows if e.project_id is not None})
    ok: list[_Row] = []
    for event in rows:
        was_unattributed = event.tenant_id is None
        target.apply(event)
        issues = _issues(event, lookups)
        if issues:
            left[issues[0].message] += 1
        elif was_unattributed and event.event_id in taken:
            left[DUPLICATE_ID] += 1
        else:
            if was_unattributed:
                taken.add(event.event_id)
            ok.append(event)
    batch_ids: list[int] = []
    by_tenant: dict[int, list[_Row]] = {}
    for event in ok:
        assert event.tenant_id is not None
        by_tenant.setdefault(event.tenant_id, []).append(event)
    for tenant_id, events in sorted(by_tenant.items()):
        for chunk in _chunks(events):
            batch = RatingBatch.objects.create(
                first_event_id=chunk[0].pk,
                last_event_id=chunk[-1].pk,
                event_count=len(chunk),
                tenant_ids=[tenant_id],
                tenant_id=tenant_id,
                earliest_event_at=min(e.timestamp for e in chunk),
                latest_event_at=max(e.timestamp for e in chunk),
                source=RatingBatch.Source.REATTRIBUTION,
                created_at=now,
            )
            batch_ids.append(batch.pk)
            fields = target.fields() | {
                "status": str(UsageEvent.Status.ACCEPTED),
                "quarantine_reason": "",
                "late": False,
                "profile_version_id": None,
                "reattributed_by_id": actor.pk,
                "reattributed_at": now,
                "rating_batch_id": batch.pk,
            }
            _update(fields, [e.pk for e in chunk])
    return BulkReattribution(len(ok), dict(left), len(batch_ids), 0), batch_ids


def _update(fields: dict[str, Any], ids: list[int]) -> None:
    """One UPDATE of the events `ids` (the usage table's guard checks the statement's rows as a whole);
    `fields` are the table's column names, values are parameters, the ids one array."""
    known = {field.column for field in UsageEvent._meta.concrete_fields}
    assert set(fields) <= known, set(fields) - known
    assignments = ", ".join(f'"{column}" = %s' for column in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE billing_usageevent SET {assignments} WHERE id = ANY(%s)",  # noqa: S608 - names only
            [*fields.values(), ids],
        )


def _chunks(events: list[_Row]) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for event in events:  # in id order
        if chunk and (len(chunk) >= BULK_BATCH_EVENTS or event.pk - chunk[0].pk > BULK_BATCH_SPAN):
            yield chunk
            chunk = []
        chunk.append(event)
    if chunk:
        yield chunk
