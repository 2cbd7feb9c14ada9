"""The tamper-evident audit trail: one hash-chained, append-only record per change of a finance object
(profile, version, assignment, approval, rollout, dispute, credit, tax rule, FX rate), with its actor, a
before/after diff, the reason and the request ID. `services.audit_record` writes them, `verify.audit_verify`
recomputes the chain (manage.py audit_verify). docs/audit.md."""
