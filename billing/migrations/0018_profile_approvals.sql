-- billing 0018: profile approvals (maker-checker with signed approvals; docs/approvals.md).
--
-- - billing_profileversion (billing_profileversion_guard, replacing 0015's whole): as 0015, plus the move
--   approved -> rolled_back (a canary rolled back: the version keeps the instants it priced, its decision
--   never changes).
-- - billing_approvalrequest (billing_approvalrequest_guard): inserted open, undecided; only its status and
--   the record of its decision change, once: open -> approved | rejected | expired | withdrawn, recording
--   when. What the approvers saw (backtest, hash, periods) and how many of them the policy asked for never
--   change: the signatures do not cover `required_approvals`, this guard does. DELETE and TRUNCATE refused.
-- - billing_approval (billing_approval_guard): append-only (UPDATE, DELETE and TRUNCATE refused); an
--   approval is added to an open request only, and never by the author of the request's version (the
--   service refuses it first).
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

SET CONSTRAINTS ALL IMMEDIATE;

CREATE OR REPLACE FUNCTION billing_profileversion_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' OR NEW.submitted_at IS NOT NULL OR NEW.decided_by_id IS NOT NULL
           OR NEW.decided_at IS NOT NULL OR NEW.decision_note <> '' THEN
            RAISE EXCEPTION 'a profile version is created as a draft, not %, without submission or decision', NEW.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'profile version % is %: it can never be deleted', OLD.id, OLD.status
                USING ERRCODE = '23000';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.author_id IS DISTINCT FROM OLD.author_id
       OR NEW.profile_id IS DISTINCT FROM OLD.profile_id OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'profile version %: its author, profile, number and creation time never change', OLD.id
            USING ERRCODE = '23000';
    END IF;
    IF OLD.status = 'draft' THEN
        IF NEW.status NOT IN ('draft', 'pending_approval') THEN
            RAISE EXCEPTION 'profile version %: a draft can only be submitted', OLD.id
                USING ERRCODE = '23000';
        END IF;
        IF (NEW.status = 'draft' AND NEW.submitted_at IS NOT NULL)
           OR (NEW.status = 'pending_approval' AND NEW.submitted_at IS NULL) OR NEW.decided_by_id IS NOT NULL
           OR NEW.decided_at IS NOT NULL OR NEW.decision_note <> '' THEN
            RAISE EXCEPTION 'profile version %: submitting records when and decides nothing; a draft has neither', OLD.id
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.body IS DISTINCT FROM OLD.body
       OR NEW.body_sha256 IS DISTINCT FROM OLD.body_sha256
       OR NEW.effective_from IS DISTINCT FROM OLD.effective_from
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
        IF NEW.decided_by_id IS NULL OR NEW.decided_at IS NULL THEN
            RAISE EXCEPTION 'profile version %: a decision records who and when', OLD.id USING ERRCODE = '23000';
        END IF;
        IF NEW.decided_by_id = NEW.author_id THEN
            RAISE EXCEPTION 'profile version %: its author cannot decide it', OLD.id USING ERRCODE = '23000';
        END IF;
        PERFORM 1 FROM tenants_membership m
        WHERE m.user_id = NEW.decided_by_id AND m.role = 'finance_approver' AND m.tenant_id IS NULL
        FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'profile version %: user % does not hold the finance_approver role', OLD.id, NEW.decided_by_id
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'approved' AND NEW.status IN ('superseded', 'rolled_back')
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

CREATE TRIGGER billing_profileversion_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();

CREATE OR REPLACE FUNCTION billing_approvalrequest_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'decided_at', 'decision_note'];
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'open' OR NEW.decided_at IS NOT NULL OR NEW.decision_note <> '' THEN
            RAISE EXCEPTION 'an approval request is created open and undecided, not %', NEW.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
        RAISE EXCEPTION 'approval request %: only its status and the record of its decision change', OLD.id
            USING ERRCODE = '23000';
    END IF;
    IF NEW.status = OLD.status THEN
        IF NEW.decided_at IS DISTINCT FROM OLD.decided_at OR NEW.decision_note IS DISTINCT FROM OLD.decision_note THEN
            RAISE EXCEPTION 'approval request % is %: its decision is immutable', OLD.id, OLD.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'open' AND NEW.status IN ('approved', 'rejected', 'expired', 'withdrawn')
       AND NEW.decided_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'approval request %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
        USING ERRCODE = '23000';
END;
$$;

DROP TRIGGER IF EXISTS billing_approvalrequest_guard ON billing_approvalrequest;

CREATE TRIGGER billing_approvalrequest_guard BEFORE INSERT OR UPDATE ON billing_approvalrequest FOR EACH ROW EXECUTE FUNCTION billing_approvalrequest_guard();

DROP TRIGGER IF EXISTS billing_approvalrequest_no_delete ON billing_approvalrequest;

CREATE TRIGGER billing_approvalrequest_no_delete BEFORE DELETE ON billing_approvalrequest FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_delete();

DROP TRIGGER IF EXISTS billing_approvalrequest_no_truncate ON billing_approvalrequest;

CREATE TRIGGER billing_approvalrequest_no_truncate BEFORE TRUNCATE ON billing_approvalrequest FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();

CREATE OR REPLACE FUNCTION billing_approval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'approval %: approvals are append-only (% refused)', OLD.id, TG_OP USING ERRCODE = '23000';
    END IF;
    SELECT r.status, v.author_id INTO req
    FROM billing_approvalrequest r JOIN billing_profileversion v ON v.id = r.version_id
    WHERE r.id = NEW.request_id
    FOR SHARE OF r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'approval: request % does not exist', NEW.request_id USING ERRCODE = '23000';
    END IF;
    IF req.author_id = NEW.approver_id THEN
        RAISE EXCEPTION 'approval of request %: user % wrote the version and cannot approve it', NEW.request_id, NEW.approver_id
            USING ERRCODE = '23000';
    END IF;
    IF req.status <> 'open' THEN
        RAISE EXCEPTION 'approval of request %: the request is %, not open', NEW.request_id, req.status
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS billing_approval_guard ON billing_approval;

CREATE TRIGGER billing_approval_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_approval FOR EACH ROW EXECUTE FUNCTION billing_approval_guard();

DROP TRIGGER IF EXISTS billing_approval_no_truncate ON billing_approval;

CREATE TRIGGER billing_approval_no_truncate BEFORE TRUNCATE ON billing_approval FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();
