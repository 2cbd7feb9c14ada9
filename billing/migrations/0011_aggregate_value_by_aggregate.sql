-- billing 0011: billing_usageaggregatevalue rebuilt with the primary key (aggregate_id, value); its
-- guards check each distinct aggregate id once (the aggregate's primary key) instead of the
-- (tenant, sku, hour, version) key. The key-frozen trigger on billing_usageaggregate stays as 0009 made it.
--
-- Frozen: the SQL this migration ran when it was written (migration 0011 and billing/sql/aggregate_guard.py
-- at commit a13ced6: _PG_FORWARD with PG_GUARDS_BY_AGGREGATE). Today's guards: 0013_reinstall_guards.sql.

CREATE TABLE billing_usageaggregatevalue_new (aggregate_id bigint NOT NULL, value varchar(256) COLLATE "C" NOT NULL, CONSTRAINT billing_usageaggregatevalue_new_pkey PRIMARY KEY (aggregate_id, value));

INSERT INTO billing_usageaggregatevalue_new (aggregate_id, value) SELECT a.id, v.value FROM billing_usageaggregatevalue v JOIN billing_usageaggregate a ON a.tenant_id = v.tenant_id AND a.sku_id = v.sku_id AND a.hour = v.hour AND a.profile_version_id = v.profile_version_id;

DROP TABLE billing_usageaggregatevalue;

ALTER TABLE billing_usageaggregatevalue_new RENAME TO billing_usageaggregatevalue;

ALTER TABLE billing_usageaggregatevalue RENAME CONSTRAINT billing_usageaggregatevalue_new_pkey TO billing_usageaggregatevalue_pkey;

CREATE OR REPLACE FUNCTION usage_aggregate_value_has_bucket() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (  -- one probe per aggregate row, not per value (a batch stores ~35 values per row)
        SELECT 1 FROM (SELECT DISTINCT aggregate_id FROM new_values) n
        WHERE NOT EXISTS (SELECT 1 FROM billing_usageaggregate a WHERE a.id = n.aggregate_id)
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
    IF EXISTS (SELECT 1 FROM old_rows o JOIN billing_usageaggregatevalue v ON v.aggregate_id = o.id) THEN
        RAISE EXCEPTION 'usage aggregate rows with unique_count values cannot be deleted'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
