"""Reads over the catalog (meters and SKUs)."""

from __future__ import annotations

from billing.catalog.models import Sku


def sku_get(*, code: str) -> Sku | None:
    return Sku.objects.select_related("meter").filter(code=code).first()
