-- Reverse of ledger 0006: the ledger guards as 0004 installs them (ledger_invoice_guard as in
-- 0004_reinstall_guards.sql), without the chain head, account and deferred invoice guards.

DROP TRIGGER IF EXISTS ledger_invoice_void_credited ON ledger_invoice;

DROP TRIGGER IF EXISTS ledger_invoice_paid_posted ON ledger_invoice;

DROP TRIGGER IF EXISTS ledger_chainhead_guard ON ledger_chainhead;

DROP TRIGGER IF EXISTS ledger_chainhead_no_truncate ON ledger_chainhead;

DROP TRIGGER IF EXISTS ledger_transaction_in_chain_head ON ledger_transaction;

DROP TRIGGER IF EXISTS ledger_account_guard ON ledger_account;

DROP TRIGGER IF EXISTS ledger_account_no_truncate ON ledger_account;

DROP FUNCTION IF EXISTS ledger_invoice_void_credited();

DROP FUNCTION IF EXISTS ledger_invoice_paid_posted();

DROP FUNCTION IF EXISTS ledger_chainhead_guard();

DROP FUNCTION IF EXISTS ledger_transaction_in_chain_head();

DROP FUNCTION IF EXISTS ledger_account_guard();

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
