"""Finance's workspace in the portal (/portal/finance/): price lists and their versions, approvals with
their backtests, canary rollouts, the disputes queue, quarantine triage and the audit trail. Platform-wide
finance roles only (tenants.Role.FINANCE_*); customers get 403. Thin views over billing and ledger
services and selectors."""
