-- billing 0002: profile versions frozen out of draft (refused in the database), TRUNCATE refused, and
-- profile assignments of a tenant never overlap (exclusion constraint). Errors use SQLSTATE 23000, so
-- Django raises IntegrityError.
--
-- Frozen: the PostgreSQL SQL this migration ran when it was written (billing/sql/profileversion_guard.py
-- at commit 1cd75ed, PG_TRIGGERS + PG_ASSIGNMENT). Today's guards: 0013_reinstall_guards.sql.

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

CREATE TRIGGER billing_profileversion_guard BEFORE UPDATE OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();

CREATE OR REPLACE FUNCTION billing_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not allowed', TG_TABLE_NAME USING ERRCODE = '23000';
END;
$$;

CREATE TRIGGER billing_profileversion_no_truncate BEFORE TRUNCATE ON billing_profileversion FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();

CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE billing_profileassignment ADD CONSTRAINT billing_assignment_no_overlap EXCLUDE USING gist (tenant_id WITH =, tstzrange(effective_from, effective_to, '[)') WITH &&);
