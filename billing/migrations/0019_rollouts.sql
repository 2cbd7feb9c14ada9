-- billing 0019: canary rollouts (billing/profiles/rollout_models.py, docs/rollouts.md).
--
-- - billing_rollout (billing_rollout_guard): inserted as a canary of an approved version, with nothing
--   promoted, halted or rolled back; its version, cohort (kind, percent, salt), guardrails, author and
--   creation time never change. The status moves only canary -> halted | promoted | rolled_back and
--   halted -> promoted | rolled_back; each move writes its own record once (halted_at and a reason;
--   promoted_at / promoted_by; rolled_back_at / rolled_back_by / rollback_version) and nothing else, and a
--   written record never changes again. A promotion never precedes the version's effective_from.
--   DELETE and TRUNCATE are refused.
-- - billing_rollouttenant (billing_rollouttenant_guard): an explicit cohort's tenants are added or removed
--   only while the rollout is a canary whose version is not in force yet (effective_from > now()); a row
--   never changes. TRUNCATE is refused.
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

CREATE OR REPLACE FUNCTION billing_rollout_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'rollout %: a rollout is never deleted', OLD.id USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT status, effective_from INTO v FROM billing_profileversion WHERE id = NEW.version_id FOR KEY SHARE;
        IF NOT FOUND OR v.status <> 'approved' THEN
            RAISE EXCEPTION 'rollout of version %: only an approved version is rolled out', NEW.version_id
                USING ERRCODE = '23000';
        END IF;
        IF NEW.status <> 'canary' OR NEW.promoted_at IS NOT NULL OR NEW.promoted_by_id IS NOT NULL
           OR NEW.halted_at IS NOT NULL OR NEW.halt_reason <> '' OR NEW.rolled_back_at IS NOT NULL
           OR NEW.rolled_back_by_id IS NOT NULL OR NEW.rollback_version_id IS NOT NULL THEN
            RAISE EXCEPTION 'a rollout is created as a canary, not %, with nothing promoted, halted or rolled back', NEW.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.version_id, NEW.cohort_kind, NEW.percent, NEW.salt, NEW.max_bill_change_pct, NEW.max_disputes,
        NEW.created_by_id, NEW.created_at)
       IS DISTINCT FROM (OLD.id, OLD.version_id, OLD.cohort_kind, OLD.percent, OLD.salt, OLD.max_bill_change_pct,
        OLD.max_disputes, OLD.created_by_id, OLD.created_at) THEN
        RAISE EXCEPTION 'rollout %: its version, cohort, guardrails, author and creation time never change', OLD.id
            USING ERRCODE = '23000';
    END IF;
    IF (OLD.halted_at IS NOT NULL AND (NEW.halted_at, NEW.halt_reason) IS DISTINCT FROM (OLD.halted_at, OLD.halt_reason))
       OR (OLD.promoted_at IS NOT NULL
           AND (NEW.promoted_at, NEW.promoted_by_id) IS DISTINCT FROM (OLD.promoted_at, OLD.promoted_by_id))
       OR (OLD.rolled_back_at IS NOT NULL
           AND (NEW.rolled_back_at, NEW.rolled_back_by_id, NEW.rollback_version_id)
               IS DISTINCT FROM (OLD.rolled_back_at, OLD.rolled_back_by_id, OLD.rollback_version_id)) THEN
        RAISE EXCEPTION 'rollout %: a halt, promotion or rollback, once recorded, never changes', OLD.id
            USING ERRCODE = '23000';
    END IF;
    IF NEW.status = OLD.status THEN
        IF (NEW.halted_at, NEW.halt_reason, NEW.promoted_at, NEW.promoted_by_id, NEW.rolled_back_at,
            NEW.rolled_back_by_id, NEW.rollback_version_id)
           IS DISTINCT FROM (OLD.halted_at, OLD.halt_reason, OLD.promoted_at, OLD.promoted_by_id, OLD.rolled_back_at,
            OLD.rolled_back_by_id, OLD.rollback_version_id) THEN
            RAISE EXCEPTION 'rollout % is %: its record changes only with a move', OLD.id, OLD.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'canary' AND NEW.status = 'halted' THEN
        IF NEW.halted_at IS NULL OR NEW.halt_reason = '' OR NEW.promoted_at IS NOT NULL OR NEW.rolled_back_at IS NOT NULL THEN
            RAISE EXCEPTION 'rollout %: a halt records when and why, and nothing else', OLD.id USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status IN ('canary', 'halted') AND NEW.status = 'promoted' THEN
        IF NEW.promoted_at IS NULL OR NEW.promoted_by_id IS NULL OR NEW.rolled_back_at IS NOT NULL
           OR (NEW.halted_at, NEW.halt_reason) IS DISTINCT FROM (OLD.halted_at, OLD.halt_reason) THEN
            RAISE EXCEPTION 'rollout %: a promotion records when and who, and nothing else', OLD.id
                USING ERRCODE = '23000';
        END IF;
        SELECT effective_from INTO v FROM billing_profileversion WHERE id = NEW.version_id;
        IF NEW.promoted_at < v.effective_from THEN
            RAISE EXCEPTION 'rollout %: a promotion cannot precede the version''s effective_from', OLD.id
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status IN ('canary', 'halted') AND NEW.status = 'rolled_back' THEN
        IF NEW.rolled_back_at IS NULL OR NEW.rolled_back_by_id IS NULL OR NEW.rollback_version_id IS NULL
           OR NEW.promoted_at IS NOT NULL
           OR (NEW.halted_at, NEW.halt_reason) IS DISTINCT FROM (OLD.halted_at, OLD.halt_reason) THEN
            RAISE EXCEPTION 'rollout %: a rollback records when, who and the restoring version, and nothing else', OLD.id
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'rollout %: % -> % is not allowed', OLD.id, OLD.status, NEW.status USING ERRCODE = '23000';
END;
$$;

DROP TRIGGER IF EXISTS billing_rollout_guard ON billing_rollout;

CREATE TRIGGER billing_rollout_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_rollout FOR EACH ROW EXECUTE FUNCTION billing_rollout_guard();

DROP TRIGGER IF EXISTS billing_rollout_no_truncate ON billing_rollout;

CREATE TRIGGER billing_rollout_no_truncate BEFORE TRUNCATE ON billing_rollout FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();

CREATE OR REPLACE FUNCTION billing_rollouttenant_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    row_rollout bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'rollout tenant %: a cohort row never changes (remove it and add another)', OLD.id
            USING ERRCODE = '23000';
    END IF;
    row_rollout := CASE WHEN TG_OP = 'INSERT' THEN NEW.rollout_id ELSE OLD.rollout_id END;
    SELECT o.status, v.effective_from INTO r
    FROM billing_rollout o JOIN billing_profileversion v ON v.id = o.version_id
    WHERE o.id = row_rollout
    FOR SHARE OF o;
    IF r.status <> 'canary' OR r.effective_from <= now() THEN
        RAISE EXCEPTION 'rollout %: its cohort is fixed once its version is in force (or the canary is over)', row_rollout
            USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$;

DROP TRIGGER IF EXISTS billing_rollouttenant_guard ON billing_rollouttenant;

CREATE TRIGGER billing_rollouttenant_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_rollouttenant FOR EACH ROW EXECUTE FUNCTION billing_rollouttenant_guard();

DROP TRIGGER IF EXISTS billing_rollouttenant_no_truncate ON billing_rollouttenant;

CREATE TRIGGER billing_rollouttenant_no_truncate BEFORE TRUNCATE ON billing_rollouttenant FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();
