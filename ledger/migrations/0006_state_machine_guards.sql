-- ledger 0006: the database allows only the moves the ledger services make.
--
-- - Invoices (ledger_invoice_guard, replacing the version of 0004): the status machine of
--   ledger/services/invoicing*.py exactly: created draft or blocked; draft <-> blocked; draft -> finalized
--   (a blocked invoice is unblocked by a refresh first); finalized -> paid; finalized | paid -> void.
--   `paid_at` is written by the pay move only (and required by it), `voided_at` / `void_reason` by the void
--   move only; a draft carries neither. Issued invoices stay frozen but for those moves and the PDF fields.
-- - PDF fields, in every state: `pdf_version` (the dirty counter) never goes down; `pdf_rendered_version`
--   never goes down and never passes `pdf_version`; `pdf_file` and `pdf_sha256` change only in the UPDATE
--   that records a newer render (pdf_rendered_version goes up, to a version a dirty mark asked for), and
--   then name a file and a hex SHA-256. So a PDF is written once per rendered version: re-rendering
--   (invoice_mark_pdf_dirty bumps pdf_version, the render task records the new version) is the only road
--   to new PDF values. Drafts have no PDF.
-- - Deferred to COMMIT (constraint triggers): a voided invoice's credit notes add up to its total (voiding
--   issues the credit note for what earlier ones left, in the same transaction: a credit note against a
--   void invoice is refused), and a paid invoice has its payment in the journal (kind `payment`, the
--   invoice's tenant and number as reference) unless nothing was due (an amount due of 0 posts nothing).
-- - Chain head: never deleted or truncated; created at the journal's last transaction (seq 0 and 64 zeros
--   when the journal is empty); moved only forward, to the journal's last transaction, the first one
--   after the old head linking to the old head's hash. Every new journal transaction must be covered by
--   the head at COMMIT (deferred constraint trigger), so the head moves in the transaction of the append
--   it points at: an append without its head move is refused, and a later transaction finds the head at
--   the journal's end with nothing to move to.
-- - Accounts: never deleted or truncated; code, kind, tenant, id and creation time never change.
--
-- Not enforced: an invoice total is never negative. The close issues correction lines that may be
-- negative, and nothing turns a net decrease into a credit note yet, so such a refusal would fail a close.
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

CREATE OR REPLACE FUNCTION ledger_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'paid_at', 'voided_at', 'void_reason', 'pdf_version', 'pdf_rendered_version', 'pdf_file', 'pdf_sha256'];
    line_sum numeric;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('draft', 'blocked') THEN
            RAISE EXCEPTION 'an invoice is created as a draft, not %', NEW.status USING ERRCODE = '23000';
        END IF;
        IF NEW.paid_at IS NOT NULL OR NEW.voided_at IS NOT NULL OR NEW.void_reason <> ''
           OR NEW.pdf_version <> 0 OR NEW.pdf_rendered_version <> 0 OR NEW.pdf_file <> '' OR NEW.pdf_sha256 <> '' THEN
            RAISE EXCEPTION 'an invoice is created without payment, void or PDF records' USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status IN ('draft', 'blocked') THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'invoice % is %: it can never be deleted', OLD.number, OLD.status
            USING ERRCODE = '23000';
    END IF;
    IF NEW.pdf_version < OLD.pdf_version OR NEW.pdf_rendered_version < OLD.pdf_rendered_version
       OR NEW.pdf_rendered_version > NEW.pdf_version THEN
        RAISE EXCEPTION 'invoice %: PDF versions only go up, and the rendered one never passes the asked one (% / % -> % / %)',
            OLD.id, OLD.pdf_rendered_version, OLD.pdf_version, NEW.pdf_rendered_version, NEW.pdf_version
            USING ERRCODE = '23000';
    END IF;
    IF NEW.pdf_rendered_version = OLD.pdf_rendered_version THEN
        IF NEW.pdf_file IS DISTINCT FROM OLD.pdf_file OR NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256 THEN
            RAISE EXCEPTION 'invoice %: its PDF is written once per rendered version (mark it dirty and render it again)',
                OLD.id USING ERRCODE = '23000';
        END IF;
    ELSIF NEW.pdf_file = '' OR NEW.pdf_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invoice %: a recorded render names its file and its SHA-256', OLD.id USING ERRCODE = '23000';
    END IF;
    IF OLD.status IN ('draft', 'blocked') THEN
        IF NOT (NEW.status IN ('draft', 'blocked') OR (OLD.status = 'draft' AND NEW.status = 'finalized')) THEN
            RAISE EXCEPTION 'invoice %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
                USING ERRCODE = '23000';
        END IF;
        IF NEW.paid_at IS NOT NULL OR NEW.voided_at IS NOT NULL OR NEW.void_reason <> '' THEN
            RAISE EXCEPTION 'invoice %: a % invoice has no payment or void record', OLD.id, NEW.status
                USING ERRCODE = '23000';
        END IF;
        IF NEW.status IN ('draft', 'blocked') AND (NEW.pdf_version <> OLD.pdf_version
                                                   OR NEW.pdf_rendered_version <> OLD.pdf_rendered_version) THEN
            RAISE EXCEPTION 'invoice %: a draft has no PDF', OLD.id USING ERRCODE = '23000';
        END IF;
        IF NEW.status = 'finalized' THEN
            SELECT coalesce(sum(amount), 0) INTO line_sum FROM ledger_invoiceline WHERE invoice_id = NEW.id;
            IF line_sum <> NEW.subtotal THEN
                RAISE EXCEPTION 'invoice %: subtotal % is not the sum of its lines %',
                    NEW.id, NEW.subtotal, line_sum
                    USING ERRCODE = '23000';
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
        RAISE EXCEPTION 'invoice % is %: it is immutable', OLD.number, OLD.status USING ERRCODE = '23000';
    END IF;
    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'finalized' AND NEW.status IN ('paid', 'void'))
        OR (OLD.status = 'paid' AND NEW.status = 'void')) THEN
        RAISE EXCEPTION 'invoice %: % -> % is not allowed', OLD.number, OLD.status, NEW.status
            USING ERRCODE = '23000';
    END IF;
    IF NEW.paid_at IS DISTINCT FROM OLD.paid_at AND NOT (OLD.status = 'finalized' AND NEW.status = 'paid') THEN
        RAISE EXCEPTION 'invoice %: the payment date is written by the pay move only', OLD.number
            USING ERRCODE = '23000';
    END IF;
    IF NEW.status = 'paid' AND NEW.paid_at IS NULL THEN
        RAISE EXCEPTION 'invoice %: paid without a payment date', OLD.number USING ERRCODE = '23000';
    END IF;
    IF (NEW.voided_at IS DISTINCT FROM OLD.voided_at OR NEW.void_reason IS DISTINCT FROM OLD.void_reason)
       AND NOT (OLD.status <> 'void' AND NEW.status = 'void') THEN
        RAISE EXCEPTION 'invoice %: the void record is written by the void move only', OLD.number
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_invoice_void_credited() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    credited numeric;
BEGIN
    SELECT coalesce(sum(total), 0) INTO credited FROM ledger_creditnote WHERE invoice_id = NEW.id;
    IF credited <> greatest(NEW.total, 0) THEN
        RAISE EXCEPTION 'invoice % is void but its credit notes total % of %: voiding issues the credit note for what is left in the same transaction',
            NEW.number, credited, NEW.total
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_invoice_paid_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.amount_due <> 0 AND NOT EXISTS (
        SELECT 1 FROM ledger_transaction t
        WHERE t.tenant_id = NEW.tenant_id AND t.kind = 'payment' AND t.reference = NEW.number) THEN
        RAISE EXCEPTION 'invoice % is paid but the journal has no payment for it', NEW.number
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_chainhead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tip record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the ledger chain head is never deleted' USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    SELECT seq, hash INTO tip FROM ledger_transaction ORDER BY seq DESC LIMIT 1;
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq IS DISTINCT FROM coalesce(tip.seq, 0) OR NEW.hash IS DISTINCT FROM coalesce(tip.hash, repeat('0', 64)) THEN
            RAISE EXCEPTION 'the ledger chain head starts at the journal''s last transaction (seq %), not at seq %',
                coalesce(tip.seq, 0), NEW.seq
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq OR tip.seq IS NULL OR NEW.seq <> tip.seq OR NEW.hash <> tip.hash THEN
        RAISE EXCEPTION 'the ledger chain head moves only forward, to the journal''s last transaction (seq %): not from seq % to seq %',
            tip.seq, OLD.seq, NEW.seq
            USING ERRCODE = '23000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ledger_transaction
                   WHERE seq = OLD.seq + 1 AND prev_hash = coalesce(nullif(OLD.hash, ''), repeat('0', 64))) THEN
        RAISE EXCEPTION 'the ledger chain head moves along the chain: transaction seq % does not follow the head''s hash',
            OLD.seq + 1
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_transaction_in_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_chainhead WHERE seq >= NEW.seq) THEN
        RAISE EXCEPTION 'ledger transaction seq % was appended without moving the chain head to it', NEW.seq
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger account % is never deleted', OLD.code USING ERRCODE = '23000';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.code IS DISTINCT FROM OLD.code OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'ledger account %: its code, kind, tenant and creation time never change', OLD.code
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS ledger_invoice_void_credited ON ledger_invoice;

CREATE CONSTRAINT TRIGGER ledger_invoice_void_credited AFTER UPDATE OF status ON ledger_invoice DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = 'void' AND OLD.status <> 'void') EXECUTE FUNCTION ledger_invoice_void_credited();

DROP TRIGGER IF EXISTS ledger_invoice_paid_posted ON ledger_invoice;

CREATE CONSTRAINT TRIGGER ledger_invoice_paid_posted AFTER UPDATE OF status ON ledger_invoice DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status <> 'paid') EXECUTE FUNCTION ledger_invoice_paid_posted();

DROP TRIGGER IF EXISTS ledger_chainhead_guard ON ledger_chainhead;

CREATE TRIGGER ledger_chainhead_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_chainhead FOR EACH ROW EXECUTE FUNCTION ledger_chainhead_guard();

DROP TRIGGER IF EXISTS ledger_chainhead_no_truncate ON ledger_chainhead;

CREATE TRIGGER ledger_chainhead_no_truncate BEFORE TRUNCATE ON ledger_chainhead FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_transaction_in_chain_head ON ledger_transaction;

CREATE CONSTRAINT TRIGGER ledger_transaction_in_chain_head AFTER INSERT ON ledger_transaction DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_in_chain_head();

DROP TRIGGER IF EXISTS ledger_account_guard ON ledger_account;

CREATE TRIGGER ledger_account_guard BEFORE UPDATE OR DELETE ON ledger_account FOR EACH ROW EXECUTE FUNCTION ledger_account_guard();

DROP TRIGGER IF EXISTS ledger_account_no_truncate ON ledger_account;

CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON ledger_account FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
