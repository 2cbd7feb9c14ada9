-- Reverse of ledger 0010: drop the dispute guards (the tables are dropped by the Django operations).

DROP TRIGGER IF EXISTS ledger_dispute_guard ON ledger_dispute;

DROP TRIGGER IF EXISTS ledger_dispute_no_truncate ON ledger_dispute;

DROP TRIGGER IF EXISTS ledger_disputeevent_append_only ON ledger_disputeevent;

DROP TRIGGER IF EXISTS ledger_disputeevent_no_truncate ON ledger_disputeevent;

DROP FUNCTION IF EXISTS ledger_dispute_guard();
