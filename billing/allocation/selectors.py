"""Showback: a tenant's shared costs of a period split by its allocation rules in force, per target and
per team (cost centre), with the unallocated part as its own line (docs/showback.md). Reads in a fixed
number of grouped queries; the arithmetic is billing.allocation.shares."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from billing.allocation.models import AllocationRule, AllocationRuleVersion
from billing.allocation.shares import UNALLOCATED, AllocationError, allocate
from billing.allocation.spec import RuleSpec, parse_spec
from billing.rating.estimates import tenant_period_at
from billing.usage.models import UsageEvent
from common.errors import FieldIssue, ValidationFailed
from common.periods import Period, parse_period_key, period_by_key, period_containing, period_key_cycle
from ledger.models import Invoice, InvoiceLine
from tenants.models import Project, Tenant

NO_TEAM = "(no team)"
UNALLOCATED_TEAM = "Unallocated"


@dataclass(frozen=True)
class ShowbackRow:
    rule: str
    version: int
    method: str
    source: str
    target: str
    team: str
    amount: Decimal
    currency: str


@dataclass
class ShowbackReport:
    tenant: Tenant
    period_key: str
    rows: list[ShowbackRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def teams(self) -> list[tuple[str, str, Decimal]]:
        """(team, currency, amount) summed over the rows; Unallocated last."""
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in self.rows:
            totals[(row.team, row.currency)] += row.amount
        return sorted(
            ((team, cur, amount) for (team, cur), amount in totals.items()),
            key=lambda t: (t[0] == UNALLOCATED_TEAM, t[0], t[1]),
        )


def rules_of(*, tenant: Tenant) -> QuerySet[AllocationRule]:
    return AllocationRule.objects.filter(tenant=tenant).prefetch_related("versions__approvals")


def version_in_force(
    *, versions: list[AllocationRuleVersion], period_key: str
) -> AllocationRuleVersion | None:
    """The approved or superseded version with the latest effective_from <= period_key (an approved one
    before a superseded one of the same start, then the highest number)."""
    candidates = [
        v for v in versions if v.status in AllocationRuleVersion.IN_FORCE and v.effective_from <= period_key
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda v: (v.effective_from, v.status == AllocationRuleVersion.Status.APPROVED, v.number),
    )


def showback_period(*, tenant: Tenant, period_key: str) -> Period:
    """The tenant's period of `period_key`: a key by common.periods' rule (2026-11, 2026-Q4, 2026) that is
    the tenant's own period at its start (its time zone, the billing cycle of its profile version in
    force then), or the period of one of its invoices; anything else is a ValidationFailed saying so."""
    key = parse_period_key(period_key)
    period = period_by_key(key, tz=tenant.timezone, cycle=period_key_cycle(key))
    own = tenant_period_at(tenant=tenant, at=period.start)
    if own.key == key or Invoice.objects.filter(tenant=tenant, period_key=key).exists():
        return period
    raise ValidationFailed(
        f"period {key!r} is not a period of {tenant.slug}'s billing cycle: its period then is {own.key}",
        issues=[FieldIssue("period", f"e.g. {own.key}")],
    )


def _window(invoice: Invoice | None, period: Period) -> tuple[datetime, datetime]:
    if invoice is not None:
        return invoice.period_start, invoice.period_end
    return period.start, period.end


def _team_of(target: str, projects: dict[str, str]) -> str:
    kind, code = target.split(":", 1)
    if kind == "team":
        return code
    return projects.get(code) or NO_TEAM


def _weights(
    spec: RuleSpec,
    projects: dict[str, str],
    usage: dict[str, dict[str, Decimal]],
    sku_totals: dict[str, Decimal],
    invoiced: dict[str, Decimal],
) -> dict[str, Decimal]:
    """Per target: its direct cost (each SKU's invoiced usage split by the projects' share of the SKU's
    quantity; usage sent without a project keeps its share out of every target) or its quantity of the
    metric SKU. A team weighs what its projects weigh."""

    def project_weight(code: str) -> Decimal:
        per_sku = usage.get(code, {})
        if spec.method == "usage":
            return per_sku.get(spec.metric_sku or "", Decimal(0))
        return sum(
            (
                invoiced.get(sku, Decimal(0)) * qty / sku_totals[sku]
                for sku, qty in per_sku.items()
                if sku_totals.get(sku)
            ),
            Decimal(0),
        )

    weights: dict[str, Decimal] = {}
    for target in spec.targets:
        kind, code = target.split(":", 1)
        members = [code] if kind == "project" else [p for p, cc in projects.items() if cc == code]
        weights[target] = sum((max(project_weight(p), Decimal(0)) for p in members), Decimal(0))
    return weights


def showback(*, tenant: Tenant, period_key: str) -> ShowbackReport:
    """The report of one of the tenant's periods (showback_period: a bad key is a ValidationFailed). A rule
    version applies when it is in force in the period's first month (versions start at a month)."""
    period = showback_period(tenant=tenant, period_key=period_key)
    period_key = period.key
    first_month = period_containing(period.start, tz=tenant.timezone).key
    report = ShowbackReport(tenant=tenant, period_key=period_key)
    rules = list(rules_of(tenant=tenant))
    invoice = (
        Invoice.objects.filter(tenant=tenant, period_key=period_key, status__in=("finalized", "paid"))
        .order_by("-id")
        .first()
    )
    start, end = _window(invoice, period)
    projects = dict(Project.objects.filter(tenant=tenant).values_list("code", "cost_center"))
    usage: dict[str, dict[str, Decimal]] = defaultdict(dict)
    sku_totals: dict[str, Decimal] = defaultdict(Decimal)
    for code, sku, qty in (
        UsageEvent.objects.filter(
            tenant=tenant, timestamp__gte=start, timestamp__lt=end, status=UsageEvent.Status.ACCEPTED
        )
        .values_list("project__code", "sku__code")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    ):
        sku_totals[sku] += qty
        if code is not None:
            usage[code][sku] = qty
    invoiced: dict[str, Decimal] = {}
    if invoice is not None:
        invoiced = dict(
            InvoiceLine.objects.filter(invoice=invoice)
            .filter(~Q(sku_code=""))
            .values_list("sku_code")
            .annotate(total=Sum("amount"))
            .order_by()
        )
    for rule in rules:
        version = version_in_force(versions=list(rule.versions.all()), period_key=first_month)
        if version is None:
            continue
        spec = parse_spec(version.body)
        if spec.source == "amount":
            total, currency, source = (
                spec.amount or Decimal(0),
                spec.currency or tenant.currency,
                "fixed amount",
            )
        elif invoice is None:
            report.notes.append(f"{rule.code}: no finalized invoice for {period_key}, nothing to allocate")
            continue
        elif spec.source == "invoice":
            total, currency, source = invoice.total, invoice.currency, f"invoice {invoice.number}"
        else:
            total = invoiced.get(spec.source_sku or "", Decimal(0))
            currency, source = invoice.currency, f"SKU {spec.source_sku} on {invoice.number}"
        unknown = [t for t in spec.targets if t.startswith("project:") and t.split(":", 1)[1] not in projects]
        if unknown:
            report.notes.append(f"{rule.code}: no such project {', '.join(unknown)}: weighs nothing")
        try:
            shares = allocate(
                method=spec.method,
                total=total,
                targets=spec.targets,
                currency=currency,
                weights=_weights(spec, projects, usage, sku_totals, invoiced),
                percentages=spec.percentages,
            )
        except AllocationError as err:
            report.notes.append(f"{rule.code}: {err}")
            continue
        for share in shares:
            unallocated = share.target == UNALLOCATED
            report.rows.append(
                ShowbackRow(
                    rule=rule.code,
                    version=version.number,
                    method=spec.method,
                    source=source,
                    target=share.target,
                    team=UNALLOCATED_TEAM if unallocated else _team_of(share.target, projects),
                    amount=share.amount,
                    currency=currency,
                )
            )
    return report
