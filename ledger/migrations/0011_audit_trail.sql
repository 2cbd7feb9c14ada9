-- ledger 0011: the audit trail (ledger.audit) is append-only and one chain.
--
-- - ledger_auditrecord: UPDATE, DELETE and TRUNCATE refused with ledger_append_only() (the function of
--   0004_reinstall_guards.sql, SQLSTATE 23000). An INSERT must extend the chain: seq 1 follows 64 zeros,
--   seq n follows the hash of record n - 1 (with UNIQUE(seq) and UNIQUE(prev_hash): no gap, no fork).
--   Each new record must be covered by the audit head at COMMIT (deferred constraint trigger).
-- - ledger_audithead (one row, locked by every append: ledger/audit/services.py): never deleted or
--   truncated; inserted at the last record; moves only forward, one record at a time, to a record that
--   exists with that hash.
--
-- A later change of these guards is a new migration with its own SQL, never an edit of this file.

CREATE OR REPLACE FUNCTION ledger_auditrecord_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_hash text;
BEGIN
    IF NEW.seq = 1 THEN
        before_hash := repeat('0', 64);
    ELSE
        SELECT hash INTO before_hash FROM ledger_auditrecord WHERE seq = NEW.seq - 1;
    END IF;
    IF before_hash IS NULL OR NEW.prev_hash IS DISTINCT FROM before_hash THEN
        RAISE EXCEPTION 'audit record seq % does not follow record seq % (its prev_hash is not that hash)',
            NEW.seq, NEW.seq - 1
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_auditrecord_in_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_audithead WHERE seq >= NEW.seq) THEN
        RAISE EXCEPTION 'audit record seq % was appended without moving the audit head to it', NEW.seq
            USING ERRCODE = '23000';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_audithead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tip record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit head is never deleted' USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT seq, hash INTO tip FROM ledger_auditrecord ORDER BY seq DESC LIMIT 1;
        IF NEW.seq IS DISTINCT FROM coalesce(tip.seq, 0) OR NEW.hash IS DISTINCT FROM coalesce(tip.hash, repeat('0', 64)) THEN
            RAISE EXCEPTION 'the audit head starts at the last audit record (seq %), not at seq %',
                coalesce(tip.seq, 0), NEW.seq
                USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END IF;
    SELECT seq, hash INTO tip FROM ledger_auditrecord WHERE seq = NEW.seq;
    IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 OR tip.seq IS NULL OR NEW.hash <> tip.hash THEN
        RAISE EXCEPTION 'the audit head moves forward one record at a time, to that record''s hash: not from seq % to seq %',
            OLD.seq, NEW.seq
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS ledger_auditrecord_append_only ON ledger_auditrecord;

CREATE TRIGGER ledger_auditrecord_append_only BEFORE UPDATE OR DELETE ON ledger_auditrecord FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_auditrecord_no_truncate ON ledger_auditrecord;

CREATE TRIGGER ledger_auditrecord_no_truncate BEFORE TRUNCATE ON ledger_auditrecord FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_auditrecord_link ON ledger_auditrecord;

CREATE TRIGGER ledger_auditrecord_link BEFORE INSERT ON ledger_auditrecord FOR EACH ROW EXECUTE FUNCTION ledger_auditrecord_link();

DROP TRIGGER IF EXISTS ledger_auditrecord_in_head ON ledger_auditrecord;

CREATE CONSTRAINT TRIGGER ledger_auditrecord_in_head AFTER INSERT ON ledger_auditrecord DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_auditrecord_in_head();

DROP TRIGGER IF EXISTS ledger_audithead_guard ON ledger_audithead;

CREATE TRIGGER ledger_audithead_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_audithead FOR EACH ROW EXECUTE FUNCTION ledger_audithead_guard();

DROP TRIGGER IF EXISTS ledger_audithead_no_truncate ON ledger_audithead;

CREATE TRIGGER ledger_audithead_no_truncate BEFORE TRUNCATE ON ledger_audithead FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
