"""Referential integrity of billing_usageevent, checked per statement instead of per row.

A usage event names its tenant, SKU, project, profile version and re-attributing user. Declared as
foreign keys, those five columns queue five after-row trigger events for every ingested event, and each
one fetches the row again and runs its own check query (and KEY SHARE-locks the same tenant and SKU
rows a thousand times per batch). Measured on a 1,000-event ingest request, that was a third of
PostgreSQL's CPU time for the request (docs/performance.md).

The same guarantees are kept here, batched:

- after each INSERT or UPDATE statement on billing_usageevent, one statement trigger reads the new rows
  (a transition table), KEY SHARE-locks each distinct parent they name, once, and refuses the statement
  (SQLSTATE 23503, foreign_key_violation) if any parent is missing. The lock is the one a foreign key
  takes: a concurrent DELETE of that parent waits for this transaction and then sees its events;
- a parent that usage events name can be neither deleted nor renumbered (a row trigger on each parent
  table, as a foreign key's NO ACTION check would refuse it).

TRUNCATE of a parent table alone is not refused (a foreign key would refuse it): it is an
operator's tool, and Django's test flush truncates every table in one statement.

Every name below comes from PARENTS (constants), never from input. SQLite (the demo database) gets plain
row triggers: its writes are one at a time, so there is no race to
lock against."""

from __future__ import annotations

# (column on billing_usageevent, parent table); every parent is keyed by `id`.
PARENTS = (
    ("tenant_id", "tenants_tenant"),
    ("sku_id", "billing_sku"),
    ("project_id", "tenants_project"),
    ("profile_version_id", "billing_profileversion"),
    ("reattributed_by_id", "auth_user"),
)

_CHECK_ONE = """
    PERFORM 1 FROM {table} p
    WHERE p.id IN (SELECT {column} FROM usage_new WHERE {column} IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT {column} AS id FROM usage_new WHERE {column} IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM {table} p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            '{column}=% is not present in table "{table}"', missing
            USING ERRCODE = '23503';
    END IF;"""


def _pg_check_function() -> str:
    # Per parent table: KEY SHARE-lock the distinct parents named (PERFORM runs the query to the end),
    # then look for one that is missing. Under READ COMMITTED the second statement takes a new snapshot,
    # so a parent deleted by a transaction that committed while we waited for its lock is seen as gone.
    body = "".join(_CHECK_ONE.format(column=column, table=table) for column, table in PARENTS)
    return (
        "CREATE OR REPLACE FUNCTION billing_usageevent_parents_exist() RETURNS trigger "
        "LANGUAGE plpgsql AS $$\n"
        "DECLARE\n    missing bigint;\nBEGIN"
        f"{body}\n"
        "    RETURN NULL;\nEND;\n$$;"
    )


_PG_PARENT_GUARD = r"""
CREATE OR REPLACE FUNCTION billing_usageevent_parent_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM billing_usageevent WHERE %I = $1)', TG_ARGV[0])
        INTO referenced USING OLD.id;
    IF referenced THEN
        RAISE EXCEPTION '% or update on table "%" violates foreign key: id=% is still referenced from '
            'table "billing_usageevent" (%)', lower(TG_OP), TG_TABLE_NAME, OLD.id, TG_ARGV[0]
            USING ERRCODE = '23503';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
"""

PG_TRIGGERS = [
    _pg_check_function(),
    # Transition tables allow one event per trigger: one for INSERT (ingest's INSERT ... SELECT, COPY,
    # the ORM), one for UPDATE (re-attribution, rating's per-event marks).
    "CREATE TRIGGER billing_usageevent_parents_ins AFTER INSERT ON billing_usageevent "
    "REFERENCING NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_parents_exist();",
    "CREATE TRIGGER billing_usageevent_parents_upd AFTER UPDATE ON billing_usageevent "
    "REFERENCING NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_parents_exist();",
    _PG_PARENT_GUARD,
    *(
        f"CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('{column}');"
        for column, table in PARENTS
    ),
]
PG_DROP = [
    *(f"DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON {table};" for _column, table in PARENTS),
    "DROP FUNCTION IF EXISTS billing_usageevent_parent_guard();",
    "DROP TRIGGER IF EXISTS billing_usageevent_parents_upd ON billing_usageevent;",
    "DROP TRIGGER IF EXISTS billing_usageevent_parents_ins ON billing_usageevent;",
    "DROP FUNCTION IF EXISTS billing_usageevent_parents_exist();",
]

_SQLITE_MISSING = " OR ".join(
    f"(NEW.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} WHERE id = NEW.{column}))"  # noqa: S608
    for column, table in PARENTS
)
SQLITE_TRIGGERS = [
    *(
        f"CREATE TRIGGER billing_usageevent_parents_{op} BEFORE {op.upper()} ON billing_usageevent "
        f"WHEN {_SQLITE_MISSING} "
        "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: a usage event names a missing parent'); END;"
        for op in ("insert", "update")
    ),
    *(
        f"CREATE TRIGGER billing_usageevent_parent_guard_{table}_{op} BEFORE {clause} ON {table} "  # noqa: S608
        f"WHEN {when} AND EXISTS (SELECT 1 FROM billing_usageevent WHERE {column} = OLD.id) "
        f"BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table} row is named by usage events'); "
        "END;"
        for column, table in PARENTS
        for op, clause, when in (("delete", "DELETE", "1"), ("update", "UPDATE OF id", "NEW.id <> OLD.id"))
    ),
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS billing_usageevent_parents_insert;",
    "DROP TRIGGER IF EXISTS billing_usageevent_parents_update;",
    *(
        f"DROP TRIGGER IF EXISTS billing_usageevent_parent_guard_{table}_{op};"
        for _column, table in PARENTS
        for op in ("delete", "update")
    ),
]
