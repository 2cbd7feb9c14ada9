-- Reverse of billing 0002 (profileversion_guard.py at commit 1cd75ed: PG_ASSIGNMENT_DROP + PG_DROP).

ALTER TABLE billing_profileassignment DROP CONSTRAINT IF EXISTS billing_assignment_no_overlap;

DROP TRIGGER IF EXISTS billing_profileversion_no_truncate ON billing_profileversion;

DROP TRIGGER IF EXISTS billing_profileversion_guard ON billing_profileversion;

DROP FUNCTION IF EXISTS billing_profileversion_guard();

DROP FUNCTION IF EXISTS billing_refuse_truncate();
