-- Reverse of ledger 0011: the audit trail's guards go (the tables themselves are dropped by the reverse of
-- the CreateModel operations before this one when migrating backwards).

DROP TRIGGER IF EXISTS ledger_auditrecord_append_only ON ledger_auditrecord;

DROP TRIGGER IF EXISTS ledger_auditrecord_no_truncate ON ledger_auditrecord;

DROP TRIGGER IF EXISTS ledger_auditrecord_link ON ledger_auditrecord;

DROP TRIGGER IF EXISTS ledger_auditrecord_in_head ON ledger_auditrecord;

DROP TRIGGER IF EXISTS ledger_audithead_guard ON ledger_audithead;

DROP TRIGGER IF EXISTS ledger_audithead_no_truncate ON ledger_audithead;

DROP FUNCTION IF EXISTS ledger_auditrecord_link();

DROP FUNCTION IF EXISTS ledger_auditrecord_in_head();

DROP FUNCTION IF EXISTS ledger_audithead_guard();
