-- Reverse of billing 0009 (aggregate_guard.py at commit c8a6762, PG_DROP: since then 0007 creates no
-- composite foreign key, so this no longer re-creates it as the reverse of commit d1e04f4 did).

DROP TRIGGER IF EXISTS usage_aggregate_key_frozen ON billing_usageaggregate;

DROP TRIGGER IF EXISTS usage_aggregate_keeps_values ON billing_usageaggregate;

DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_update ON billing_usageaggregatevalue;

DROP TRIGGER IF EXISTS usage_aggregate_value_bucket_insert ON billing_usageaggregatevalue;

DROP FUNCTION IF EXISTS usage_aggregate_key_frozen();

DROP FUNCTION IF EXISTS usage_aggregate_keeps_values();

DROP FUNCTION IF EXISTS usage_aggregate_value_has_bucket();
