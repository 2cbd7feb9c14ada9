-- ledger 0004: today's guards of the ledger tables, whatever an earlier state installed.
--
-- Until this migration, migrations 0002 and 0003 imported their SQL from ledger/sql/guards.py, which was
-- rewritten after 0002 ran (balance and invoice-line checks per statement instead of per row): a
-- database migrated before a rewrite kept the older triggers. Those migrations now carry the SQL they
-- ran when they were written; this one reinstalls every ledger guard as it stands (ledger/sql/guards.py
-- at commit 9d1e057, its last version before it was removed), so that a database migrated at any
-- earlier commit and a fresh one hold the same functions and triggers (tests/test_migrations_frozen.py).
-- Every function is CREATE OR REPLACE; every trigger is dropped and created again (ledger_posting_balanced
-- was a deferred row constraint trigger until commit 41e39a4 and is a statement trigger now). No earlier
-- state had a guard function or trigger that is not below.
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.
--
-- - Append-only: UPDATE, DELETE and TRUNCATE refused on the journal, credit notes and their lines,
--   credit grants, consumptions, restorations and correction markers.
-- - Balance: every INSERT into ledger_posting leaves the transactions it touched balanced per currency
--   (statement trigger); each new ledger_transaction is checked again at COMMIT (deferred constraint
--   trigger): at least two postings, zero per currency.
-- - Invoices: created as drafts; issued ones immutable except their status moves, payment, void and PDF
--   fields; never deleted; finalizing checks the subtotal against the lines. Lines of an issued invoice
--   never change (inserts checked per statement). Credit notes only against finalized or paid invoices,
--   never beyond the invoice's total.

CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '23000';
END;
$$;

CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad_currency text;
    tx_id bigint;
BEGIN
    IF TG_TABLE_NAME = 'ledger_posting' THEN
        tx_id := NEW.transaction_id;
    ELSE
        tx_id := NEW.id;
        IF (SELECT count(*) FROM ledger_posting WHERE transaction_id = tx_id) < 2 THEN
            RAISE EXCEPTION 'ledger transaction % has fewer than two postings', tx_id
                USING ERRCODE = '23000';
        END IF;
    END IF;
    SELECT currency INTO bad_currency FROM ledger_posting WHERE transaction_id = tx_id
        GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', tx_id, bad_currency
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'paid_at', 'voided_at', 'void_reason', 'pdf_version', 'pdf_rendered_version', 'pdf_file', 'pdf_sha256'];
    line_sum numeric;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('draft', 'blocked') THEN
            RAISE EXCEPTION 'an invoice is created as a draft, not %', NEW.status USING ERRCODE = '23000';
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
    IF OLD.status IN ('draft', 'blocked') THEN
        IF NEW.status IN ('paid', 'void') THEN
            RAISE EXCEPTION 'invoice %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
                USING ERRCODE = '23000';
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
    IF (OLD.paid_at IS NOT NULL AND NEW.paid_at IS DISTINCT FROM OLD.paid_at)
       OR (OLD.status = 'void' AND (NEW.voided_at IS DISTINCT FROM OLD.voided_at
                                    OR NEW.void_reason IS DISTINCT FROM OLD.void_reason)) THEN
        RAISE EXCEPTION 'invoice %: payment and void records are immutable', OLD.number
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_invoiceline_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND
       (SELECT status FROM ledger_invoice WHERE id = OLD.invoice_id) NOT IN ('draft', 'blocked') THEN
        RAISE EXCEPTION 'lines of issued invoice % are immutable', OLD.invoice_id USING ERRCODE = '23000';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND
       (SELECT status FROM ledger_invoice WHERE id = NEW.invoice_id) NOT IN ('draft', 'blocked') THEN
        RAISE EXCEPTION 'lines of issued invoice % are immutable', NEW.invoice_id USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_invoiceline_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT n.invoice_id INTO bad FROM new_lines n JOIN ledger_invoice i ON i.id = n.invoice_id
        WHERE i.status NOT IN ('draft', 'blocked') LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'lines of issued invoice % are immutable', bad USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_postings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.transaction_id, p.currency INTO bad FROM ledger_posting p
        WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_postings)
        GROUP BY p.transaction_id, p.currency HAVING sum(p.amount) <> 0 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', bad.transaction_id, bad.currency
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_creditnote_limit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    inv record;
    earlier numeric;
BEGIN
    SELECT status, total INTO inv FROM ledger_invoice WHERE id = NEW.invoice_id;
    IF inv.status NOT IN ('finalized', 'paid') THEN
        RAISE EXCEPTION 'credit notes only against finalized or paid invoices, not %', inv.status
            USING ERRCODE = '23000';
    END IF;
    SELECT coalesce(sum(total), 0) INTO earlier FROM ledger_creditnote WHERE invoice_id = NEW.invoice_id;
    IF earlier + NEW.total > inv.total THEN
        RAISE EXCEPTION 'credit notes would exceed invoice %: % + % > %',
            NEW.invoice_id, earlier, NEW.total, inv.total
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;

CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON ledger_transaction FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_transaction_no_truncate ON ledger_transaction;

CREATE TRIGGER ledger_transaction_no_truncate BEFORE TRUNCATE ON ledger_transaction FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;

CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON ledger_posting;

CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnote_append_only ON ledger_creditnote;

CREATE TRIGGER ledger_creditnote_append_only BEFORE UPDATE OR DELETE ON ledger_creditnote FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnote_no_truncate ON ledger_creditnote;

CREATE TRIGGER ledger_creditnote_no_truncate BEFORE TRUNCATE ON ledger_creditnote FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnoteline_append_only ON ledger_creditnoteline;

CREATE TRIGGER ledger_creditnoteline_append_only BEFORE UPDATE OR DELETE ON ledger_creditnoteline FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnoteline_no_truncate ON ledger_creditnoteline;

CREATE TRIGGER ledger_creditnoteline_no_truncate BEFORE TRUNCATE ON ledger_creditnoteline FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditgrant_append_only ON ledger_creditgrant;

CREATE TRIGGER ledger_creditgrant_append_only BEFORE UPDATE OR DELETE ON ledger_creditgrant FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditgrant_no_truncate ON ledger_creditgrant;

CREATE TRIGGER ledger_creditgrant_no_truncate BEFORE TRUNCATE ON ledger_creditgrant FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditconsumption_append_only ON ledger_creditconsumption;

CREATE TRIGGER ledger_creditconsumption_append_only BEFORE UPDATE OR DELETE ON ledger_creditconsumption FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditconsumption_no_truncate ON ledger_creditconsumption;

CREATE TRIGGER ledger_creditconsumption_no_truncate BEFORE TRUNCATE ON ledger_creditconsumption FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_correctionmarker_append_only ON ledger_correctionmarker;

CREATE TRIGGER ledger_correctionmarker_append_only BEFORE UPDATE OR DELETE ON ledger_correctionmarker FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_correctionmarker_no_truncate ON ledger_correctionmarker;

CREATE TRIGGER ledger_correctionmarker_no_truncate BEFORE TRUNCATE ON ledger_correctionmarker FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;

CREATE TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_inserted();

DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transaction DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

DROP TRIGGER IF EXISTS ledger_invoice_guard ON ledger_invoice;

CREATE TRIGGER ledger_invoice_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_invoice FOR EACH ROW EXECUTE FUNCTION ledger_invoice_guard();

DROP TRIGGER IF EXISTS ledger_invoice_no_truncate ON ledger_invoice;

CREATE TRIGGER ledger_invoice_no_truncate BEFORE TRUNCATE ON ledger_invoice FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_invoiceline_guard ON ledger_invoiceline;

CREATE TRIGGER ledger_invoiceline_guard BEFORE UPDATE OR DELETE ON ledger_invoiceline FOR EACH ROW EXECUTE FUNCTION ledger_invoiceline_guard();

DROP TRIGGER IF EXISTS ledger_invoiceline_insert_guard ON ledger_invoiceline;

CREATE TRIGGER ledger_invoiceline_insert_guard AFTER INSERT ON ledger_invoiceline REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger_invoiceline_inserted();

DROP TRIGGER IF EXISTS ledger_invoiceline_no_truncate ON ledger_invoiceline;

CREATE TRIGGER ledger_invoiceline_no_truncate BEFORE TRUNCATE ON ledger_invoiceline FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnote_limit ON ledger_creditnote;

CREATE TRIGGER ledger_creditnote_limit BEFORE INSERT ON ledger_creditnote FOR EACH ROW EXECUTE FUNCTION ledger_creditnote_limit();

DROP TRIGGER IF EXISTS ledger_creditrestoration_append_only ON ledger_creditrestoration;

CREATE TRIGGER ledger_creditrestoration_append_only BEFORE UPDATE OR DELETE ON ledger_creditrestoration FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditrestoration_no_truncate ON ledger_creditrestoration;

CREATE TRIGGER ledger_creditrestoration_no_truncate BEFORE TRUNCATE ON ledger_creditrestoration FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
