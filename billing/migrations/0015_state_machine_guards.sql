-- billing 0015: the database allows only the moves the billing services make.
--
-- - billing_profileversion (billing_profileversion_guard, replacing the version of 0013, now also on
--   INSERT): a version is inserted as a bare draft (no submission, no decision), so it reaches `approved`
--   only through pending_approval -> approved; submitting records when and decides nothing; the approve
--   and reject moves record who and when, and the decider holds the platform-wide finance_approver role
--   (a tenants_membership row, KEY SHARE-locked so a concurrent revocation waits) and is not the author
--   (also the CHECK profileversion_four_eyes). Author, profile, number and creation time never change, in
--   draft too. Out of draft the version stays frozen as 0013 has it.
-- - billing_usageevent: append-only but for what rating and quarantine re-attribution write, checked per
--   UPDATE statement over its old and new rows (transition tables joined by id; no trigger on INSERT, the
--   ingest's hot path): what the client sent (event id, timestamp, quantity, payload hash) and when it
--   arrived never change, nor does an event's id; rating flags `late` (false -> true) and records the
--   version of an event priced per event (NULL -> a version) on accepted events, and quarantines accepted
--   events (accepted -> quarantined with a reason, nothing else); re-attribution moves a quarantined event
--   to accepted, and only that move may change its tenant, SKU, project (ids and codes), tags and rating
--   batch, recording who and when, into a new rating batch, with its reason cleared. DELETE and TRUNCATE
--   are refused.
-- - billing_ratingbatch: inserted pending; pending -> rated, pending -> failed (with when and why),
--   failed -> rated; rated is final; nothing moves back to pending. `rated_at` is written by a move to
--   rated, `failed_at` / `failure_reason` by the move to failed; every other column never changes (the
--   ingest inserts a batch with its final id range, after its events). DELETE and TRUNCATE are refused.
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

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

CREATE TRIGGER billing_profileversion_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_profileversion FOR EACH ROW EXECUTE FUNCTION billing_profileversion_guard();

CREATE OR REPLACE FUNCTION billing_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'DELETE on % is not allowed', TG_TABLE_NAME USING ERRCODE = '23000';
END;
$$;

-- Hash joins on for the call: rating writes its rare event marks with them off (SET LOCAL), and the
-- transition tables have no index.
CREATE OR REPLACE FUNCTION billing_usageevent_moves() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = on AS $$
DECLARE
    bad record;
BEGIN
    SELECT * INTO bad FROM (
        SELECT coalesce(o.id, n.id) AS id, CASE
            WHEN o.id IS NULL OR n.id IS NULL THEN
                'its id never changes'
            WHEN (n.event_id, n."timestamp", n.quantity, n.payload_sha256, n.received_at)
                 IS DISTINCT FROM (o.event_id, o."timestamp", o.quantity, o.payload_sha256, o.received_at) THEN
                'what the client sent and when it arrived never change'
            WHEN n.status = o.status THEN CASE
                WHEN (n.tenant_id, n.tenant_slug, n.sku_id, n.sku_code, n.project_id, n.project_code, n.tags,
                      n.rating_batch_id, n.reattributed_by_id, n.reattributed_at, n.quarantine_reason)
                     IS DISTINCT FROM
                     (o.tenant_id, o.tenant_slug, o.sku_id, o.sku_code, o.project_id, o.project_code, o.tags,
                      o.rating_batch_id, o.reattributed_by_id, o.reattributed_at, o.quarantine_reason) THEN
                    'its attribution changes only when re-attribution accepts a quarantined event'
                WHEN n.late IS DISTINCT FROM o.late AND (o.late OR n.status <> 'accepted') THEN
                    'late only goes from false to true, on an accepted event'
                WHEN n.profile_version_id IS DISTINCT FROM o.profile_version_id
                     AND (o.profile_version_id IS NOT NULL OR n.status <> 'accepted') THEN
                    'its profile version is recorded once, on an accepted event'
                END
            WHEN o.status = 'accepted' AND n.status = 'quarantined' THEN CASE
                WHEN (n.tenant_id, n.tenant_slug, n.sku_id, n.sku_code, n.project_id, n.project_code, n.tags,
                      n.rating_batch_id, n.reattributed_by_id, n.reattributed_at, n.late, n.profile_version_id)
                     IS DISTINCT FROM
                     (o.tenant_id, o.tenant_slug, o.sku_id, o.sku_code, o.project_id, o.project_code, o.tags,
                      o.rating_batch_id, o.reattributed_by_id, o.reattributed_at, o.late, o.profile_version_id) THEN
                    'quarantining an event changes its status and reason only'
                END
            WHEN o.status = 'quarantined' AND n.status = 'accepted' THEN CASE
                WHEN n.reattributed_by_id IS NULL OR n.reattributed_at IS NULL THEN
                    're-attribution records who and when'
                WHEN n.rating_batch_id IS NULL OR n.rating_batch_id IS NOT DISTINCT FROM o.rating_batch_id THEN
                    'a re-attributed event goes to rating in a new batch'
                WHEN n.quarantine_reason <> '' THEN
                    'a re-attributed event has no quarantine reason'
                WHEN n.late IS DISTINCT FROM o.late OR n.profile_version_id IS DISTINCT FROM o.profile_version_id THEN
                    're-attribution leaves late and the profile version to rating'
                END
            ELSE format('%s -> %s is not allowed', o.status, n.status)
        END AS why
        FROM usage_old o FULL JOIN usage_new n ON n.id = o.id
    ) checked
    WHERE checked.why IS NOT NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'usage event %: %', bad.id, bad.why USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

-- Named to fire after billing_usageevent_parents_upd (AFTER triggers fire in name order): a missing
-- parent is reported as such.
DROP TRIGGER IF EXISTS billing_usageevent_state_moves ON billing_usageevent;

CREATE TRIGGER billing_usageevent_state_moves AFTER UPDATE ON billing_usageevent REFERENCING OLD TABLE AS usage_old NEW TABLE AS usage_new FOR EACH STATEMENT EXECUTE FUNCTION billing_usageevent_moves();

DROP TRIGGER IF EXISTS billing_usageevent_no_delete ON billing_usageevent;

CREATE TRIGGER billing_usageevent_no_delete BEFORE DELETE ON billing_usageevent FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_delete();

DROP TRIGGER IF EXISTS billing_usageevent_no_truncate ON billing_usageevent;

CREATE TRIGGER billing_usageevent_no_truncate BEFORE TRUNCATE ON billing_usageevent FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();

CREATE OR REPLACE FUNCTION billing_ratingbatch_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'rated_at', 'failed_at', 'failure_reason'];
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'a rating batch is created pending, not %', NEW.status USING ERRCODE = '23000';
    END IF;
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
        RAISE EXCEPTION 'rating batch %: only its status and the record of its rating change', OLD.id
            USING ERRCODE = '23000';
    END IF;
    IF NEW.status = OLD.status THEN
        IF NEW.rated_at IS DISTINCT FROM OLD.rated_at OR NEW.failed_at IS DISTINCT FROM OLD.failed_at
           OR NEW.failure_reason IS DISTINCT FROM OLD.failure_reason THEN
            RAISE EXCEPTION 'rating batch % is %: its record is written by its status move only', OLD.id, OLD.status
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF (OLD.status = 'pending' AND NEW.status = 'failed' AND NEW.rated_at IS NOT DISTINCT FROM OLD.rated_at)
       OR (OLD.status IN ('pending', 'failed') AND NEW.status = 'rated'
           AND NEW.failed_at IS NOT DISTINCT FROM OLD.failed_at
           AND NEW.failure_reason IS NOT DISTINCT FROM OLD.failure_reason) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'rating batch %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
        USING ERRCODE = '23000';
END;
$$;

DROP TRIGGER IF EXISTS billing_ratingbatch_insert_pending ON billing_ratingbatch;

CREATE TRIGGER billing_ratingbatch_insert_pending BEFORE INSERT ON billing_ratingbatch FOR EACH ROW WHEN (NEW.status <> 'pending' OR NEW.rated_at IS NOT NULL OR NEW.failed_at IS NOT NULL OR NEW.failure_reason <> '') EXECUTE FUNCTION billing_ratingbatch_guard();

DROP TRIGGER IF EXISTS billing_ratingbatch_guard ON billing_ratingbatch;

CREATE TRIGGER billing_ratingbatch_guard BEFORE UPDATE ON billing_ratingbatch FOR EACH ROW EXECUTE FUNCTION billing_ratingbatch_guard();

DROP TRIGGER IF EXISTS billing_ratingbatch_no_delete ON billing_ratingbatch;

CREATE TRIGGER billing_ratingbatch_no_delete BEFORE DELETE ON billing_ratingbatch FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_delete();

DROP TRIGGER IF EXISTS billing_ratingbatch_no_truncate ON billing_ratingbatch;

CREATE TRIGGER billing_ratingbatch_no_truncate BEFORE TRUNCATE ON billing_ratingbatch FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_truncate();
