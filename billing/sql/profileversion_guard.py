"""SQL for the database-level guards of billing tables (used by migrations; documented in docs/)."""

# A profile version that left draft is frozen: body, hash, effective_from, profile, number and author
# never change; the only status moves are pending_approval -> approved | rejected and
# approved -> superseded; the decision fields are written only by the approve/reject move.
# It can never be deleted. Errors use SQLSTATE 23000 so Django raises IntegrityError.
PG_FUNCTION = r"""
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
            RAISE EXCEPTION 'profile version %: a draft can only be submitted', OLD.id
                USING ERRCODE = '23000';
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
"""
PG_TRIGGERS = [
    PG_FUNCTION,
    "CREATE TRIGGER billing_profileversion_guard BEFORE UPDATE OR DELETE ON billing_profileversion "
    "FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();",
    # TRUNCATE bypasses row triggers: refuse it on the table outright.
    r"""
CREATE OR REPLACE FUNCTION billing_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not allowed', TG_TABLE_NAME USING ERRCODE = '23000';
END;
$$;
""",
    "CREATE TRIGGER billing_profileversion_no_truncate BEFORE TRUNCATE ON billing_profileversion "
    "FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();",
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS billing_profileversion_no_truncate ON billing_profileversion;",
    "DROP TRIGGER IF EXISTS billing_profileversion_guard ON billing_profileversion;",
    "DROP FUNCTION IF EXISTS billing_profileversion_guard();",
    "DROP FUNCTION IF EXISTS billing_refuse_truncate();",
]

SQLITE_TRIGGERS = [
    """
CREATE TRIGGER billing_profileversion_no_delete BEFORE DELETE ON billing_profileversion
WHEN OLD.status <> 'draft'
BEGIN SELECT RAISE(ABORT, 'profile version is out of draft: it can never be deleted'); END;
""",
    """
CREATE TRIGGER billing_profileversion_draft_moves BEFORE UPDATE ON billing_profileversion
WHEN OLD.status = 'draft' AND NEW.status NOT IN ('draft', 'pending_approval')
BEGIN SELECT RAISE(ABORT, 'a draft profile version can only be submitted'); END;
""",
    """
CREATE TRIGGER billing_profileversion_frozen BEFORE UPDATE ON billing_profileversion
WHEN OLD.status <> 'draft' AND (
       NEW.body IS NOT OLD.body OR NEW.body_sha256 IS NOT OLD.body_sha256
    OR NEW.effective_from IS NOT OLD.effective_from OR NEW.profile_id IS NOT OLD.profile_id
    OR NEW.number IS NOT OLD.number OR NEW.author_id IS NOT OLD.author_id
    OR NEW.created_at IS NOT OLD.created_at OR NEW.submitted_at IS NOT OLD.submitted_at
    OR NOT (
         (NEW.status = OLD.status AND NEW.decided_by_id IS OLD.decided_by_id
            AND NEW.decided_at IS OLD.decided_at AND NEW.decision_note IS OLD.decision_note)
      OR (OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected'))
      OR (OLD.status = 'approved' AND NEW.status = 'superseded' AND NEW.decided_by_id IS OLD.decided_by_id
            AND NEW.decided_at IS OLD.decided_at AND NEW.decision_note IS OLD.decision_note)
    ))
BEGIN SELECT RAISE(ABORT, 'profile version is out of draft: it is immutable'); END;
""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS billing_profileversion_no_delete;",
    "DROP TRIGGER IF EXISTS billing_profileversion_draft_moves;",
    "DROP TRIGGER IF EXISTS billing_profileversion_frozen;",
]

# Profile assignments of one tenant never overlap.
PG_ASSIGNMENT = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist;",
    "ALTER TABLE billing_profileassignment ADD CONSTRAINT billing_assignment_no_overlap "
    "EXCLUDE USING gist (tenant_id WITH =, tstzrange(effective_from, effective_to, '[)') WITH &&);",
]
PG_ASSIGNMENT_DROP = [
    "ALTER TABLE billing_profileassignment DROP CONSTRAINT IF EXISTS billing_assignment_no_overlap;",
]
_SQLITE_OVERLAP = """
CREATE TRIGGER billing_assignment_no_overlap_{op} BEFORE {OP} ON billing_profileassignment
WHEN EXISTS (
    SELECT 1 FROM billing_profileassignment a
    WHERE a.tenant_id = NEW.tenant_id AND a.id IS NOT NEW.id
      AND a.effective_from < COALESCE(NEW.effective_to, '9999-12-31')
      AND COALESCE(a.effective_to, '9999-12-31') > NEW.effective_from
)
BEGIN SELECT RAISE(ABORT, 'profile assignments of a tenant must not overlap'); END;
"""
SQLITE_ASSIGNMENT = [
    _SQLITE_OVERLAP.format(op="ins", OP="INSERT"),
    _SQLITE_OVERLAP.format(op="upd", OP="UPDATE"),
]
SQLITE_ASSIGNMENT_DROP = [
    "DROP TRIGGER IF EXISTS billing_assignment_no_overlap_ins;",
    "DROP TRIGGER IF EXISTS billing_assignment_no_overlap_upd;",
]
