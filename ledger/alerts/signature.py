"""Pure helpers naming an alert: its dedup signature and default group (no Django). The migration that
backfilled existing rows (ledger 0015) computes the same signature in SQL:
encode(sha256(convert_to(kind || '|' || coalesce(tenant_id::text, 'platform') || '|' || key, 'UTF8')), 'hex')."""

from __future__ import annotations

import hashlib

PLATFORM = "platform"


def alert_signature(*, kind: str, tenant_id: int | None, key: str) -> str:
    """sha256 hex of kind, tenant (or 'platform') and key; the key comes last, so no two triples collide."""
    scope = PLATFORM if tenant_id is None else str(tenant_id)
    return hashlib.sha256(f"{kind}|{scope}|{key}".encode()).hexdigest()


def alert_group_key(*, kind: str, tenant_id: int | None) -> str:
    return f"{kind}:{PLATFORM if tenant_id is None else tenant_id}"
