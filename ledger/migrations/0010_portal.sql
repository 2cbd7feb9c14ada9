-- ledger 0010: guards of disputes.
--
-- - Disputes (ledger_dispute_guard): created open; the moves are those of ledger/services/disputes.py:
--   open -> under_review | rejected | resolved | withdrawn, under_review -> rejected | resolved | withdrawn;
--   a rejected, resolved or withdrawn dispute never changes again; what a dispute is about (tenant,
--   invoice, line, reason, message, attachment, who opened it and when) never changes; the line, when
--   given, is a line of the disputed invoice, and the invoice is the tenant's.
-- - Dispute events (the timeline) are append-only (ledger_append_only() as 0004 installs it).
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

CREATE OR REPLACE FUNCTION ledger_dispute_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'dispute % is never deleted', OLD.id USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'open' THEN
            RAISE EXCEPTION 'a dispute is created open, not %', NEW.status USING ERRCODE = '23000';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM ledger_invoice WHERE id = NEW.invoice_id AND tenant_id = NEW.tenant_id) THEN
            RAISE EXCEPTION 'dispute: invoice % is not the tenant''s', NEW.invoice_id USING ERRCODE = '23000';
        END IF;
        IF NEW.line_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM ledger_invoiceline WHERE id = NEW.line_id AND invoice_id = NEW.invoice_id) THEN
            RAISE EXCEPTION 'dispute: line % is not on invoice %', NEW.line_id, NEW.invoice_id USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.tenant_id <> OLD.tenant_id OR NEW.invoice_id <> OLD.invoice_id
       OR NEW.line_id IS DISTINCT FROM OLD.line_id OR NEW.reason <> OLD.reason OR NEW.message <> OLD.message
       OR NEW.attachment <> OLD.attachment OR NEW.opened_by_id <> OLD.opened_by_id
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'dispute %: what it is about never changes', OLD.id USING ERRCODE = '23000';
    END IF;
    IF OLD.status IN ('rejected', 'resolved', 'withdrawn') THEN
        RAISE EXCEPTION 'dispute % is %: it never changes again', OLD.id, OLD.status USING ERRCODE = '23000';
    END IF;
    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'open' AND NEW.status IN ('under_review', 'rejected', 'resolved', 'withdrawn'))
        OR (OLD.status = 'under_review' AND NEW.status IN ('rejected', 'resolved', 'withdrawn'))) THEN
        RAISE EXCEPTION 'dispute %: % -> % is not allowed', OLD.id, OLD.status, NEW.status USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS ledger_dispute_guard ON ledger_dispute;

CREATE TRIGGER ledger_dispute_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_dispute FOR EACH ROW EXECUTE FUNCTION ledger_dispute_guard();

DROP TRIGGER IF EXISTS ledger_dispute_no_truncate ON ledger_dispute;

CREATE TRIGGER ledger_dispute_no_truncate BEFORE TRUNCATE ON ledger_dispute FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_disputeevent_append_only ON ledger_disputeevent;

CREATE TRIGGER ledger_disputeevent_append_only BEFORE UPDATE OR DELETE ON ledger_disputeevent FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_disputeevent_no_truncate ON ledger_disputeevent;

CREATE TRIGGER ledger_disputeevent_no_truncate BEFORE TRUNCATE ON ledger_disputeevent FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
