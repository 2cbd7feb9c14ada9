"""Every stored unique_count value belongs to an aggregate row (PostgreSQL).

A row-level composite foreign key would do the same with a deferred check per stored value at commit;
measured before these triggers replaced it, that was about a fifth of rating's time. These statement-level triggers check the same rule once per
statement with one anti-join over the statement's rows (transition tables): values inserted or updated
must have their (tenant, sku, hour, version) aggregate; aggregates deleted must leave no value behind;
an aggregate's key never changes. Rating inserts the values after upserting their aggregates. The checks
probe the unique indexes row by row (joins other than nested loops are off inside the functions): the
transition tables have no statistics, and a hash join would read the whole aggregate table."""


def _statement_guard(function: str, violation: str, message: str) -> str:
    """A statement-level trigger function that raises `message` when the `violation` query finds a row."""
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS ({violation}) THEN
        RAISE EXCEPTION '{message}'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$
"""


_VALUE_WITHOUT_BUCKET = "a unique_count value without its usage aggregate row"
_BUCKET_WITH_VALUES = "usage aggregate rows with unique_count values cannot be deleted"

PG_GUARDS = [
    _statement_guard(
        "usage_aggregate_value_has_bucket",
        """
        SELECT 1 FROM new_values n
        WHERE NOT EXISTS (
            SELECT 1 FROM billing_usageaggregate a
            WHERE a.tenant_id = n.tenant_id AND a.sku_id = n.sku_id AND a.hour = n.hour
              AND a.profile_version_id = n.profile_version_id)
    """,
        _VALUE_WITHOUT_BUCKET,
    ),
    """
CREATE TRIGGER usage_aggregate_value_bucket_insert AFTER INSERT ON billing_usageaggregatevalue
REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_value_has_bucket()
""",
    """
CREATE TRIGGER usage_aggregate_value_bucket_update AFTER UPDATE ON billing_usageaggregatevalue
REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_value_has_bucket()
""",
    _statement_guard(
        "usage_aggregate_keeps_values",
        """
        SELECT 1 FROM old_rows o JOIN billing_usageaggregatevalue v
          ON v.tenant_id = o.tenant_id AND v.sku_id = o.sku_id AND v.hour = o.hour
         AND v.profile_version_id = o.profile_version_id
    """,
        _BUCKET_WITH_VALUES,
    ),
    """
CREATE TRIGGER usage_aggregate_keeps_values AFTER DELETE ON billing_usageaggregate
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_keeps_values()
""",
    """
CREATE OR REPLACE FUNCTION usage_aggregate_key_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key of a usage aggregate row (tenant, sku, hour, version) never changes'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
""",
    """
CREATE TRIGGER usage_aggregate_key_frozen
BEFORE UPDATE OF tenant_id, sku_id, hour, profile_version_id ON billing_usageaggregate FOR EACH ROW
WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.sku_id IS DISTINCT FROM NEW.sku_id
      OR OLD.hour IS DISTINCT FROM NEW.hour OR OLD.profile_version_id IS DISTINCT FROM NEW.profile_version_id)
EXECUTE FUNCTION usage_aggregate_key_frozen()
""",
]

PG_DROP = [
    "DROP TRIGGER IF EXISTS usage_aggregate_key_frozen ON billing_usageaggregate",
    "DROP TRIGGER IF EXISTS usage_aggregate_keeps_values ON billing_usageaggregate",
    "DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_update ON billing_usageaggregatevalue",
    "DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_insert ON billing_usageaggregatevalue",
    "DROP FUNCTION IF EXISTS usage_aggregate_key_frozen()",
    "DROP FUNCTION IF EXISTS usage_aggregate_keeps_values()",
    "DROP FUNCTION IF EXISTS usage_aggregate_value_has_bucket()",
]

# Migration 0011: values keyed by their aggregate row's id. The value-to-aggregate rule is the same, checked
# by the aggregate's primary key; an aggregate's key (tenant, sku, hour, version) still never changes, so
# a value stays in its hour. These replace the two functions above and re-create the value triggers on the
# rebuilt table (the key-frozen trigger on the aggregate table is kept as it is).
PG_GUARDS_BY_AGGREGATE = [
    _statement_guard(
        "usage_aggregate_value_has_bucket",
        # one probe per aggregate row, not per value (a batch stores ~35 values per row)
        "SELECT 1 FROM (SELECT DISTINCT aggregate_id FROM new_values) n "
        "WHERE NOT EXISTS (SELECT 1 FROM billing_usageaggregate a WHERE a.id = n.aggregate_id)",
        _VALUE_WITHOUT_BUCKET,
    ),
    PG_GUARDS[1],
    PG_GUARDS[2],
    _statement_guard(
        "usage_aggregate_keeps_values",
        "SELECT 1 FROM old_rows o JOIN billing_usageaggregatevalue v ON v.aggregate_id = o.id",
        _BUCKET_WITH_VALUES,
    ),
]
# Back to migration 0009's two functions and its value triggers (the table rebuilt by 0011's reverse has
# none; the triggers on the aggregate table were never dropped).
PG_GUARDS_BY_KEY = PG_GUARDS[:4]
