"""unique_count values keyed by (aggregate row id, value) instead of (tenant, sku, version, hour, value) plus
a surrogate id: one narrow primary-key index per value instead of a five-column unique index and a second
one on the id (measured: a third of the insert cost; docs/performance.md, "Rating").

The table is rebuilt: the new table is filled from the old one joined to its aggregate rows, then takes its
name; the guards of 0009 are re-created on it, checked by aggregate id. Reversible.

The SQL is this migration's own, frozen as it ran when the migration was written:
0011_aggregate_value_by_aggregate.sql (reverse: 0011_aggregate_value_by_aggregate.reverse.sql). Today's
guards: 0013_reinstall_guards."""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("billing", "0010_rating_batch_tenant")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=(HERE / "0011_aggregate_value_by_aggregate.sql").read_text(encoding="utf-8"),
                    reverse_sql=(HERE / "0011_aggregate_value_by_aggregate.reverse.sql").read_text(encoding="utf-8"),
                )
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="usageaggregatevalue", name="usage_aggregate_value_unique"
                ),
                migrations.RemoveField(model_name="usageaggregatevalue", name="hour"),
                migrations.RemoveField(model_name="usageaggregatevalue", name="id"),
                migrations.RemoveField(model_name="usageaggregatevalue", name="profile_version"),
                migrations.RemoveField(model_name="usageaggregatevalue", name="sku"),
                migrations.RemoveField(model_name="usageaggregatevalue", name="tenant"),
                migrations.AddField(
                    model_name="usageaggregatevalue",
                    name="aggregate",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        default=None,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.usageaggregate",
                    ),
                    preserve_default=False,
                ),
                migrations.AddField(
                    model_name="usageaggregatevalue",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "aggregate_id", "value", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        )
    ]
