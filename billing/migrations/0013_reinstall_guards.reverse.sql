-- Reverse of billing 0013: the billing guards as migrations 0002-0012 install them (their frozen SQL).

CREATE OR REPLACE FUNCTION billing_profileversion_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'profile version % is %: it can never be deleted', OLD.id, OLD.status
                USING ERRCODE = '23000';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'draft' THEN
        IF NEW.status NOT IN ('draft', 'pending_approval') THEN
            RAISE EXCEPTION 'profile version %: a draft can only be submitted', OLD.id USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.body IS DISTINCT FROM OLD.body
       OR NEW.body_sha256 IS DISTINCT FROM OLD.body_sha256
       OR NEW.effective_from IS DISTINCT FROM OLD.effective_from
       OR NEW.profile_id IS DISTINCT FROM OLD.profile_id
       OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.author_id IS DISTINCT FROM OLD.author_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.submitted_at IS DISTINCT FROM OLD.submitted_at THEN
        RAISE EXCEPTION 'profile version % is %: its content is immutable', OLD.id, OLD.status
            USING ERRCODE = '23000';
    END IF;
    IF NEW.status = OLD.status THEN
        IF NEW.decided_by_id IS DISTINCT FROM OLD.decided_by_id
           OR NEW.decided_at IS DISTINCT FROM OLD.decided_at
           OR NEW.decision_note IS DISTINCT FROM OLD.decision_note THEN
            RAISE EXCEPTION 'profile version %: the decision is immutable', OLD.id USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected') THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'approved' AND NEW.status = 'superseded'
       AND NEW.decided_by_id IS NOT DISTINCT FROM OLD.decided_by_id
       AND NEW.decided_at IS NOT DISTINCT FROM OLD.decided_at
       AND NEW.decision_note IS NOT DISTINCT FROM OLD.decision_note THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'profile version %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
        USING ERRCODE = '23000';
END;
$$;

DROP TRIGGER IF EXISTS billing_profileversion_guard ON billing_profileversion;

CREATE TRIGGER billing_profileversion_guard BEFORE UPDATE OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();

CREATE OR REPLACE FUNCTION billing_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not allowed', TG_TABLE_NAME USING ERRCODE = '23000';
END;
$$;

DROP TRIGGER IF EXISTS billing_profileversion_no_truncate ON billing_profileversion;

CREATE TRIGGER billing_profileversion_no_truncate BEFORE TRUNCATE ON billing_profileversion FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();

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

DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_insert ON billing_usageaggregatevalue;

CREATE TRIGGER usage_aggregate_value_bucket_insert AFTER INSERT ON billing_usageaggregatevalue
REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_value_has_bucket();

DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_update ON billing_usageaggregatevalue;

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

DROP TRIGGER IF EXISTS usage_aggregate_keeps_values ON billing_usageaggregate;

CREATE TRIGGER usage_aggregate_keeps_values AFTER DELETE ON billing_usageaggregate
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_aggregate_keeps_values();

CREATE OR REPLACE FUNCTION usage_aggregate_key_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key of a usage aggregate row (tenant, sku, hour, version) never changes'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

DROP TRIGGER IF EXISTS usage_aggregate_key_frozen ON billing_usageaggregate;

CREATE TRIGGER usage_aggregate_key_frozen
BEFORE UPDATE OF tenant_id, sku_id, hour, profile_version_id ON billing_usageaggregate FOR EACH ROW
WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.sku_id IS DISTINCT FROM NEW.sku_id
      OR OLD.hour IS DISTINCT FROM NEW.hour OR OLD.profile_version_id IS DISTINCT FROM NEW.profile_version_id)
EXECUTE FUNCTION usage_aggregate_key_frozen();

CREATE OR REPLACE FUNCTION billing_usageevent_parents_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM 1 FROM tenants_tenant p
    WHERE p.id IN (SELECT tenant_id FROM usage_new WHERE tenant_id IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT tenant_id AS id FROM usage_new WHERE tenant_id IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM tenants_tenant p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            'tenant_id=% is not present in table "tenants_tenant"', missing
            USING ERRCODE = '23503';
    END IF;
    PERFORM 1 FROM billing_sku p
    WHERE p.id IN (SELECT sku_id FROM usage_new WHERE sku_id IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT sku_id AS id FROM usage_new WHERE sku_id IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM billing_sku p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            'sku_id=% is not present in table "billing_sku"', missing
            USING ERRCODE = '23503';
    END IF;
    PERFORM 1 FROM tenants_project p
    WHERE p.id IN (SELECT project_id FROM usage_new WHERE project_id IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT project_id AS id FROM usage_new WHERE project_id IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM tenants_project p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            'project_id=% is not present in table "tenants_project"', missing
            USING ERRCODE = '23503';
    END IF;
    PERFORM 1 FROM billing_profileversion p
    WHERE p.id IN (SELECT profile_version_id FROM usage_new WHERE profile_version_id IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT profile_version_id AS id FROM usage_new WHERE profile_version_id IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM billing_profileversion p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            'profile_version_id=% is not present in table "billing_profileversion"', missing
            USING ERRCODE = '23503';
    END IF;
    PERFORM 1 FROM auth_user p
    WHERE p.id IN (SELECT reattributed_by_id FROM usage_new WHERE reattributed_by_id IS NOT NULL)
    FOR KEY SHARE OF p;
    SELECT w.id INTO missing
    FROM (SELECT DISTINCT reattributed_by_id AS id FROM usage_new WHERE reattributed_by_id IS NOT NULL) w
    WHERE NOT EXISTS (SELECT 1 FROM auth_user p WHERE p.id = w.id)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "billing_usageevent" violates foreign key: '
            'reattributed_by_id=% is not present in table "auth_user"', missing
            USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS billing_usageevent_parents_ins ON billing_usageevent;

CREATE TRIGGER billing_usageevent_parents_ins AFTER INSERT ON billing_usageevent REFERENCING NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_parents_exist();

DROP TRIGGER IF EXISTS billing_usageevent_parents_upd ON billing_usageevent;

CREATE TRIGGER billing_usageevent_parents_upd AFTER UPDATE ON billing_usageevent REFERENCING NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_parents_exist();

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

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON tenants_tenant;

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON tenants_tenant FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('tenant_id');

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON billing_sku;

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON billing_sku FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('sku_id');

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON tenants_project;

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON tenants_project FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('project_id');

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON billing_profileversion;

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('profile_version_id');

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON auth_user;

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON auth_user FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('reattributed_by_id');
