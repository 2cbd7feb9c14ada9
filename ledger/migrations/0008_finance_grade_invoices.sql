-- ledger 0008: guards of the finance-grade documents.
--
-- - Invoices (ledger_invoice_guard, replacing the version of 0006): the EN 16931 XML (`xml_file`,
--   `xml_sha256`) is written with the PDF that embeds it, under the PDF's rule: empty at creation, changed
--   only by the UPDATE that records a newer render, which then names both files and both SHA-256 digests
--   (a render recorded without its XML is refused: every rendered PDF embeds and stores its XML).
--   Everything else is as in 0006. (A negative invoice total is refused by the CHECK constraint
--   invoice_total_nonnegative, created by this migration's Django operations.)
-- - VAT breakdown rows (ledger_taxbreakdown): an invoice's rows change only while the invoice is a draft
--   or blocked, as its lines do; a credit note's rows are append-only, as the credit note is.
-- - Credit note documents and credit expiries: append-only (ledger_append_only() as 0004 installs it).
--
-- A later change of a guard is a new migration with its own SQL, never an edit of this file.

CREATE OR REPLACE FUNCTION ledger_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['status', 'paid_at', 'voided_at', 'void_reason', 'pdf_version', 'pdf_rendered_version', 'pdf_file', 'pdf_sha256', 'xml_file', 'xml_sha256'];
    line_sum numeric;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('draft', 'blocked') THEN
            RAISE EXCEPTION 'an invoice is created as a draft, not %', NEW.status USING ERRCODE = '23000';
        END IF;
        IF NEW.paid_at IS NOT NULL OR NEW.voided_at IS NOT NULL OR NEW.void_reason <> ''
           OR NEW.pdf_version <> 0 OR NEW.pdf_rendered_version <> 0 OR NEW.pdf_file <> '' OR NEW.pdf_sha256 <> ''
           OR NEW.xml_file <> '' OR NEW.xml_sha256 <> '' THEN
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
        IF NEW.pdf_file IS DISTINCT FROM OLD.pdf_file OR NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256
           OR NEW.xml_file IS DISTINCT FROM OLD.xml_file OR NEW.xml_sha256 IS DISTINCT FROM OLD.xml_sha256 THEN
            RAISE EXCEPTION 'invoice %: its PDF is written once per rendered version (mark it dirty and render it again)',
                OLD.id USING ERRCODE = '23000';
        END IF;
    ELSIF NEW.pdf_file = '' OR NEW.pdf_sha256 !~ '^[0-9a-f]{64}$'
          OR NEW.xml_file = '' OR NEW.xml_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invoice %: a recorded render names its PDF and XML files and their SHA-256', OLD.id USING ERRCODE = '23000';
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

CREATE OR REPLACE FUNCTION ledger_taxbreakdown_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_ record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_ := OLD;
    ELSE
        row_ := NEW;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.credit_note_id IS NOT NULL THEN
        RAISE EXCEPTION 'the VAT breakdown of credit note % is append-only', OLD.credit_note_id
            USING ERRCODE = '23000';
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.invoice_id IS NOT NULL AND
       (SELECT status FROM ledger_invoice WHERE id = OLD.invoice_id) NOT IN ('draft', 'blocked') THEN
        RAISE EXCEPTION 'the VAT breakdown of issued invoice % is immutable', OLD.invoice_id USING ERRCODE = '23000';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.invoice_id IS NOT NULL AND
       (SELECT status FROM ledger_invoice WHERE id = NEW.invoice_id) NOT IN ('draft', 'blocked') THEN
        RAISE EXCEPTION 'the VAT breakdown of issued invoice % is immutable', NEW.invoice_id USING ERRCODE = '23000';
    END IF;
    RETURN row_;
END;
$$;

DROP TRIGGER IF EXISTS ledger_taxbreakdown_guard ON ledger_taxbreakdown;

CREATE TRIGGER ledger_taxbreakdown_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_taxbreakdown FOR EACH ROW EXECUTE FUNCTION ledger_taxbreakdown_guard();

DROP TRIGGER IF EXISTS ledger_taxbreakdown_no_truncate ON ledger_taxbreakdown;

CREATE TRIGGER ledger_taxbreakdown_no_truncate BEFORE TRUNCATE ON ledger_taxbreakdown FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnotedocument_append_only ON ledger_creditnotedocument;

CREATE TRIGGER ledger_creditnotedocument_append_only BEFORE UPDATE OR DELETE ON ledger_creditnotedocument FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditnotedocument_no_truncate ON ledger_creditnotedocument;

CREATE TRIGGER ledger_creditnotedocument_no_truncate BEFORE TRUNCATE ON ledger_creditnotedocument FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditexpiry_append_only ON ledger_creditexpiry;

CREATE TRIGGER ledger_creditexpiry_append_only BEFORE UPDATE OR DELETE ON ledger_creditexpiry FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_creditexpiry_no_truncate ON ledger_creditexpiry;

CREATE TRIGGER ledger_creditexpiry_no_truncate BEFORE TRUNCATE ON ledger_creditexpiry FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
