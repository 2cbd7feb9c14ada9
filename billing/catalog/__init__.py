"""Catalog: meters (what is measured, how it aggregates) and SKUs (what is priced)."""
