"""Migrations own their SQL (docs/architecture.md, "Migrations own their SQL"): the guard functions and
triggers a database holds follow from its migration history alone, and the catch-up migrations
(billing 0013, ledger 0004) bring a database migrated at any earlier state to exactly those of a fresh one.

The database test migrates two scratch databases on the test server several times (about 15 s, more on a
busy machine): it is marked `slow` (`-m "not slow"` leaves it out)."""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = {"billing", "common", "config", "ledger", "portal", "tenants", "tests"}

# The earliest states with guards, the states just before the catch-ups, and the catch-ups themselves.
OLDEST = [("ledger", "0002_database_guards"), ("billing", "0002_database_guards")]
BEFORE_CATCH_UP = [("ledger", "0003_credit_restoration"), ("billing", "0012_usage_event_parent_triggers")]
CATCH_UP = [("ledger", "0004_reinstall_guards"), ("billing", "0013_reinstall_guards")]
CATCH_UP_SQL = [
    ROOT / "ledger/migrations/0004_reinstall_guards.sql",
    ROOT / "billing/migrations/0013_reinstall_guards.sql",
]

FUNCTIONS = """
    SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND NOT EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
"""
# Constraint triggers (CREATE CONSTRAINT TRIGGER) are not internal; those of foreign keys are.
TRIGGERS = """
    SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""


class Guards(NamedTuple):
    functions: frozenset[tuple[str, str]]  # (name, definition)
    triggers: frozenset[tuple[str, str, str]]  # (table, name, definition)

    def trigger(self, table: str, name: str) -> str:
        return next(d for relname, tgname, d in self.triggers if (relname, tgname) == (table, name))


class ScratchDatabase:
    """A database of its own on the test server, reachable as a Django connection alias."""

    def __init__(self, role: str) -> None:
        self.alias = f"billing_mig_{role}_{secrets.token_hex(4)}"
        self.name = self.alias

    def migrate(self, targets: list[tuple[str, str]] | None = None) -> None:
        """Forwards or backwards to `targets` in one plan for several apps (all apps' latest by default)."""
        executor = MigrationExecutor(connections[self.alias])
        executor.migrate(targets or executor.loader.graph.leaf_nodes())

    def guards(self) -> Guards:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(FUNCTIONS)
            functions = frozenset((name, definition) for name, definition in cursor.fetchall())
            cursor.execute(TRIGGERS)
            triggers = frozenset((table, name, definition) for table, name, definition in cursor.fetchall())
        return Guards(functions, triggers)

    def execute_script(self, path: Path) -> None:
        """Run a .sql file split into statements as a RunSQL migration operation runs it."""
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            for statement in connection.ops.prepare_sql_script(path.read_text(encoding="utf-8")):
                cursor.execute(statement)


def _server_connection(settings: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def scratch(django_db_blocker: Any) -> Iterator[dict[str, ScratchDatabase]]:
    """Two empty databases, `old` and `fresh`, created for the test and dropped after it."""
    default = connections.databases["default"]
    databases = {role: ScratchDatabase(role) for role in ("old", "fresh")}
    with django_db_blocker.unblock(), _server_connection(default) as server:
        try:
            for database in databases.values():
                server.execute(f'CREATE DATABASE "{database.name}"')
                connections.databases[database.alias] = {**default, "NAME": database.name}
            yield databases
        finally:
            for database in databases.values():
                if database.alias in connections.databases:
                    connections[database.alias].close()
                    del connections[database.alias]
                    del connections.databases[database.alias]
                server.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@pytest.mark.slow
def test_a_database_migrated_from_an_old_state_ends_with_the_guards_of_a_fresh_one(scratch):
    old, fresh = scratch["old"], scratch["fresh"]
    # given: a database at the earliest states with guards, then just before the catch-up migrations
    old.migrate(OLDEST)
    old.migrate(BEFORE_CATCH_UP)
    before_catch_up = old.guards()

    # when: it is migrated to the catch-up migrations, then to the latest state; another one fresh
    old.migrate(CATCH_UP)
    at_catch_up = old.guards()
    old.migrate()
    call_command("migrate", database=fresh.alias, interactive=False, verbosity=0)  # as a deployment does

    # then: the same functions and triggers, byte for byte
    migrated, fresh_guards = old.guards(), fresh.guards()
    assert migrated.functions == fresh_guards.functions
    assert migrated.triggers == fresh_guards.triggers
    # and the catch-up changed something real: the ledger's balance check per statement, not per row
    assert before_catch_up.trigger("ledger_posting", "ledger_posting_balanced").startswith(
        "CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON public.ledger_posting DEFERRABLE"
    )
    assert at_catch_up.trigger("ledger_posting", "ledger_posting_balanced") == (
        "CREATE TRIGGER ledger_posting_balanced AFTER INSERT ON public.ledger_posting REFERENCING NEW TABLE AS "
        "new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_inserted()"
    )

    # and the catch-up migrations alone install every guard of their state: with every function (and so
    # every trigger) dropped, their two .sql files give back the same functions and triggers
    old.migrate(CATCH_UP)
    with connections[old.alias].cursor() as cursor:
        for name, _definition in at_catch_up.functions:
            cursor.execute(f"DROP FUNCTION {name}() CASCADE")
    assert old.guards() == Guards(frozenset(), frozenset())
    for path in CATCH_UP_SQL:
        old.execute_script(path)
    reinstalled = old.guards()
    assert reinstalled.functions == at_catch_up.functions
    assert reinstalled.triggers == at_catch_up.triggers

    # and going back before them gives the guards the earlier migrations install
    old.migrate(BEFORE_CATCH_UP)
    reversed_ = old.guards()
    assert reversed_.functions == before_catch_up.functions
    assert reversed_.triggers == before_catch_up.triggers


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, "." * node.level + (node.module or "")


def test_no_migration_imports_application_code():
    migrations = sorted(ROOT.glob("*/migrations/*.py"))
    assert len(migrations) > 15  # the glob found the apps' migrations
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in migrations
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if module.startswith(".") or module.split(".")[0] in APP_PACKAGES
    ]
    assert offending == []
