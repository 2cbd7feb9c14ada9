"""Look-ups shared by the tenants of one close run, so a chunk of tenants reads each of them once, not
once per tenant: parsed profile documents, tax rules, FX rates, SKUs (with their meters), profile
versions, and `period_usage` served with one aggregate query per tenant when the SKUs and versions
involved are already known."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.catalog.models import Meter, Sku
from billing.close import selectors as tax_selectors
from billing.close.models import ExchangeRate, TaxRule
from billing.pricing import ProfileDocument, validate_document
from billing.profiles.models import ProfileAssignment, ProfileVersion
from billing.profiles.selectors import (
    CohortRule,
    cohort_rules,
    price_model,
    tenant_version_list,
    version_effective,
)
from billing.rating import selectors as usage_selectors
from billing.rating.selectors import PeriodUsage

# Meters whose period quantity is read straight off the grouped aggregate row (see `period_usage`).
_ROW_AGGREGATIONS = frozenset({Meter.Aggregation.SUM, Meter.Aggregation.COUNT, Meter.Aggregation.MAX})

_DOCUMENTS: dict[tuple[int, str], ProfileDocument] = {}


def document_of(version: ProfileVersion) -> ProfileDocument:
    """The typed document of a version, cached by (id, body hash): a version's body never changes once
    it has left draft, and a draft's hash changes with its body."""
    key = (version.pk, version.body_sha256)
    doc = _DOCUMENTS.get(key)
    if doc is None:
        if len(_DOCUMENTS) > 1024:
            _DOCUMENTS.clear()
        doc = _DOCUMENTS[key] = validate_document(version.body)
    return doc


@dataclass
class CloseCache:
    """Look-ups shared by the tenants of one close run (tax rules, FX rates, SKUs, versions)."""

    tax_rules: dict[tuple[str, date], TaxRule | None] = field(default_factory=dict)
    fx_rates: dict[tuple[str, str, date], ExchangeRate | None] = field(default_factory=dict)
    skus: dict[str, Sku] = field(default_factory=dict)
    versions: dict[int, ProfileVersion] = field(default_factory=dict)
    profile_versions: dict[int, list[ProfileVersion]] = field(default_factory=dict)
    skus_with_meter: dict[int, Sku] = field(default_factory=dict)
    assignments: dict[int, list[ProfileAssignment]] = field(default_factory=dict)
    # Per profile: the version list the rollouts were read for, and the rollouts of its versions by version.
    rules: dict[int, tuple[list[ProfileVersion], dict[int, CohortRule]]] = field(default_factory=dict)

    def assignments_of(self, tenant_id: int) -> list[ProfileAssignment]:
        """The tenant's profile assignments sorted by effective_from (`preload_assignments` reads a
        chunk's with one query)."""
        if tenant_id not in self.assignments:
            self.preload_assignments([tenant_id])
        return self.assignments[tenant_id]

    def preload_assignments(self, tenant_ids: Iterable[int]) -> None:
        ids = [pk for pk in set(tenant_ids) if pk not in self.assignments]
        for pk in ids:
            self.assignments[pk] = []
        if ids:
            for row in ProfileAssignment.objects.filter(tenant_id__in=ids).order_by(
                "tenant_id", "effective_from"
            ):
                self.assignments[row.tenant_id].append(row)

    def tax_rule(self, jurisdiction: str, on: date) -> TaxRule | None:
        key = (jurisdiction, on)
        if key not in self.tax_rules:
            self.tax_rules[key] = tax_selectors.tax_rule_in_force(jurisdiction=jurisdiction, on=on)
        return self.tax_rules[key]

    def fx_rate(self, currency: str, base: str, on: date) -> ExchangeRate | None:
        key = (currency, base, on)
        if key not in self.fx_rates:
            self.fx_rates[key] = tax_selectors.exchange_rate_for(currency=currency, base=base, on=on)
        return self.fx_rates[key]

    def sku_map(self, codes: set[str]) -> dict[str, Sku]:
        missing = codes - self.skus.keys()
        if missing:
            for sku in Sku.objects.filter(code__in=missing):
                self.skus[sku.code] = sku
        return {c: self.skus[c] for c in codes if c in self.skus}

    def in_force(self, profile_id: int, at: datetime, tenant_id: int | None = None) -> ProfileVersion | None:
        """The profile's version in force for the tenant at `at` (`version_effective` over
        `versions_for`; `tenant_id` None: a tenant in no rollout's cohort), its versions loaded once."""
        return version_effective(*self.versions_for(profile_id, tenant_id), at)

    def versions_for(
        self, profile_id: int, tenant_id: int | None
    ) -> tuple[list[datetime], list[ProfileVersion]]:
        """The profile's in-force versions as they start for the tenant (`tenant_version_list`: the cohort
        rule of rollouts), and their starts. A version list put in `profile_versions` by a caller (a
        version priced as if in force all period) is taken as it is, without rollouts."""
        if profile_id not in self.profile_versions:
            loaded = list(
                ProfileVersion.objects.filter(
                    profile_id=profile_id, status__in=ProfileVersion.IN_FORCE_STATUSES
                ).order_by("effective_from")
            )
            self.profile_versions[profile_id] = loaded
            self.rules[profile_id] = (loaded, cohort_rules(v.pk for v in loaded))
            for v in loaded:
                self.versions.setdefault(v.pk, v)
        versions = self.profile_versions[profile_id]
        read = self.rules.get(profile_id)
        if read is None or read[0] is not versions or not read[1]:
            return [v.effective_from for v in versions], versions
        return tenant_version_list(versions, tenant_id, read[1])

    def version(self, version_id: int) -> ProfileVersion:
        if version_id not in self.versions:
            self.versions[version_id] = ProfileVersion.objects.get(pk=version_id)
        return self.versions[version_id]

    def skus_by_id(self, ids: set[int]) -> dict[int, Sku]:
        """SKUs with their meters by id, loaded once per run."""
        missing = ids - self.skus_with_meter.keys()
        if missing:
            for sku in Sku.objects.select_related("meter").filter(pk__in=missing):
                self.skus_with_meter[sku.pk] = sku
        return {i: self.skus_with_meter[i] for i in ids if i in self.skus_with_meter}

    def period_usage(self, *, tenant_id: int, start: datetime, end: datetime) -> list[PeriodUsage]:
        """Exactly `billing.rating.selectors.period_usage`, with the SKUs, meters and versions taken from
        this run's cache instead of two more queries per tenant. Only the common case is served here
        (every meter sums, counts or takes the maximum, and no SKU is priced per event); anything else
        is delegated to `period_usage` itself."""
        rows = usage_selectors.period_usage_rows(tenant_id=tenant_id, start=start, end=end)
        return self.usage_of_rows(rows, tenant_id=tenant_id, start=start, end=end)

    def usage_of_rows(
        self, rows: list[dict[str, Any]], *, tenant_id: int, start: datetime, end: datetime
    ) -> list[PeriodUsage]:
        """`period_usage` from the tenant's grouped rows already read (`period_usage_rows`, or one
        tenant's share of `period_usage_rows_many` read under the tenant's lock)."""
        if not rows:
            return []
        skus = self.skus_by_id({r["sku_id"] for r in rows})
        versions = {vid: self.version(vid) for vid in {r["profile_version_id"] for r in rows}}
        for row in rows:
            sku = skus.get(row["sku_id"])
            if (
                sku is None
                or sku.meter.aggregation not in _ROW_AGGREGATIONS
                or price_model(versions[row["profile_version_id"]].body, sku.code) == "percentage"
            ):
                return usage_selectors.period_usage(tenant_id=tenant_id, start=start, end=end)
        result: list[PeriodUsage] = []
        for row in rows:
            sku, version = skus[row["sku_id"]], versions[row["profile_version_id"]]
            quantity: Decimal = (
                row["biggest"] if sku.meter.aggregation == Meter.Aggregation.MAX else row["total"]
            )
            result.append(PeriodUsage.of_row(row, sku=sku, version_id=version.pk, quantity=quantity))
        # As period_usage: versions in the order of the query (Meta ordering: profile, number), then
        # stably by effective_from.
        in_query_order = sorted(versions.values(), key=lambda v: (v.profile_id, v.number))
        order = defaultdict(
            int, {v.pk: i for i, v in enumerate(sorted(in_query_order, key=lambda v: v.effective_from))}
        )
        result.sort(key=lambda u: (u.sku_code, order[u.profile_version_id]))
        return result
