-- billing 0012: referential integrity of billing_usageevent checked per statement instead of per row.
--
-- After each INSERT or UPDATE statement on billing_usageevent, one statement trigger reads the new rows
-- (a transition table), KEY SHARE-locks each distinct parent they name (tenant, SKU, project, profile
-- version, re-attributing user), once, and refuses the statement (SQLSTATE 23503, foreign_key_violation)
-- if one is missing; the lock is the one a foreign key takes. A parent that usage events name can be
-- neither deleted nor renumbered (a row trigger on each parent table). TRUNCATE of a parent table alone
-- is not refused: it is an operator's tool, and Django's test flush truncates every table at once.
--
-- Frozen: the SQL this migration ran when it was written (billing/sql/usage_event_parents.py at commit
-- 45dae98, PG_TRIGGERS). Today's guards: 0013_reinstall_guards.sql.

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

CREATE TRIGGER billing_usageevent_parents_ins AFTER INSERT ON billing_usageevent REFERENCING NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_parents_exist();

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

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON tenants_tenant FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('tenant_id');

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON billing_sku FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('sku_id');

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON tenants_project FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('project_id');

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('profile_version_id');

CREATE TRIGGER billing_usageevent_parent_guard BEFORE UPDATE OF id OR DELETE ON auth_user FOR EACH ROW EXECUTE FUNCTION billing_usageevent_parent_guard('reattributed_by_id');
