"""Small database helpers shared by the apps' migrations and services."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import connection, migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def vendor_sql(
    *,
    postgresql: Sequence[str] = (),
    sqlite: Sequence[str] = (),
    reverse_postgresql: Sequence[str] = (),
    reverse_sqlite: Sequence[str] = (),
) -> migrations.RunPython:
    """A migration step that runs the SQL written for the database actually in use.

    Triggers are written twice (PL/pgSQL and SQLite) because both engines are supported: PostgreSQL in
    production and CI, SQLite for `make demo` on a bare machine."""

    def run(statements: dict[str, Sequence[str]]) -> Callable[[StateApps, BaseDatabaseSchemaEditor], None]:
        def apply(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
            for sql in statements.get(schema_editor.connection.vendor, ()):
                schema_editor.execute(sql, params=None)

        return apply

    forward = run({"postgresql": postgresql, "sqlite": sqlite})
    backward = run({"postgresql": reverse_postgresql, "sqlite": reverse_sqlite})
    return migrations.RunPython(forward, backward)
