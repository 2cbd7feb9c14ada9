"""The database allows only the moves the billing services make: profile versions are inserted as drafts and
approved only by a finance approver other than their author, usage events change only as rating and
quarantine re-attribution change them and are never deleted, rating batches only move forward. SQL:
0015_state_machine_guards.sql (reverse, back to 0013's guards: 0015_state_machine_guards.reverse.sql). A
later change of a guard is a new migration with its own SQL."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_rating_batch_failed"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0015_state_machine_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0015_state_machine_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
