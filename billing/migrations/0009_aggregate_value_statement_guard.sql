-- billing 0009: every stored unique_count value belongs to an aggregate row, checked once per statement
-- over the statement's rows (transition tables) instead of by a row-level composite foreign key (a
-- deferred check per stored value, about a fifth of rating's time); an aggregate with values is never
-- deleted; an aggregate's key (tenant, sku, hour, version) never changes. The checks probe the unique
-- indexes row by row (hash and merge joins off inside the functions): transition tables have no
-- statistics, and a hash join would read the whole aggregate table.
--
-- Frozen: the SQL this migration ran when it was written (billing/sql/aggregate_guard.py at commit
-- d1e04f4, PG_GUARDS). Its first statement drops the composite foreign key that migration 0007 created
-- until commit c8a6762 (0007 no longer creates it; IF EXISTS keeps it harmless). Replaced in part by
-- 0011, today's guards: 0013_reinstall_guards.sql.

ALTER TABLE billing_usageaggregatevalue DROP CONSTRAINT IF EXISTS usage_aggregate_value_bucket_fk;

CREATE OR REPLACE FUNCTION usage_aggregate_value_has_bucket() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_values n
        WHERE NOT EXISTS (
            SELECT 1 FROM billing_usageaggregate a
            WHERE a.tenant_id = n.tenant_id AND a.sku_id = n.sku_id AND a.hour = n.hour
              AND a.profile_version_id = n.profile_version_id)
    ) THEN
        RAISE EXCEPTION 'a unique_count value without its usage aggregate row'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_aggregate_value_bucket_insert AFTER INSERT ON billing_usageaggregatevalue
REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_value_has_bucket();

CREATE TRIGGER usage_aggregate_value_bucket_update AFTER UPDATE ON billing_usageaggregatevalue
REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_value_has_bucket();

CREATE OR REPLACE FUNCTION usage_aggregate_keeps_values() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM old_rows o JOIN billing_usageaggregatevalue v
          ON v.tenant_id = o.tenant_id AND v.sku_id = o.sku_id AND v.hour = o.hour
         AND v.profile_version_id = o.profile_version_id
    ) THEN
        RAISE EXCEPTION 'usage aggregate rows with unique_count values cannot be deleted'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_aggregate_keeps_values AFTER DELETE ON billing_usageaggregate
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_keeps_values();

CREATE OR REPLACE FUNCTION usage_aggregate_key_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key of a usage aggregate row (tenant, sku, hour, version) never changes'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER usage_aggregate_key_frozen
BEFORE UPDATE OF tenant_id, sku_id, hour, profile_version_id ON billing_usageaggregate FOR EACH ROW
WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.sku_id IS DISTINCT FROM NEW.sku_id
      OR OLD.hour IS DISTINCT FROM NEW.hour OR OLD.profile_version_id IS DISTINCT FROM NEW.profile_version_id)
EXECUTE FUNCTION usage_aggregate_key_frozen();
