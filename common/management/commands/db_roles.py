"""`manage.py db_roles`: gives the app role exactly the privileges the application uses in this database,
now and for what later migrations create. Run it as the owner role (`DB_ROLE=owner`, the role that runs
`migrate`) after every `migrate`; it is idempotent and runs in one transaction. The app role is the user
of the app's database settings (DATABASE_URL, or the embedded server's `billing_app`) unless --app-role
names another. docs/operations.md, "Database roles", has the roles and the SQL to create them.

The app role gets CONNECT and TEMPORARY on the database (ingest and rating stage rows in temporary
tables), USAGE on schema public, SELECT/INSERT/UPDATE/DELETE on the tables, USAGE/SELECT on the sequences
and EXECUTE on the functions, and nothing else: no TRUNCATE, REFERENCES or TRIGGER, no CREATE anywhere.
Narrowed, as defence in depth behind the guard triggers:
- where a trigger refuses every DELETE (`ledger_append_only`, `billing_refuse_delete`), no DELETE;
- where a trigger refuses every UPDATE (`ledger_append_only`), UPDATE of the primary key only: that is
  the privilege `SELECT ... FOR UPDATE` needs (prepaid credit grants are locked while they are consumed),
  and the trigger refuses the update itself;
- django_migrations: SELECT only.
Those tables are read from the triggers the migrations installed, so a new append-only table is covered
by the next run. `ALTER DEFAULT PRIVILEGES` gives tables, sequences and functions the owner creates later
the plain grants at once (the narrowings wait for the next run; the triggers refuse meanwhile).

Why a command and not a migration: the role's name belongs to the deployment, not to the schema (a
migration must hold the same SQL everywhere and import nothing from the app), a GRANT to a role that does
not exist fails, and the test suite's databases are migrated where no app role may exist.

Before granting anything it checks the app role: no superuser, cannot create roles or databases, does not
replicate or bypass row security, is not a member of the owner and owns nothing here; it stops otherwise,
since grants to such a role would limit nothing."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import sql

# Guard functions that refuse every row of an operation on any table they guard (the ledger and billing
# migrations install them): on such tables the app role lacks the privilege as well.
REFUSING_GUARDS: dict[str, frozenset[str]] = {
    "ledger_append_only": frozenset({"UPDATE", "DELETE"}),
    "billing_refuse_delete": frozenset({"DELETE"}),
}
READ_ONLY_TABLES = ("django_migrations",)
TRIGGER_EVENTS = {"DELETE": 8, "UPDATE": 16}  # bits of pg_trigger.tgtype

GUARDED = """
    SELECT c.relname, t.tgtype, p.proname, (
        SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = c.oid AND i.indisprimary)
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgenabled <> 'D'
      AND t.tgqual IS NULL AND cardinality(t.tgattr::int2[]) = 0 AND p.proname = ANY(%s)
"""
ROLE = """
    SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
           pg_has_role(r.oid, current_user, 'MEMBER')
    FROM pg_roles r WHERE r.rolname = %s
"""
OWNED = """
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relowner = r.oid)
         + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proowner = r.oid)
         + (SELECT count(*) FROM pg_database d WHERE d.datname = current_database() AND d.datdba = r.oid)
         + (SELECT count(*) FROM pg_namespace n WHERE n.nspname = 'public' AND n.nspowner = r.oid)
    FROM pg_roles r WHERE r.rolname = %s
"""


class Command(BaseCommand):
    help = "Grant the app role the privileges the application uses (run as the owner after every migrate)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", default=None, help="default: the user of the app's DATABASE_URL")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        app = options["app_role"] or settings.DATABASE_APP_ROLE
        if not app:
            raise CommandError("no app role: pass --app-role or set DATABASE_URL to the app role's URL")
        connection = connections[options["database"]]
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, current_database(), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                " OR (SELECT datdba = current_user::regrole FROM pg_database WHERE datname = current_database())"
            )
            owner, database, owns = cursor.fetchone()
            if app == owner and not owns:
                raise CommandError(
                    f"connected as the app role {app}: run db_roles as the owner (DB_ROLE=owner)"
                )
            if app == owner:
                self.stdout.write(
                    f"{app} owns {database} and is the app role too: nothing to grant (give the app a role of "
                    "its own, docs/operations.md)"
                )
                return
            self._check_app_role(cursor, app)
            cursor.execute(GUARDED, [list(REFUSING_GUARDS)])
            no_delete, key_update_only = _narrowed(cursor.fetchall())
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname = ANY(%s) ORDER BY 1",
                [list(READ_ONLY_TABLES)],
            )
            read_only = [name for (name,) in cursor.fetchall()]
            raw = connection.connection
            assert raw is not None

            def run(template: str, **names: str) -> None:
                query = sql.SQL(template).format(**{k: sql.Identifier(v) for k, v in names.items()})
                cursor.execute(query.as_string(raw))

            for statement in _statements(
                read_only=read_only, no_delete=no_delete, key_update_only=key_update_only
            ):
                run(statement.template, app=app, owner=owner, database=database, **statement.names)
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND has_table_privilege(%s, c.oid, 'INSERT')",
                [app],
            )
            (tables,) = cursor.fetchone()
        self.stdout.write(
            f"{app}: rows of {tables} tables in {database} (no DELETE on {len(no_delete)}, "
            f"UPDATE of the key only on {len(key_update_only)}), default privileges for what {owner} creates"
        )

    def _check_app_role(self, cursor: Any, app: str) -> None:
        cursor.execute(ROLE, [app])
        row = cursor.fetchone()
        if row is None:
            raise CommandError(f"role {app} does not exist: create it first (docs/operations.md)")
        names = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
        powers = [name for name, has in zip(names, row[:5], strict=True) if has]
        if powers:
            raise CommandError(
                f"the app role {app} has {', '.join(powers)}: ALTER ROLE {app} NO{' NO'.join(powers)}"
            )
        if row[5]:
            raise CommandError(f"the app role {app} is a member of the owner role: it would act as the owner")
        cursor.execute(OWNED, [app])
        (owned,) = cursor.fetchone()
        if owned:
            raise CommandError(f"the app role {app} owns {owned} object(s) here: hand them to the owner role")


class _Statement(NamedTuple):
    template: str  # SQL with {placeholders} for identifiers: app, owner, database and the names below
    names: dict[str, str] = {}


def _narrowed(rows: list[tuple[str, int, str, list[str] | None]]) -> tuple[list[str], dict[str, list[str]]]:
    """From the guard triggers (table, tgtype, function, primary key columns): the tables without DELETE,
    and those whose UPDATE is narrowed to their primary key columns."""
    no_delete: set[str] = set()
    key_update_only: dict[str, list[str]] = {}
    for table, tgtype, function, key in rows:
        refused = {event for event in REFUSING_GUARDS[function] if tgtype & TRIGGER_EVENTS[event]}
        if "DELETE" in refused:
            no_delete.add(table)
        if "UPDATE" in refused and key:
            key_update_only[table] = key
    return sorted(no_delete), dict(sorted(key_update_only.items()))


def _statements(
    *, read_only: list[str], no_delete: list[str], key_update_only: dict[str, list[str]]
) -> list[_Statement]:
    """The grants, in order: everything the app role had is revoked first, so a run leaves exactly these."""
    plain: list[_Statement] = [
        _Statement("GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {app}"),
        _Statement("REVOKE CREATE ON DATABASE {database} FROM {app}"),
        _Statement("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        _Statement("REVOKE ALL ON SCHEMA public FROM {app}"),
        _Statement("GRANT USAGE ON SCHEMA public TO {app}"),
        _Statement("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}"),
        _Statement("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}"),
        _Statement("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {app}"),
        _Statement("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}"),
        _Statement("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {app}"),
        _Statement(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}"
        ),
        _Statement(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}"
        ),
        _Statement(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO {app}"
        ),
    ]
    narrowed = [
        _Statement("REVOKE INSERT, UPDATE, DELETE ON {table} FROM {app}", {"table": t}) for t in read_only
    ]
    narrowed += [_Statement("REVOKE DELETE ON {table} FROM {app}", {"table": t}) for t in no_delete]
    for table, key in key_update_only.items():
        columns = ", ".join("{" + f"key{i}" + "}" for i in range(len(key)))
        names = {"table": table} | {f"key{i}": column for i, column in enumerate(key)}
        narrowed.append(_Statement("REVOKE UPDATE ON {table} FROM {app}", {"table": table}))
        narrowed.append(_Statement(f"GRANT UPDATE ({columns}) ON {{table}} TO {{app}}", names))
    return plain + narrowed
