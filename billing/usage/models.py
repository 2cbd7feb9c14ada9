"""Usage as it arrives (UsageEvent), its rating progress (RatingBatch), the quarantine reasons, and
request idempotency records (IngestRequest). Rated usage and billing periods are in billing.rating.models.

The usage table is append-only on the hot path: rating never rewrites an event row, it records its
progress once per batch of events (RatingBatch). Only rare outcomes touch an event after ingest: a late
event is flagged, an event priced per event (percentage) records its version, an event without a version
in force is quarantined, and finance re-attributes quarantined events (see docs/ingest.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

QUANTITY_DIGITS = 38
QUANTITY_PLACES = 12


class RatingBatch(models.Model):
    """The rating progress of one stored ingest batch: its accepted events carry `rating_batch_id`, and
    rating marks the batch (not each event) rated, in the transaction that upserts their aggregates.

    Written by the ingest in the transaction that inserts the events, so a batch never names an event that
    is not committed with it (event ids are drawn from a sequence by concurrent writers and may commit out
    of order: a watermark over ids would skip some). `[first_event_id, last_event_id]` bounds its events'
    ids so rating reads them by primary-key range; other batches' ids may interleave in that range and are
    filtered out by `rating_batch_id`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending rating"
        RATED = "rated", "Rated"
        FAILED = "failed", "Failed (set aside with its reason)"

    class Source(models.TextChoices):
        INGEST = "ingest", "Ingest request"
        REATTRIBUTION = "reattribution", "Quarantine re-attribution"
        MIGRATION = "migration", "Events stored before rating batches existed"

    first_event_id = models.BigIntegerField()
    last_event_id = models.BigIntegerField()
    event_count = models.PositiveIntegerField(help_text="accepted events stored with the batch")
    tenant_ids = models.JSONField(default=list, help_text="the distinct tenants of its events")
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="the tenant when all its events are one tenant's (tenant API keys): raters take such "
        "batches tenant by tenant",
    )
    earliest_event_at = models.DateTimeField(help_text="the smallest event timestamp in the batch")
    latest_event_at = models.DateTimeField(help_text="the largest event timestamp in the batch")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INGEST)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(help_text="when its events were received")
    rated_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(
        blank=True,
        db_default="",  # ingest inserts batches with raw SQL that names only the columns it fills
        help_text="why rating set this batch aside (its events wait; the others were rated)",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(last_event_id__gte=F("first_event_id")), name="rating_batch_id_range"
            ),
            models.CheckConstraint(condition=Q(event_count__gt=0), name="rating_batch_has_events"),
            models.CheckConstraint(
                condition=Q(latest_event_at__gte=F("earliest_event_at")), name="rating_batch_time_range"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", rated_at__isnull=True, failed_at__isnull=True)
                | Q(status="rated", rated_at__isnull=False)
                | (
                    Q(status="failed", rated_at__isnull=True, failed_at__isnull=False) & ~Q(failure_reason="")
                ),
                name="rating_batch_rated_at",
            ),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="rating_batch_pending"),
            models.Index(
                fields=["tenant", "id"], condition=Q(status="pending"), name="rating_batch_pending_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.event_count} events, {self.status})"


class Quarantine:
    """Why an event is `quarantined` (stored, counted, not billed until re-attributed): the values of
    `UsageEvent.quarantine_reason` (a missing tag's reason is followed by `: <tag>`)."""

    UNKNOWN_TENANT = "unknown_tenant"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_PROJECT = "unknown_project"
    MISSING_REQUIRED_TAG = "missing_required_tag"
    MISSING_UNIQUE_TAG = "missing_unique_tag"
    NO_PROFILE_VERSION = "no_profile_version"
    SKU_NOT_IN_PROFILE = "sku_not_in_profile"
    RATING_REFUSED = "rating_refused"  # the database refused to rate its batch; an operator set it aside


class UsageEvent(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted (billable)"
        QUARANTINED = "quarantined", "Quarantined"

    # Index budget: every index on this table is paid per ingested event, so single-column FK indexes are
    # off: tenant is the prefix of the unique (tenant, event_id) and of (tenant, sku, timestamp); sku,
    # project, profile_version and reattributed_by are only looked up through those or by primary key, and
    # their parents are PROTECTed and (nearly) never deleted.
    # Referential integrity of these five columns is enforced by triggers, not declared foreign keys
    # (db_constraint=False): one check per parent table per INSERT/UPDATE statement instead of five
    # trigger events per row, with the same KEY SHARE locks and the same refusals
    # (billing/migrations/0013_reinstall_guards.sql).
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    tenant_slug = models.CharField(
        max_length=64,
        blank=True,
        help_text="as named by the client (platform keys); kept for unresolved tenants",
    )
    event_id = models.CharField(max_length=128, help_text="the client's idempotency key")
    sku = models.ForeignKey(
        "billing.Sku",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    sku_code = models.CharField(max_length=64, help_text="as sent by the client")
    project = models.ForeignKey(
        "tenants.Project",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    project_code = models.CharField(max_length=64, blank=True, help_text="as sent by the client")
    timestamp = models.DateTimeField()
    quantity = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    tags = models.JSONField(default=dict, blank=True)
    payload_sha256 = models.CharField(max_length=64, help_text="hash of the canonical event, for duplicates")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    quarantine_reason = models.CharField(max_length=64, blank=True)
    # No database foreign key on purpose: its check would cost an index probe and a KEY SHARE row lock per
    # ingested event. The batch row is inserted by the same transaction as its events
    # (billing.usage.storage), and the CHECK below guarantees every accepted event names one.
    rating_batch = models.ForeignKey(
        RatingBatch,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    late = models.BooleanField(default=False, help_text="its period was already invoiced when it was rated")
    profile_version = models.ForeignKey(
        "billing.ProfileVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        help_text="set by rating for events priced one by one (percentage); others are in the aggregates",
    )
    received_at = models.DateTimeField()
    reattributed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    reattributed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_id"], name="usage_event_unique_per_tenant"),
            # Events whose tenant could not be resolved (quarantined) are deduplicated by the slug sent.
            models.UniqueConstraint(
                fields=["tenant_slug", "event_id"],
                condition=Q(tenant__isnull=True),
                name="usage_event_unique_unresolved",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted")
                | (Q(tenant__isnull=False) & Q(sku__isnull=False) & Q(rating_batch__isnull=False)),
                name="usage_event_accepted_is_attributed",
            ),
            models.CheckConstraint(
                condition=~Q(status="quarantined") | ~Q(quarantine_reason=""),
                name="usage_event_quarantine_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "sku", "timestamp"], name="usage_event_tenant_sku_ts"),
            models.Index(
                fields=["received_at"], condition=Q(status="quarantined"), name="usage_event_quarantined"
            ),
            # Late usage, by tenant and time: the close looks for closed periods that received some
            # (billing.close.corrections) and the drill-down leaves it out per day. Partial: only late
            # rows (rare) pay for it, so ingest does not; without it each close scanned the tenant's events
            # once per closed period (docs/performance.md, Portal).
            models.Index(
                fields=["tenant", "timestamp"],
                condition=Q(late=True, status="accepted"),
                name="usage_event_late",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.event_id}"


class IngestRequest(models.Model):
    """Request-level idempotency (`Idempotency-Key`): claimed in the transaction that stores the events,
    so a failed write never leaves a key behind; the stored response is replayed byte for byte."""

    scope = models.CharField(
        max_length=40, help_text="tenant:<id> for tenant keys, platform for platform keys"
    )
    key = models.CharField(max_length=255)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    request_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="ingest_request_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
