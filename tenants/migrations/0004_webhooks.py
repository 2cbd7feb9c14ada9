"""Tenants' outbound webhook endpoints and their delivery log (docs/webhooks.md)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_portal"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookEndpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("url", models.URLField(max_length=500)),
                ("description", models.CharField(blank=True, max_length=200)),
                ("secret", models.CharField(max_length=100)),
                ("previous_secret", models.CharField(blank=True, max_length=100)),
                ("previous_secret_expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "event_types",
                    models.JSONField(blank=True, default=list, help_text="empty: every event type"),
                ),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField()),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_endpoints",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_id", models.CharField(max_length=64)),
                ("event_type", models.CharField(max_length=64)),
                ("payload", models.JSONField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("failed", "Failed, retrying"),
                            ("succeeded", "Succeeded"),
                            ("dead", "Dead letter"),
                            ("cancelled", "Cancelled (endpoint disabled or deleted)"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("last_status_code", models.PositiveIntegerField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "replay_of",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="replays",
                        to="tenants.webhookdelivery",
                    ),
                ),
                (
                    "endpoint",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="tenants.webhookendpoint",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="WebhookAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("at", models.DateTimeField()),
                ("status_code", models.PositiveIntegerField(blank=True, null=True)),
                ("duration_ms", models.PositiveIntegerField()),
                ("error", models.TextField(blank=True)),
                (
                    "delivery",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempt_log",
                        to="tenants.webhookdelivery",
                    ),
                ),
            ],
            options={
                "ordering": ["delivery", "number"],
                "constraints": [
                    models.UniqueConstraint(fields=("delivery", "number"), name="webhookattempt_number")
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="webhookendpoint",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("url__startswith", "https://"), ("url__startswith", "http://"), _connector="OR"
                ),
                name="webhookendpoint_url_scheme",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookendpoint",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("active", True), ("disabled_at__isnull", True)),
                    models.Q(("active", False), ("disabled_at__isnull", False)),
                    _connector="OR",
                ),
                name="webhookendpoint_disabled_at",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("completed_at__isnull", True),
                        ("next_attempt_at__isnull", False),
                        ("status__in", ["pending", "failed"]),
                    ),
                    models.Q(
                        ("completed_at__isnull", False),
                        ("next_attempt_at__isnull", True),
                        ("status__in", ["succeeded", "dead", "cancelled"]),
                    ),
                    _connector="OR",
                ),
                name="webhookdelivery_status_times",
            ),
        ),
    ]
