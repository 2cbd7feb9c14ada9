"""Reads of allocation rules for finance's rule pages and `manage.py allocation_rules`: every rule with
its version in force and the versions waiting (pending approval, drafts), one rule with its versions and
their approvals, and a version's body as a table of targets and weights (docs/showback.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from billing.allocation.models import AllocationApproval, AllocationRule, AllocationRuleVersion
from billing.allocation.selectors import version_in_force
from billing.allocation.shares import UNALLOCATED
from billing.allocation.spec import SpecError, parse_spec
from common.periods import period_containing
from tenants.models import Project, Tenant

METHOD_LABELS = {
    "even": "Evenly",
    "proportional": "In proportion to direct cost",
    "usage": "By a usage metric",
    "fixed": "Fixed percentages",
}
SOURCE_LABELS = {
    "amount": "A fixed amount per period",
    "invoice": "The period's invoice total",
    "sku": "A SKU's cost on the period's invoice",
}


@dataclass(frozen=True)
class RuleOverview:
    rule: AllocationRule
    period_key: str  # the tenant's current month, the one `in_force` is in force for
    in_force: AllocationRuleVersion | None
    pending: list[AllocationRuleVersion]
    drafts: list[AllocationRuleVersion]


def current_period_key(*, tenant: Tenant, now: datetime | None = None) -> str:
    """The tenant's current month (in its time zone), e.g. `2026-11`."""
    return period_containing(now or timezone.now(), tz=tenant.timezone).key


def _with_versions(rules: QuerySet[AllocationRule]) -> QuerySet[AllocationRule]:
    versions = AllocationRuleVersion.objects.select_related("author", "decided_by").prefetch_related(
        Prefetch("approvals", queryset=AllocationApproval.objects.select_related("approver"))
    )
    return rules.select_related("tenant", "created_by").prefetch_related(
        Prefetch("versions", queryset=versions)
    )


def rules_overview(*, tenant: Tenant | None = None, now: datetime | None = None) -> list[RuleOverview]:
    """Every rule (of `tenant`, or of all tenants), by tenant and code, with the version in force in its
    tenant's current month and the versions pending approval and in draft (newest first)."""
    rules = AllocationRule.objects.order_by("tenant__slug", "code")
    if tenant is not None:
        rules = rules.filter(tenant=tenant)
    rows = []
    for rule in _with_versions(rules):
        versions = list(rule.versions.all())
        period = current_period_key(tenant=rule.tenant, now=now)
        rows.append(
            RuleOverview(
                rule=rule,
                period_key=period,
                in_force=version_in_force(versions=versions, period_key=period),
                pending=[v for v in versions if v.status == AllocationRuleVersion.Status.PENDING_APPROVAL],
                drafts=[v for v in versions if v.status == AllocationRuleVersion.Status.DRAFT],
            )
        )
    return rows


def rule_with_versions(*, rule_id: int) -> AllocationRule | None:
    """The rule with its tenant and its versions (newest first), their authors, deciders and approvals."""
    return _with_versions(AllocationRule.objects.filter(pk=rule_id)).first()


def rule_version(*, version_id: int) -> AllocationRuleVersion | None:
    return (
        AllocationRuleVersion.objects.select_related("rule__tenant", "author", "decided_by")
        .filter(pk=version_id)
        .first()
    )


def tenant_projects(*, tenant: Tenant) -> list[Project]:
    """The tenant's projects (targets `project:<code>`; their cost centres are the teams)."""
    return list(Project.objects.filter(tenant=tenant).order_by("code"))


@dataclass(frozen=True)
class TargetRow:
    target: str  # as in the body: project:<code>, team:<cost centre>, or `unallocated`
    team: str  # the team the share counts for: the project's cost centre, the team, or ""
    weight: str  # what weighs the target: "equal share", "direct cost", "quantity of api_calls", ...
    percentage: Decimal | None  # fixed percentages only
    known: bool  # a project of the tenant, or a team some project of it belongs to


@dataclass(frozen=True)
class BodyTable:
    source: str  # SOURCE_LABELS
    amount: Decimal | None
    currency: str | None
    source_sku: str | None
    method: str  # METHOD_LABELS
    rows: list[TargetRow]
    error: str = ""  # the body cannot be read (a version stored before a rule of the body changed)


def body_table(*, body: Any, projects: list[Project]) -> BodyTable:
    """A version's body as a table: one row per target with what weighs it, then (fixed percentages below
    100) the unallocated rest."""
    try:
        spec = parse_spec(body)
    except SpecError as err:
        return BodyTable("", None, None, None, "", [], error=str(err))
    teams = {p.code: p.cost_center for p in projects}
    known_teams = {cc for cc in teams.values() if cc}
    weight = {
        "even": f"equal share (1 of {len(spec.targets)})",
        "proportional": "direct cost",
        "usage": f"quantity of {spec.metric_sku}",
        "fixed": "fixed percentage",
    }[spec.method]
    rows = []
    for target in spec.targets:
        kind, code = target.split(":", 1)
        team = code if kind == "team" else teams.get(code, "")
        known = code in known_teams if kind == "team" else code in teams
        pct = spec.percentages.get(target, Decimal(0)) if spec.method == "fixed" else None
        rows.append(TargetRow(target, team, weight, pct, known))
    if spec.method == "fixed":
        rest = Decimal(100) - sum(spec.percentages.values(), Decimal(0))
        if rest > 0:
            rows.append(TargetRow(UNALLOCATED, "", "what the percentages leave", rest, True))
    return BodyTable(
        source=SOURCE_LABELS[spec.source],
        amount=spec.amount,
        currency=spec.currency,
        source_sku=spec.source_sku,
        method=METHOD_LABELS[spec.method],
        rows=rows,
    )
