"""Tenants (the customers), their projects, who may act for them, API keys and webhook endpoints."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.deconstruct import deconstructible
from simple_history.models import HistoricalRecords


@deconstructible(path="tenants.models.TimezoneValidator")
class TimezoneValidator:
    """A time zone name the IANA database knows. A deconstructible class rather than a function: migration
    state compares validators by their deconstruction, not their identity, so tenants/migrations/0001 keeps
    a copy of this class and imports nothing from this module."""

    def __call__(self, value: str) -> None:
        if value not in zoneinfo.available_timezones():
            raise ValidationError(f"unknown time zone {value!r}")

    def __eq__(self, other: object) -> bool:  # the migration's copy deconstructs the same
        deconstruct = getattr(other, "deconstruct", None)
        return callable(deconstruct) and deconstruct() == ("tenants.models.TimezoneValidator", (), {})

    def __hash__(self) -> int:
        return hash("tenants.models.TimezoneValidator")


validate_timezone = TimezoneValidator()


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    tax_jurisdiction = models.CharField(max_length=16, help_text="Tax jurisdiction code, usually the country")
    currency = models.CharField(max_length=3, help_text="ISO 4217 billing currency")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    vat_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_default="",
        help_text="VAT identification number (B2B), with its country prefix",
    )
    address = models.TextField(
        blank=True, default="", db_default="", help_text="postal address as printed on invoices (lines)"
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        default=30, db_default=30, help_text="days from the issue date to the due date (net N)"
    )
    locale = models.CharField(
        max_length=16,
        default="en",
        db_default="en",
        help_text="language and region of the customer's documents (e.g. de_DE)",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="tenant_currency_iso"),
            models.CheckConstraint(condition=Q(country__regex=r"^[A-Z]{2}$"), name="tenant_country_iso"),
            models.CheckConstraint(condition=Q(payment_terms_days__lte=365), name="tenant_payment_terms"),
            models.CheckConstraint(
                condition=Q(vat_id="") | Q(vat_id__regex=r"^[A-Z]{2}[0-9A-Za-z+*.]{2,30}$"),
                name="tenant_vat_id",
            ),
        ]
        permissions = [("view_tenant_billing", "Can view the tenant's invoices and usage")]

    def __str__(self) -> str:
        return self.slug


class Project(models.Model):
    """A project or cost centre inside a tenant; usage can be attributed to one."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="projects")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    cost_center = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="project_unique_code_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.code}"


class Role(models.TextChoices):
    CUSTOMER_VIEWER = "customer_viewer", "Customer viewer"
    CUSTOMER_ADMIN = "customer_admin", "Customer admin"
    FINANCE_VIEWER = "finance_viewer", "Finance viewer"
    FINANCE_EDITOR = "finance_editor", "Finance editor"
    FINANCE_APPROVER = "finance_approver", "Finance approver"


CUSTOMER_ROLES = frozenset({Role.CUSTOMER_VIEWER, Role.CUSTOMER_ADMIN})
FINANCE_ROLES = frozenset({Role.FINANCE_VIEWER, Role.FINANCE_EDITOR, Role.FINANCE_APPROVER})


class Membership(models.Model):
    """A user's role. Customer roles belong to one tenant; finance roles are platform-wide (no tenant)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant", "role"], name="membership_unique"),
            models.UniqueConstraint(
                fields=["user", "role"], condition=Q(tenant__isnull=True), name="membership_unique_platform"
            ),
            models.CheckConstraint(
                condition=(
                    Q(role__in=sorted(r.value for r in CUSTOMER_ROLES), tenant__isnull=False)
                    | Q(role__in=sorted(r.value for r in FINANCE_ROLES), tenant__isnull=True)
                ),
                name="membership_role_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role}@{self.tenant_id or 'platform'}"


class ApiKey(models.Model):
    """An API key. The secret is shown once at creation; only its SHA-256 is stored (keys are 32 random
    bytes, so a fast hash is the right tool: there is nothing to brute-force)."""

    class Scope(models.TextChoices):
        TENANT = "tenant", "Tenant"
        PLATFORM = "platform", "Platform"

    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public, shown in lists and logs")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.TENANT)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="api_keys"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="tenant", tenant__isnull=False) | Q(scope="platform", tenant__isnull=True),
                name="apikey_scope_matches_tenant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserSession(models.Model):
    """A signed-in session of a user (recorded at login), so the user or an operator can list and revoke
    them (`tenants.services.user_sessions_revoke`): revoking deletes the Django session, and the
    portal's middleware refuses a session whose record is gone or revoked."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    user_agent = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="usersession_user_open")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.session_key[:6]}…"


# --- Outbound webhooks (issue 15; docs/webhooks.md; services in tenants.webhooks) ----------------------
# Here rather than in tenants/webhooks/models.py: tenants.webhooks reads Tenant, and the app's models
# module importing that package back would be an import cycle between the two.


class WebhookEndpoint(models.Model):
    """A URL of the tenant's that receives its alert events, signed with `secret` (shown once at creation
    and rotation; kept so deliveries can be signed). During a rotation's grace the previous secret signs
    too, so the customer can switch without losing events."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="empty: every event type")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                name="webhookendpoint_url_scheme",
            ),
            models.CheckConstraint(
                condition=Q(active=True, disabled_at__isnull=True)
                | Q(active=False, disabled_at__isnull=False),
                name="webhookendpoint_disabled_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.url}"


class WebhookDelivery(models.Model):
    """One event to one endpoint, tried until it succeeds or is dead-lettered; a replay is a new delivery
    of the same event (same event_id and payload)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed, retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        DEAD = "dead", "Dead letter"
        CANCELLED = "cancelled", "Cancelled (endpoint disabled or deleted)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        status__in=["pending", "failed"],
                        next_attempt_at__isnull=False,
                        completed_at__isnull=True,
                    )
                    | Q(
                        status__in=["succeeded", "dead", "cancelled"],
                        next_attempt_at__isnull=True,
                        completed_at__isnull=False,
                    )
                ),
                name="webhookdelivery_status_times",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.endpoint_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.DEAD, self.Status.CANCELLED}


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the response code (none when no response came), how long, why not."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_number"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number}: {self.status_code or self.error[:40]}"
