"""Batches that rating set aside (status `failed`): an operator either rates one again once its cause is
fixed (failed -> rated), or quarantines its events (reason `rating_refused`: stored, counted, never billed
unless re-attributed) so the tenant's period can close without them. Both resolve the batch's alerts."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.rating import sql as rating_sql
from billing.rating.estimates import usage_estimates_refresh
from billing.rating.services import REFUSED_DATA, mark_rated, reason_of, tag_value
from billing.usage.models import Quarantine, RatingBatch, UsageEvent
from common.errors import NotFound, StateError
from ledger.models import Alert
from ledger.services.alerts import alerts_resolve


def failed_batches() -> list[RatingBatch]:
    return list(RatingBatch.objects.filter(status=RatingBatch.Status.FAILED).order_by("pk"))


def _locked_failed(batch_id: int) -> RatingBatch:
    batch = RatingBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(f"no rating batch {batch_id}")
    if batch.status != RatingBatch.Status.FAILED:
        raise StateError(f"rating batch {batch_id} is {batch.status}, not failed")
    return batch


def usage_failed_batch_retry(*, batch_id: int, now: datetime | None = None) -> RatingBatch:
    """Rate a failed batch again; raises StateError with the database's reason when it still fails."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = _locked_failed(batch_id)
        try:
            with transaction.atomic():
                result = rating_sql.rate_batches(
                    [batch], now=now, after_upsert=lambda: None, tag_value=tag_value
                )
        except REFUSED_DATA as err:
            raise StateError(f"rating batch {batch_id} still fails: {reason_of(err)}") from err
        mark_rated([batch], timezone.now())
        usage_estimates_refresh(tenant_ids=result.tenant_ids, now=now)
        alerts_resolve(kind=Alert.Kind.RATING, tenant_ids=[int(t) for t in batch.tenant_ids], now=now)
    batch.refresh_from_db()
    return batch


def usage_failed_batch_quarantine(*, batch_id: int, now: datetime | None = None) -> int:
    """Quarantine the accepted events of a failed batch (reason `rating_refused`) and close the batch
    (rated, with nothing rated): the events stay stored and counted, and the tenant's period can close.
    Returns the number of events quarantined."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = _locked_failed(batch_id)
        moved = UsageEvent.objects.filter(
            pk__gte=batch.first_event_id,
            pk__lte=batch.last_event_id,
            rating_batch_id=batch.pk,
            status=UsageEvent.Status.ACCEPTED,
        ).update(status=UsageEvent.Status.QUARANTINED, quarantine_reason=Quarantine.RATING_REFUSED)
        mark_rated([batch], now)
        alerts_resolve(kind=Alert.Kind.RATING, tenant_ids=[int(t) for t in batch.tenant_ids], now=now)
    return moved
