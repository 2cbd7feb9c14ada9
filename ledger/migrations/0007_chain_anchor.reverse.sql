-- Reverse of ledger 0007: the guard of ledger_chainanchor goes (the table itself is dropped by the
-- reverse of the CreateModel operation that follows this one when migrating backwards).

DROP TRIGGER IF EXISTS ledger_chainanchor_append_only ON ledger_chainanchor;

DROP TRIGGER IF EXISTS ledger_chainanchor_no_truncate ON ledger_chainanchor;
