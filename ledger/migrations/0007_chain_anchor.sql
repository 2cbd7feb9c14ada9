-- ledger 0007: chain anchors are append-only. An anchor is a signed copy of the chain head
-- (ledger/services/anchors.py); UPDATE, DELETE and TRUNCATE of ledger_chainanchor are refused with
-- ledger_append_only() (SQLSTATE 23000), the function of 0004_reinstall_guards.sql.
--
-- A later change of this guard is a new migration with its own SQL, never an edit of this file.

DROP TRIGGER IF EXISTS ledger_chainanchor_append_only ON ledger_chainanchor;

CREATE TRIGGER ledger_chainanchor_append_only BEFORE UPDATE OR DELETE ON ledger_chainanchor FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_chainanchor_no_truncate ON ledger_chainanchor;

CREATE TRIGGER ledger_chainanchor_no_truncate BEFORE TRUNCATE ON ledger_chainanchor FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
