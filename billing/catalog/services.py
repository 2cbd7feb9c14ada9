"""Writes for the catalog: meters and SKUs, as idempotent upserts by code so the demo seed can run twice."""

from __future__ import annotations

from django.db import transaction

from billing.catalog.models import Meter, Sku


def meter_upsert(
    *,
    code: str,
    name: str,
    unit: str,
    aggregation: str = Meter.Aggregation.SUM,
    unique_tag: str = "",
    allow_negative: bool = False,
) -> Meter:
    with transaction.atomic():
        meter, _ = Meter.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "aggregation": aggregation,
                "unique_tag": unique_tag,
                "allow_negative": allow_negative,
            },
        )
        return meter


def sku_upsert(
    *, code: str, name: str, meter: Meter, unit_label: str, service_category: str = Sku.ServiceCategory.OTHER
) -> Sku:
    with transaction.atomic():
        sku, _ = Sku.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "meter": meter,
                "unit_label": unit_label,
                "service_category": service_category,
            },
        )
        return sku
