-- billing 0020 reversed: the guard functions of 0018 (billing/migrations/0018_profile_approvals.sql), a
-- frozen copy. The triggers are unchanged by 0020.

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
