-- billing 0020: four eyes the database enforces in full (docs/approvals.md), replacing 0018's guard
-- functions whole (the triggers stay as 0018 created them):
--
-- - billing_approval_guard: as 0018, and an approval is never by the user who asked for it (the request's
--   requested_by): an editor who is also an approver could otherwise submit someone's draft and approve it.
-- - billing_approvalrequest_guard: as 0018, and open -> approved only when the request holds at least
--   `required_approvals` approvals from distinct approvers, none of them the author of its version.
-- - billing_profileversion_guard: as 0018, and pending_approval -> approved only when an approved request of
--   that version exists (so the request is approved first, then its version). Versions are still inserted
--   as drafts only: the rollback's restore (billing.governance.rollouts._restore_version) walks its new
--   version through draft -> pending_approval -> approved after copying the restored version's approvals
--   onto a request of its own and approving that request, so it needs no exception here.
--
-- 0018's backfill inserted its approved requests before 0018's guards existed; it is not re-run.
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
        IF NEW.status = 'approved' THEN
            PERFORM 1 FROM billing_approvalrequest r WHERE r.version_id = NEW.id AND r.status = 'approved';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'profile version %: it has no approved approval request, so it cannot be approved', OLD.id
                    USING ERRCODE = '23000';
            END IF;
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

CREATE OR REPLACE FUNCTION billing_approvalrequest_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'decided_at', 'decision_note'];
    approvers integer;
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
    IF OLD.status = 'open' AND NEW.status = 'approved' AND NEW.decided_at IS NOT NULL THEN
        SELECT count(DISTINCT a.approver_id) INTO approvers
        FROM billing_approval a JOIN billing_profileversion v ON v.id = NEW.version_id
        WHERE a.request_id = NEW.id AND a.approver_id <> v.author_id;
        IF approvers < NEW.required_approvals THEN
            RAISE EXCEPTION 'approval request % has % approval(s) of % required (distinct approvers, none the author): it cannot be approved', OLD.id, approvers, NEW.required_approvals
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'open' AND NEW.status IN ('rejected', 'expired', 'withdrawn')
       AND NEW.decided_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'approval request %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
        USING ERRCODE = '23000';
END;
$$;

CREATE OR REPLACE FUNCTION billing_approval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'approval %: approvals are append-only (% refused)', OLD.id, TG_OP USING ERRCODE = '23000';
    END IF;
    SELECT r.status, r.requested_by_id, v.author_id INTO req
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
    IF req.requested_by_id = NEW.approver_id THEN
        RAISE EXCEPTION 'approval of request %: user % asked for the approval and cannot approve it', NEW.request_id, NEW.approver_id
            USING ERRCODE = '23000';
    END IF;
    IF req.status <> 'open' THEN
        RAISE EXCEPTION 'approval of request %: the request is %, not open', NEW.request_id, req.status
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;
