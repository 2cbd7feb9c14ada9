"""FinOps: reconciliation runs and their deltas, provider FOCUS imports (ledger/models/reconciliation.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0015_alerts"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProviderImport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("provider", models.CharField(max_length=64)),
                ("period_key", models.CharField(max_length=16)),
                ("file_name", models.CharField(max_length=255)),
                ("file_sha256", models.CharField(max_length=64)),
                ("cost_column", models.CharField(default="BilledCost", max_length=64)),
                ("imported_at", models.DateTimeField()),
                ("rows_read", models.PositiveIntegerField(default=0)),
                (
                    "rows_matched",
                    models.PositiveIntegerField(default=0, help_text="usage rows of a known tenant"),
                ),
                (
                    "rows_unmatched",
                    models.PositiveIntegerField(default=0, help_text="usage rows naming no known tenant"),
                ),
                (
                    "rows_excluded",
                    models.PositiveIntegerField(default=0, help_text="rows of another charge category"),
                ),
                (
                    "imported_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-imported_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ProviderCostRow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("row_number", models.PositiveIntegerField(help_text="1-based data row of the file")),
                (
                    "tenant_ref",
                    models.CharField(help_text="what the row names the tenant by", max_length=200),
                ),
                ("sku_code", models.CharField(max_length=200)),
                ("charge_category", models.CharField(max_length=32)),
                ("cost", models.DecimalField(decimal_places=12, max_digits=30)),
                ("currency", models.CharField(max_length=3)),
                ("charge_period_start", models.DateTimeField(blank=True, null=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
                (
                    "provider_import",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rows",
                        to="ledger.providerimport",
                    ),
                ),
            ],
            options={
                "ordering": ["provider_import_id", "row_number"],
            },
        ),
        migrations.CreateModel(
            name="ReconciliationRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("period_key", models.CharField(max_length=16)),
                (
                    "status",
                    models.CharField(
                        choices=[("running", "Running"), ("completed", "Completed"), ("failed", "Failed")],
                        default="running",
                        max_length=12,
                    ),
                ),
                ("trigger", models.CharField(help_text="command, beat, portal or demo", max_length=16)),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("base_currency", models.CharField(max_length=3)),
                (
                    "thresholds",
                    models.JSONField(default=dict, help_text="per check: amount and pct, as strings"),
                ),
                (
                    "summary",
                    models.JSONField(
                        default=dict,
                        help_text="per check: pairs compared, deltas, breached, total |delta| in base",
                    ),
                ),
                ("note", models.TextField(blank=True)),
                ("error", models.TextField(blank=True)),
                (
                    "provider_import",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="runs",
                        to="ledger.providerimport",
                    ),
                ),
                (
                    "started_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-started_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ReconciliationDelta",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "check_name",
                    models.CharField(
                        choices=[
                            ("rated_vs_invoiced", "Rated usage against invoiced usage"),
                            ("invoices_vs_ledger", "Issued documents against ledger postings"),
                            ("provider_vs_rated", "Provider's FOCUS export against rated usage"),
                        ],
                        max_length=24,
                    ),
                ),
                (
                    "tenant_ref",
                    models.CharField(
                        blank=True, help_text="unmatched provider rows: as named", max_length=200
                    ),
                ),
                ("sku_code", models.CharField(blank=True, max_length=200)),
                ("reference", models.CharField(blank=True, max_length=120)),
                ("currency", models.CharField(max_length=3)),
                ("expected", models.DecimalField(decimal_places=4, max_digits=22)),
                ("actual", models.DecimalField(decimal_places=4, max_digits=22)),
                ("delta", models.DecimalField(decimal_places=4, max_digits=22)),
                (
                    "delta_pct",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        help_text="None: nothing was expected",
                        max_digits=20,
                        null=True,
                    ),
                ),
                ("delta_base", models.DecimalField(blank=True, decimal_places=4, max_digits=22, null=True)),
                ("breached", models.BooleanField()),
                ("sources", models.JSONField(default=dict)),
                ("note", models.CharField(blank=True, max_length=255)),
                (
                    "tenant",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deltas",
                        to="ledger.reconciliationrun",
                    ),
                ),
            ],
            options={
                "ordering": ["run_id", "check_name", "-breached", "tenant_id", "sku_code", "reference", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="providerimport",
            index=models.Index(fields=["period_key", "provider"], name="providerimport_period"),
        ),
        migrations.AddConstraint(
            model_name="providerimport",
            constraint=models.CheckConstraint(
                condition=models.Q(("file_sha256__regex", "^[0-9a-f]{64}$")), name="providerimport_sha256"
            ),
        ),
        migrations.AddIndex(
            model_name="providercostrow",
            index=models.Index(fields=["provider_import", "tenant", "sku_code"], name="providercostrow_key"),
        ),
        migrations.AddIndex(
            model_name="reconciliationrun",
            index=models.Index(fields=["period_key", "started_at"], name="reconrun_period"),
        ),
        migrations.AddConstraint(
            model_name="reconciliationrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("finished_at__isnull", True), ("status", "running")),
                    models.Q(models.Q(("status", "running"), _negated=True), ("finished_at__isnull", False)),
                    _connector="OR",
                ),
                name="reconrun_finished_at",
            ),
        ),
        migrations.AddIndex(
            model_name="reconciliationdelta",
            index=models.Index(fields=["run", "check_name", "breached"], name="recondelta_run_check"),
        ),
    ]
