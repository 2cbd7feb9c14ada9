"""Tenants: the customers, their projects, who may act for them (memberships, object permissions)
and API keys. The bottom of the app dependency order: tenants imports neither billing nor ledger."""
