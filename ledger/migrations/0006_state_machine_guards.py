"""The database allows only the moves the ledger services make: the invoice state machine exactly (with
the payment posting and the voiding credit note checked at COMMIT), PDF fields written once per rendered
version, a chain head that moves only forward in the transaction of the append it points at, and accounts
that are never deleted nor renamed. SQL: 0006_state_machine_guards.sql (reverse, back to 0004's guards:
0006_state_machine_guards.reverse.sql). A later change of a guard is a new migration with its own SQL."""

from pathlib import Path

from django.db import migrations

HERE = Path(__file__).resolve().parent


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_alert_kinds")]

    operations = [
        migrations.RunSQL(
            sql=(HERE / "0006_state_machine_guards.sql").read_text(encoding="utf-8"),
            reverse_sql=(HERE / "0006_state_machine_guards.reverse.sql").read_text(encoding="utf-8"),
        ),
    ]
