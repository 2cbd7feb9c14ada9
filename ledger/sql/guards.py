"""SQL of the ledger's database guards (migration 0002; reproduced in docs/ledger.md).

Every error uses SQLSTATE 23000 on PostgreSQL and RAISE(ABORT) on SQLite, so Django raises
IntegrityError either way."""

from __future__ import annotations

# Columns of an issued invoice that may still change: the status move itself and the PDF fields.
INVOICE_MUTABLE = (
    "status",
    "paid_at",
    "voided_at",
    "void_reason",
    "pdf_version",
    "pdf_rendered_version",
    "pdf_file",
    "pdf_sha256",
)
# Every other column of ledger_invoice (kept in step with ledger/models/invoices.py by a test).
INVOICE_FROZEN = (
    "id",
    "tenant_id",
    "number",
    "blocked_reason",
    "period_key",
    "period_start",
    "period_end",
    "currency",
    "profile_version_id",
    "subtotal",
    "tax_jurisdiction",
    "tax_rate",
    "tax_mode",
    "tax_rule_id",
    "tax_exact",
    "tax_total",
    "total",
    "credits_applied",
    "amount_due",
    "base_currency",
    "fx_rate",
    "fx_rate_id",
    "fx_rate_date",
    "fx_source",
    "base_total",
    "created_at",
    "computed_at",
    "finalized_at",
    "ledger_transaction_id",
)
APPEND_ONLY_TABLES = (
    "ledger_transaction",
    "ledger_posting",
    "ledger_creditnote",
    "ledger_creditnoteline",
    "ledger_creditgrant",
    "ledger_creditconsumption",
    "ledger_correctionmarker",
)


def append_only_pg(table: str) -> list[str]:
    """Row UPDATE/DELETE and TRUNCATE refused on `table` (needs ledger_append_only(), migration 0002)."""
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only();",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();",
    ]


def append_only_pg_drop(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
    ]


def append_only_sqlite(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} is not allowed: the ledger is append-only'); END;",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'DELETE on {table} is not allowed: the ledger is append-only'); END;",
    ]


def append_only_sqlite_drop(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_update;", f"DROP TRIGGER IF EXISTS {table}_no_delete;"]


# --- PostgreSQL ---------------------------------------------------------------------------------
PG_APPEND_ONLY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '23000';
END;
$$;
"""

# Deferred to COMMIT: all legs of a transaction are inserted first, then each posting's transaction
# is checked once the whole database transaction is about to commit.
PG_BALANCE_FUNCTION = r"""
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
"""

PG_INVOICE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY[__MUTABLE__];
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
""".replace("__MUTABLE__", ", ".join(f"'{c}'" for c in INVOICE_MUTABLE))

PG_LINE_FUNCTION = r"""
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
"""

# Statement-level checks over the rows a bulk INSERT added (transition tables): one query per
# statement instead of one per row.
PG_LINES_INSERTED_FUNCTION = r"""
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
"""

PG_POSTINGS_INSERTED_FUNCTION = r"""
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
"""

PG_CREDIT_NOTE_FUNCTION = r"""
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
"""

PG_FORWARD: list[str] = [
    PG_APPEND_ONLY_FUNCTION,
    PG_BALANCE_FUNCTION,
    PG_INVOICE_FUNCTION,
    PG_LINE_FUNCTION,
    PG_LINES_INSERTED_FUNCTION,
    PG_POSTINGS_INSERTED_FUNCTION,
    PG_CREDIT_NOTE_FUNCTION,
]
for _table in APPEND_ONLY_TABLES:
    PG_FORWARD += append_only_pg(_table)
PG_FORWARD += [
    # Every INSERT into ledger_posting must leave the transactions it touched balanced (the service
    # inserts all legs of a transaction in one statement); this also stops legs being added later to
    # an old transaction. The deferred trigger on ledger_transaction checks each new transaction
    # again at COMMIT (at least two legs, balanced).
    "CREATE TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting "
    "REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_inserted();",
    "CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transaction "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();",
    "CREATE TRIGGER ledger_invoice_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_invoice "
    "FOR EACH ROW EXECUTE FUNCTION ledger_invoice_guard();",
    "CREATE TRIGGER ledger_invoice_no_truncate BEFORE TRUNCATE ON ledger_invoice "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();",
    "CREATE TRIGGER ledger_invoiceline_guard BEFORE UPDATE OR DELETE ON ledger_invoiceline "
    "FOR EACH ROW EXECUTE FUNCTION ledger_invoiceline_guard();",
    "CREATE TRIGGER ledger_invoiceline_insert_guard AFTER INSERT ON ledger_invoiceline "
    "REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger_invoiceline_inserted();",
    "CREATE TRIGGER ledger_invoiceline_no_truncate BEFORE TRUNCATE ON ledger_invoiceline "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();",
    "CREATE TRIGGER ledger_creditnote_limit BEFORE INSERT ON ledger_creditnote "
    "FOR EACH ROW EXECUTE FUNCTION ledger_creditnote_limit();",
]
PG_REVERSE: list[str] = []
for _table in APPEND_ONLY_TABLES:
    PG_REVERSE += append_only_pg_drop(_table)
PG_REVERSE += [
    "DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;",
    "DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;",
    "DROP TRIGGER IF EXISTS ledger_invoice_guard ON ledger_invoice;",
    "DROP TRIGGER IF EXISTS ledger_invoice_no_truncate ON ledger_invoice;",
    "DROP TRIGGER IF EXISTS ledger_invoiceline_guard ON ledger_invoiceline;",
    "DROP TRIGGER IF EXISTS ledger_invoiceline_insert_guard ON ledger_invoiceline;",
    "DROP TRIGGER IF EXISTS ledger_invoiceline_no_truncate ON ledger_invoiceline;",
    "DROP TRIGGER IF EXISTS ledger_creditnote_limit ON ledger_creditnote;",
    "DROP FUNCTION IF EXISTS ledger_creditnote_limit();",
    "DROP FUNCTION IF EXISTS ledger_invoiceline_guard();",
    "DROP FUNCTION IF EXISTS ledger_invoiceline_inserted();",
    "DROP FUNCTION IF EXISTS ledger_postings_inserted();",
    "DROP FUNCTION IF EXISTS ledger_invoice_guard();",
    "DROP FUNCTION IF EXISTS ledger_check_balanced();",
    "DROP FUNCTION IF EXISTS ledger_append_only();",
]

# --- SQLite -------------------------------------------------------------------------------------
# SQLite has no deferred triggers: balance is checked in code (ledger.services.posting) before insert.
SQLITE_FORWARD: list[str] = []
for _table in APPEND_ONLY_TABLES:
    SQLITE_FORWARD += append_only_sqlite(_table)
_FROZEN_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in INVOICE_FROZEN)
SQLITE_FORWARD += [
    "CREATE TRIGGER ledger_invoice_insert_draft BEFORE INSERT ON ledger_invoice "
    "WHEN NEW.status NOT IN ('draft', 'blocked') "
    "BEGIN SELECT RAISE(ABORT, 'an invoice is created as a draft'); END;",
    "CREATE TRIGGER ledger_invoice_no_delete BEFORE DELETE ON ledger_invoice "
    "WHEN OLD.status NOT IN ('draft', 'blocked') "
    "BEGIN SELECT RAISE(ABORT, 'an issued invoice can never be deleted'); END;",
    "CREATE TRIGGER ledger_invoice_draft_moves BEFORE UPDATE ON ledger_invoice "
    "WHEN OLD.status IN ('draft', 'blocked') AND NEW.status IN ('paid', 'void') "
    "BEGIN SELECT RAISE(ABORT, 'a draft invoice can only be finalized'); END;",
    "CREATE TRIGGER ledger_invoice_finalize_sum BEFORE UPDATE ON ledger_invoice "
    "WHEN OLD.status IN ('draft', 'blocked') AND NEW.status = 'finalized' AND "
    "round((SELECT coalesce(sum(amount), 0) FROM ledger_invoiceline WHERE invoice_id = NEW.id), 4) "
    "<> round(NEW.subtotal, 4) "
    "BEGIN SELECT RAISE(ABORT, 'invoice subtotal is not the sum of its lines'); END;",
    "CREATE TRIGGER ledger_invoice_frozen BEFORE UPDATE ON ledger_invoice "
    "WHEN OLD.status NOT IN ('draft', 'blocked') AND ("
    f"{_FROZEN_CHANGED}"
    " OR (NEW.status <> OLD.status AND NOT ((OLD.status = 'finalized' AND NEW.status IN ('paid', 'void'))"
    " OR (OLD.status = 'paid' AND NEW.status = 'void')))"
    " OR (OLD.paid_at IS NOT NULL AND NEW.paid_at IS NOT OLD.paid_at)"
    " OR (OLD.status = 'void' AND (NEW.voided_at IS NOT OLD.voided_at"
    " OR NEW.void_reason IS NOT OLD.void_reason))"
    ") BEGIN SELECT RAISE(ABORT, 'an issued invoice is immutable'); END;",
    "CREATE TRIGGER ledger_invoiceline_no_insert BEFORE INSERT ON ledger_invoiceline "
    "WHEN (SELECT status FROM ledger_invoice WHERE id = NEW.invoice_id) NOT IN ('draft', 'blocked') "
    "BEGIN SELECT RAISE(ABORT, 'lines of an issued invoice are immutable'); END;",
    "CREATE TRIGGER ledger_invoiceline_no_update BEFORE UPDATE ON ledger_invoiceline "
    "WHEN (SELECT status FROM ledger_invoice WHERE id = OLD.invoice_id) NOT IN ('draft', 'blocked') "
    "OR (SELECT status FROM ledger_invoice WHERE id = NEW.invoice_id) NOT IN ('draft', 'blocked') "
    "BEGIN SELECT RAISE(ABORT, 'lines of an issued invoice are immutable'); END;",
    "CREATE TRIGGER ledger_invoiceline_no_delete BEFORE DELETE ON ledger_invoiceline "
    "WHEN (SELECT status FROM ledger_invoice WHERE id = OLD.invoice_id) NOT IN ('draft', 'blocked') "
    "BEGIN SELECT RAISE(ABORT, 'lines of an issued invoice are immutable'); END;",
    "CREATE TRIGGER ledger_creditnote_state BEFORE INSERT ON ledger_creditnote "
    "WHEN (SELECT status FROM ledger_invoice WHERE id = NEW.invoice_id) NOT IN ('finalized', 'paid') "
    "BEGIN SELECT RAISE(ABORT, 'credit notes only against finalized or paid invoices'); END;",
    "CREATE TRIGGER ledger_creditnote_limit BEFORE INSERT ON ledger_creditnote "
    "WHEN round((SELECT coalesce(sum(total), 0) FROM ledger_creditnote WHERE invoice_id = NEW.invoice_id)"
    " + NEW.total, 4) > round((SELECT total FROM ledger_invoice WHERE id = NEW.invoice_id), 4) "
    "BEGIN SELECT RAISE(ABORT, 'credit notes would exceed the invoice'); END;",
]
SQLITE_REVERSE: list[str] = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in [
        *(f"{t}_no_update" for t in APPEND_ONLY_TABLES),
        *(f"{t}_no_delete" for t in APPEND_ONLY_TABLES),
        "ledger_invoice_insert_draft",
        "ledger_invoice_no_delete",
        "ledger_invoice_draft_moves",
        "ledger_invoice_finalize_sum",
        "ledger_invoice_frozen",
        "ledger_invoiceline_no_insert",
        "ledger_invoiceline_no_update",
        "ledger_invoiceline_no_delete",
        "ledger_creditnote_state",
        "ledger_creditnote_limit",
    ]
]
