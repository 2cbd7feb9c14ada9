"""Quarantined usage: events stored but not billable until someone attributes them (finance, through the
admin's re-attribute action). Re-attribution fixes tenant, SKU, project or tags and sends the event to
rating in a one-event RatingBatch; the event keeps its payload hash, so the client resending the
original event still gets `duplicate`."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.profiles.selectors import VersionTimeline
from billing.usage.models import Quarantine, RatingBatch, UsageEvent
from billing.usage.signals import announce_usage_stored
from common.errors import Conflict, FieldIssue, StateError, ValidationFailed
from tenants.models import Project, Tenant

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


def _issues(event: UsageEvent) -> list[FieldIssue]:
    if event.tenant_id is None:
        return [FieldIssue("tenant", Quarantine.UNKNOWN_TENANT)]
    if event.sku_id is None:
        return [FieldIssue("sku", Quarantine.UNKNOWN_SKU)]
    sku = Sku.objects.select_related("meter").get(pk=event.sku_id)
    if event.project_id is None and event.project_code:
        return [FieldIssue("project", Quarantine.UNKNOWN_PROJECT)]
    if event.project is not None and event.project.tenant_id != event.tenant_id:
        return [FieldIssue("project", "the project belongs to another tenant")]
    if not sku.meter.allow_negative and event.quantity < 0:
        return [FieldIssue("quantity", "negative quantity for a meter that does not allow it")]
    timeline = VersionTimeline([event.tenant_id])
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
