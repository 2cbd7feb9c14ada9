-- Reverse of billing 0015: the billing guards as 0013 installs them (billing_profileversion_guard and its
-- trigger as in 0013_reinstall_guards.sql), without the usage event and rating batch guards.

DROP TRIGGER IF EXISTS billing_usageevent_state_moves ON billing_usageevent;

DROP TRIGGER IF EXISTS billing_usageevent_no_delete ON billing_usageevent;

DROP TRIGGER IF EXISTS billing_usageevent_no_truncate ON billing_usageevent;

DROP TRIGGER IF EXISTS billing_ratingbatch_insert_pending ON billing_ratingbatch;

DROP TRIGGER IF EXISTS billing_ratingbatch_guard ON billing_ratingbatch;

DROP TRIGGER IF EXISTS billing_ratingbatch_no_delete ON billing_ratingbatch;

DROP TRIGGER IF EXISTS billing_ratingbatch_no_truncate ON billing_ratingbatch;

DROP FUNCTION IF EXISTS billing_usageevent_moves();

DROP FUNCTION IF EXISTS billing_ratingbatch_guard();

DROP FUNCTION IF EXISTS billing_refuse_delete();

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

DROP TRIGGER IF EXISTS billing_profileversion_guard ON billing_profileversion;

CREATE TRIGGER billing_profileversion_guard BEFORE UPDATE OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();
