"""In-product alerts: state (firing, acknowledged, resolved), signature, grouping, notifications.

Existing rows are backfilled by frozen SQL before the constraints are added: state from resolved_at, the
key (the message, as alert_raise deduplicated by it; 'invoice:<id>' for an invoice's alert), the default
group (kind:tenant), last_seen_at = created_at, and the signature as ledger.alerts.signature computes it.
Should two open rows share a signature, the older ones are resolved (one open alert per signature)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BACKFILL = """
UPDATE ledger_alert SET
    state = CASE WHEN resolved_at IS NULL THEN 'firing' ELSE 'resolved' END,
    "key" = CASE WHEN invoice_id IS NULL THEN message ELSE 'invoice:' || invoice_id END,
    group_key = kind || ':' || coalesce(tenant_id::text, 'platform'),
    last_seen_at = created_at;
UPDATE ledger_alert SET signature = encode(
    sha256(convert_to(kind || '|' || coalesce(tenant_id::text, 'platform') || '|' || "key", 'UTF8')), 'hex');
UPDATE ledger_alert a SET state = 'resolved', resolved_at = now()
WHERE a.state <> 'resolved' AND EXISTS (
    SELECT 1 FROM ledger_alert b
    WHERE b.signature = a.signature AND b.state <> 'resolved' AND (b.created_at, b.id) > (a.created_at, a.id));
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0014_audit_head_signature"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="state",
            field=models.CharField(
                choices=[("firing", "Firing"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved")],
                default="firing",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="severity",
            field=models.CharField(
                choices=[("critical", "Critical"), ("warning", "Warning"), ("info", "Info")],
                default="warning",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="signature",
            field=models.CharField(default="", help_text="sha256 hex of kind, tenant and key", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="alert",
            name="key",
            field=models.TextField(default="", help_text="the raiser's dedup key within kind and tenant"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="alert",
            name="group_key",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="alert",
            name="details",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="alert",
            name="last_seen_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="alert",
            name="occurrences",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="alert",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="alert",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="created_at",
            field=models.DateTimeField(help_text="when it fired"),
        ),
        migrations.AlterField(
            model_name="alert",
            name="kind",
            field=models.CharField(
                choices=[
                    ("invoice_blocked", "Invoice blocked"),
                    ("ledger", "Ledger"),
                    ("pdf", "PDF rendering"),
                    ("rating", "Rating set a batch aside"),
                    ("close", "Period close could not finish for a tenant"),
                    ("signature", "A profile version's approval signature does not verify"),
                    ("rollout", "A canary rollout breached a guardrail and was halted"),
                    ("budget", "Projected spend above the budget"),
                    ("commitment", "Projected spend against the commitment"),
                    ("anomaly", "Spend anomaly"),
                    ("pipeline_lag", "Pipeline lag above its threshold"),
                    ("quarantine_rate", "Quarantine rate above its threshold"),
                    ("backlog", "Backlog near the backpressure limit"),
                    ("reconciliation", "Reconciliation delta"),
                    ("webhook_dead", "Webhook delivery dead-lettered"),
                ],
                max_length=24,
            ),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="alert",
            name="last_seen_at",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(fields=["tenant", "state", "-created_at"], name="alert_tenant_state"),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "resolved"), _negated=True),
                fields=("signature",),
                name="alert_one_open_per_signature",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(("state__in", ["firing", "acknowledged", "resolved"])),
                name="alert_state_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(("severity__in", ["critical", "warning", "info"])),
                name="alert_severity_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "resolved"), ("resolved_at__isnull", False)),
                    models.Q(models.Q(("state", "resolved"), _negated=True), ("resolved_at__isnull", True)),
                    _connector="OR",
                ),
                name="alert_resolved_iff_resolved_at",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "acknowledged"), _negated=True),
                    ("acknowledged_at__isnull", False),
                    _connector="OR",
                ),
                name="alert_acknowledged_has_time",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(("signature__regex", "^[0-9a-f]{64}$")), name="alert_signature_hex"
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(("occurrences__gte", 1)), name="alert_occurrences_positive"
            ),
        ),
    ]
