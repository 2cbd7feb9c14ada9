-- Reverse of billing 0012 (usage_event_parents.py at commit 45dae98, PG_DROP); the declared foreign
-- keys come back with the migration's AlterField operations.

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON tenants_tenant;

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON billing_sku;

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON tenants_project;

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON billing_profileversion;

DROP TRIGGER IF EXISTS billing_usageevent_parent_guard ON auth_user;

DROP FUNCTION IF EXISTS billing_usageevent_parent_guard();

DROP TRIGGER IF EXISTS billing_usageevent_parents_upd ON billing_usageevent;

DROP TRIGGER IF EXISTS billing_usageevent_parents_ins ON billing_usageevent;

DROP FUNCTION IF EXISTS billing_usageevent_parents_exist();
