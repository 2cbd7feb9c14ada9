"""Canary rollouts: Rollout (with its simple-history table) and RolloutTenant, and their guards (SQL:
0019_rollouts.sql; reverse: 0019_rollouts.reverse.sql): a rollout's status moves only canary -> halted |
promoted | rolled_back and halted -> promoted | rolled_back, each move's record is written once, its
version, cohort and guardrails never change, and an explicit cohort is fixed once the version is in force.
A later change of a guard is a new migration with its own SQL."""

from pathlib import Path

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_profile_approvals"),
        ("tenants", "0003_portal"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoricalRollout",
            fields=[
                (
                    "id",
                    models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID"),
                ),
                (
                    "cohort_kind",
                    models.CharField(
                        choices=[
                            ("explicit", "Explicit list of tenants"),
                            ("percentage", "Percentage of tenants"),
                        ],
                        max_length=12,
                    ),
                ),
                ("percent", models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ("salt", models.CharField(max_length=32)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("canary", "Canary"),
                            ("halted", "Halted"),
                            ("promoted", "Promoted"),
                            ("rolled_back", "Rolled back"),
                        ],
                        default="canary",
                        max_length=12,
                    ),
                ),
                (
                    "max_bill_change_pct",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="halt when a cohort tenant's estimated bill moves more (%)",
                        max_digits=7,
                    ),
                ),
                (
                    "max_disputes",
                    models.PositiveIntegerField(help_text="halt when cohort tenants open more disputes"),
                ),
                ("created_at", models.DateTimeField()),
                ("promoted_at", models.DateTimeField(blank=True, null=True)),
                ("halted_at", models.DateTimeField(blank=True, null=True)),
                ("halt_reason", models.TextField(blank=True)),
                ("rolled_back_at", models.DateTimeField(blank=True, null=True)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "promoted_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rollback_version",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="billing.profileversion",
                    ),
                ),
                (
                    "rolled_back_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="billing.profileversion",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical rollout",
                "verbose_name_plural": "historical rollouts",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="Rollout",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "cohort_kind",
                    models.CharField(
                        choices=[
                            ("explicit", "Explicit list of tenants"),
                            ("percentage", "Percentage of tenants"),
                        ],
                        max_length=12,
                    ),
                ),
                ("percent", models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ("salt", models.CharField(max_length=32)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("canary", "Canary"),
                            ("halted", "Halted"),
                            ("promoted", "Promoted"),
                            ("rolled_back", "Rolled back"),
                        ],
                        default="canary",
                        max_length=12,
                    ),
                ),
                (
                    "max_bill_change_pct",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="halt when a cohort tenant's estimated bill moves more (%)",
                        max_digits=7,
                    ),
                ),
                (
                    "max_disputes",
                    models.PositiveIntegerField(help_text="halt when cohort tenants open more disputes"),
                ),
                ("created_at", models.DateTimeField()),
                ("promoted_at", models.DateTimeField(blank=True, null=True)),
                ("halted_at", models.DateTimeField(blank=True, null=True)),
                ("halt_reason", models.TextField(blank=True)),
                ("rolled_back_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "promoted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rollback_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.profileversion",
                    ),
                ),
                (
                    "rolled_back_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rollout",
                        to="billing.profileversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="RolloutTenant",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rollout",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tenants",
                        to="billing.rollout",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "ordering": ["rollout_id", "tenant_id"],
            },
        ),
        migrations.AddIndex(
            model_name="rollout",
            index=models.Index(fields=["status"], name="rollout_status"),
        ),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("cohort_kind", "explicit"), ("percent__isnull", True)),
                    models.Q(("cohort_kind", "percentage"), ("percent__gt", 0), ("percent__lte", 100)),
                    _connector="OR",
                ),
                name="rollout_cohort_percent",
            ),
        ),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_bill_change_pct__gte", 0)), name="rollout_max_bill_change"
            ),
        ),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "promoted"), _negated=True),
                    models.Q(("promoted_at__isnull", False), ("promoted_by__isnull", False)),
                    _connector="OR",
                ),
                name="rollout_promoted_has_when_who",
            ),
        ),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "halted"), _negated=True),
                    models.Q(("halted_at__isnull", False), models.Q(("halt_reason", ""), _negated=True)),
                    _connector="OR",
                ),
                name="rollout_halted_has_reason",
            ),
        ),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "rolled_back"), _negated=True),
                    models.Q(
                        ("rolled_back_at__isnull", False),
                        ("rolled_back_by__isnull", False),
                        ("rollback_version__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="rollout_rolled_back_has_version",
            ),
        ),
        migrations.AddConstraint(
            model_name="rollouttenant",
            constraint=models.UniqueConstraint(fields=("rollout", "tenant"), name="rollouttenant_unique"),
        ),
        migrations.RunSQL(
            sql=(HERE / "0019_rollouts.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0019_rollouts.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
