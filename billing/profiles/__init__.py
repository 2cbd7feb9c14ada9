"""Billing profiles: price lists, their immutable versions, assignments to tenants, four-eyes approval, and
the one resolver of the version in force."""
