-- Reverse of ledger 0002 (ledger/sql/guards.py at commit b5d3090, PG_REVERSE).

DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;

DROP TRIGGER IF EXISTS ledger_transaction_no_truncate ON ledger_transaction;

DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;

DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON ledger_posting;

DROP TRIGGER IF EXISTS ledger_creditnote_append_only ON ledger_creditnote;

DROP TRIGGER IF EXISTS ledger_creditnote_no_truncate ON ledger_creditnote;

DROP TRIGGER IF EXISTS ledger_creditnoteline_append_only ON ledger_creditnoteline;

DROP TRIGGER IF EXISTS ledger_creditnoteline_no_truncate ON ledger_creditnoteline;

DROP TRIGGER IF EXISTS ledger_creditgrant_append_only ON ledger_creditgrant;

DROP TRIGGER IF EXISTS ledger_creditgrant_no_truncate ON ledger_creditgrant;

DROP TRIGGER IF EXISTS ledger_creditconsumption_append_only ON ledger_creditconsumption;

DROP TRIGGER IF EXISTS ledger_creditconsumption_no_truncate ON ledger_creditconsumption;

DROP TRIGGER IF EXISTS ledger_correctionmarker_append_only ON ledger_correctionmarker;

DROP TRIGGER IF EXISTS ledger_correctionmarker_no_truncate ON ledger_correctionmarker;

DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;

DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;

DROP TRIGGER IF EXISTS ledger_invoice_guard ON ledger_invoice;

DROP TRIGGER IF EXISTS ledger_invoice_no_truncate ON ledger_invoice;

DROP TRIGGER IF EXISTS ledger_invoiceline_guard ON ledger_invoiceline;

DROP TRIGGER IF EXISTS ledger_invoiceline_no_truncate ON ledger_invoiceline;

DROP TRIGGER IF EXISTS ledger_creditnote_limit ON ledger_creditnote;

DROP FUNCTION IF EXISTS ledger_creditnote_limit();

DROP FUNCTION IF EXISTS ledger_invoiceline_guard();

DROP FUNCTION IF EXISTS ledger_invoice_guard();

DROP FUNCTION IF EXISTS ledger_check_balanced();

DROP FUNCTION IF EXISTS ledger_append_only();
