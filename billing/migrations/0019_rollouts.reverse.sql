-- billing 0019 reversed: the rollout guards go (the tables go with the migration's model operations).
DROP TRIGGER IF EXISTS billing_rollouttenant_no_truncate ON billing_rollouttenant;
DROP TRIGGER IF EXISTS billing_rollouttenant_guard ON billing_rollouttenant;
DROP FUNCTION IF EXISTS billing_rollouttenant_guard();
DROP TRIGGER IF EXISTS billing_rollout_no_truncate ON billing_rollout;
DROP TRIGGER IF EXISTS billing_rollout_guard ON billing_rollout;
DROP FUNCTION IF EXISTS billing_rollout_guard();
