"""The five foreign keys of billing_usageevent (tenant, sku, project, profile_version, reattributed_by) are
enforced by triggers instead of declared constraints: one KEY SHARE lock and one existence check per
distinct parent per statement, instead of five after-row trigger events per ingested event (measured: a
third of PostgreSQL's CPU per 1,000-event ingest request; docs/performance.md, "Ingest"). Parents that
events name can still be neither deleted nor renumbered. See billing/sql/usage_event_parents.py.

Reversible: going back re-creates the declared foreign keys (and validates them)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from billing.sql import usage_event_parents as sql
from common.db import vendor_sql


def _fk(to: str, **extra):  # the field as it was, minus the declared constraint
    return models.ForeignKey(
        blank=True,
        db_constraint=False,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to=to,
        **extra,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_aggregate_value_by_aggregate"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="usageevent",
            name="profile_version",
            field=_fk(
                "billing.profileversion",
                help_text="set by rating for events priced one by one (percentage); others are in the aggregates",
            ),
        ),
        migrations.AlterField(model_name="usageevent", name="project", field=_fk("tenants.project")),
        migrations.AlterField(
            model_name="usageevent", name="reattributed_by", field=_fk(settings.AUTH_USER_MODEL)
        ),
        migrations.AlterField(model_name="usageevent", name="sku", field=_fk("billing.sku")),
        migrations.AlterField(model_name="usageevent", name="tenant", field=_fk("tenants.tenant")),
        vendor_sql(
            postgresql=sql.PG_TRIGGERS,
            sqlite=sql.SQLITE_TRIGGERS,
            reverse_postgresql=sql.PG_DROP,
            reverse_sqlite=sql.SQLITE_DROP,
        ),
    ]
