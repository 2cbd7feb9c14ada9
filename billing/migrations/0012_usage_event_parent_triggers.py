"""The five foreign keys of billing_usageevent (tenant, sku, project, profile_version, reattributed_by) are
enforced by triggers instead of declared constraints: one KEY SHARE lock and one existence check per
distinct parent per statement, instead of five after-row trigger events per ingested event (measured: a
third of PostgreSQL's CPU per 1,000-event ingest request; docs/performance.md, "Ingest"). Parents that
events name can still be neither deleted nor renumbered.

The SQL is this migration's own, frozen as it ran when the migration was written:
0012_usage_event_parent_triggers.sql (reverse: 0012_usage_event_parent_triggers.reverse.sql). Today's
guards: 0013_reinstall_guards.

Reversible: going back re-creates the declared foreign keys (and validates them)."""

from pathlib import Path

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

HERE = Path(__file__).resolve().parent


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
        migrations.RunSQL(
            sql=(HERE / "0012_usage_event_parent_triggers.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0012_usage_event_parent_triggers.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
