"""Four eyes in full in the database (SQL: 0020_approval_quorum_guards.sql; reverse, back to 0018's guard
functions: 0020_approval_quorum_guards.reverse.sql): the requester of an approval does not approve it, a
request is approved only with its `required_approvals` from distinct approvers other than the author, and a
version only once an approved request of it exists."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0019_rollouts"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0020_approval_quorum_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0020_approval_quorum_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
