"""Chargeback and showback: allocation rules that split a shared cost across a tenant's projects or
internal teams (cost centres), versioned and approved by four eyes (docs/showback.md)."""
