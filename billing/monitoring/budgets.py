"""Budgets and commitments: the customer's budget settings (budget_set) and the evaluator that projects
each tenant's period spend from its running estimate and fires or resolves `budget` and `commitment` alerts
(docs/alerts-evaluation.md, "Budgets and commitments"; the math is billing.monitoring.projection)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from billing.catalog.models import Meter
from billing.close.services import tenants_to_close
from billing.monitoring.models import DEFAULT_THRESHOLDS_PCT, TenantBudget
from billing.monitoring.projection import BudgetRules, SpendLine, elapsed_fraction, findings, projected_spend
from billing.monitoring.selectors import budgets_for, estimates_current
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import VersionTimeline, price_model
from billing.rating.estimates import tenant_period_at
from billing.rating.models import TenantUsageEstimate
from common import metrics
from common.errors import ApplicationError, FieldIssue, ValidationFailed
from common.money import InvalidDecimal, currency_exponent, parse_decimal, quantize_money
from common.money_format import format_money
from ledger.alerts.services import alert_fire, alerts_resolve_except
from ledger.models import Alert
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_THRESHOLDS = 10
MAX_PCT = 1000
MAX_MULTIPLIER = Decimal(100)
# Meters whose period quantity accrues over time (their cost is extrapolated); the others price a level.
ACCRUING = frozenset({Meter.Aggregation.SUM.value, Meter.Aggregation.COUNT.value})
CHUNK = 500


# --- the customer's settings ------------------------------------------------------------------------


def budget_set(
    *,
    tenant: Tenant,
    amount: object,
    thresholds_pct: Sequence[object],
    thresholds_money: Sequence[object],
    plan_multiplier: object,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> TenantBudget:
    """Create or replace the tenant's budget settings. Amounts are decimal strings (or Decimals) in the
    tenant's currency, with at most its minor unit's digits; `amount` None or "" = no budget."""
    issues: list[FieldIssue] = []
    budget_amount = _money(amount, tenant=tenant, field="amount", issues=issues, optional=True)
    pcts = _percentages(thresholds_pct, issues)
    moneys: list[Decimal] = []
    for i, raw in enumerate(thresholds_money):
        value = _money(raw, tenant=tenant, field=f"thresholds_money[{i}]", issues=issues, optional=False)
        if value is not None:
            moneys.append(value)
    if len(thresholds_money) > MAX_THRESHOLDS:
        issues.append(FieldIssue("thresholds_money", f"at most {MAX_THRESHOLDS} thresholds"))
    multiplier = _multiplier(plan_multiplier, issues)
    if issues:
        raise ValidationFailed("; ".join(f"{i.field}: {i.message}" for i in issues), issues=issues)
    assert multiplier is not None
    with transaction.atomic():
        budget = TenantBudget.objects.select_for_update().filter(tenant=tenant).first() or TenantBudget(
            tenant=tenant
        )
        budget.amount = budget_amount
        budget.thresholds_pct = sorted(set(pcts))
        budget.thresholds_money = [str(v) for v in sorted(set(moneys))]
        budget.plan_multiplier = multiplier
        budget.updated_at = now or timezone.now()
        budget.updated_by_id = actor.pk if actor is not None else None
        budget.save()
    return budget


def _money(
    raw: object, *, tenant: Tenant, field: str, issues: list[FieldIssue], optional: bool
) -> Decimal | None:
    if raw is None or raw == "":
        if not optional:
            issues.append(FieldIssue(field, "must not be empty"))
        return None
    try:
        value = parse_decimal(raw.strip() if isinstance(raw, str) else raw, field=field)
    except InvalidDecimal as err:
        issues.append(FieldIssue(field, err.message))
        return None
    exponent = currency_exponent(tenant.currency)
    if value <= 0:
        issues.append(FieldIssue(field, "must be greater than 0"))
    elif value != value.quantize(Decimal(1).scaleb(-exponent)):
        issues.append(FieldIssue(field, f"{tenant.currency} amounts have at most {exponent} decimals"))
    elif value >= Decimal(10) ** 14:
        issues.append(FieldIssue(field, "is too large"))
    else:
        return value
    return None


def _percentages(raw: Sequence[object], issues: list[FieldIssue]) -> list[int]:
    found: list[int] = []
    if len(raw) > MAX_THRESHOLDS:
        issues.append(FieldIssue("thresholds_pct", f"at most {MAX_THRESHOLDS} thresholds"))
    for item in raw:
        text = item.strip() if isinstance(item, str) else item
        if isinstance(text, bool) or not (
            isinstance(text, int) or (isinstance(text, str) and text.isdigit())
        ):
            issues.append(FieldIssue("thresholds_pct", f"{item!r} is not a whole percentage"))
            continue
        pct = int(text)
        if not 1 <= pct <= MAX_PCT:
            issues.append(FieldIssue("thresholds_pct", f"{pct} is not between 1 and {MAX_PCT}"))
            continue
        found.append(pct)
    return found


def _multiplier(raw: object, issues: list[FieldIssue]) -> Decimal | None:
    try:
        value = parse_decimal(raw.strip() if isinstance(raw, str) else raw, field="plan_multiplier")
    except InvalidDecimal as err:
        issues.append(FieldIssue("plan_multiplier", err.message))
        return None
    if not Decimal(1) <= value <= MAX_MULTIPLIER or -value.as_tuple().exponent > 2:  # type: ignore[operator]
        issues.append(
            FieldIssue("plan_multiplier", f"must be between 1 and {MAX_MULTIPLIER}, 2 decimals at most")
        )
        return None
    return value


# --- the evaluator ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """A tenant's period as the evaluator (and the budgets page) sees it."""

    period_key: str
    period_start: datetime
    period_end: datetime
    currency: str
    spent: Decimal  # the running estimate so far (unrounded)
    projected: Decimal  # unrounded
    fraction: Decimal  # of the period elapsed
    rules: BudgetRules


@dataclass
class EvaluationRun:
    evaluated: int = 0
    fired: int = 0
    resolved: int = 0
    failed: int = 0


def budget_status(
    *,
    tenant: Tenant,
    now: datetime,
    timeline: VersionTimeline,
    estimates: list[TenantUsageEstimate],
    budget: TenantBudget | None,
) -> BudgetStatus:
    """Project the tenant's period spend (projection.projected_spend) and gather its thresholds. Before
    BUDGET_MIN_ELAPSED_HOURS of the period have passed, nothing is extrapolated (one day of a month
    times thirty says little)."""
    period = tenant_period_at(tenant=tenant, at=now, timeline=timeline)
    version = timeline.version_at(tenant.pk, now)
    body = version.body if isinstance(version, ProfileVersion) else {}
    currency = str(body.get("currency", tenant.currency))
    rows = [row for row in estimates if row.period_key == period.key and row.currency == currency]
    if len(rows) != len([r for r in estimates if r.period_key == period.key]):
        logger.warning(
            "tenant %s: estimate rows in another currency than %s are left out", tenant.slug, currency
        )
    lines = [
        SpendLine(
            amount=row.amount,
            accrues=row.sku.meter.aggregation in ACCRUING and price_model(body, row.sku.code) != "flat",
        )
        for row in rows
    ]
    fraction = elapsed_fraction(elapsed=now - period.start, length=period.end - period.start)
    extrapolate = now - period.start >= timedelta(hours=settings.BUDGET_MIN_ELAPSED_HOURS)
    spent = sum((row.amount for row in rows), Decimal(0))
    projected = projected_spend(lines=lines, fraction=fraction) if extrapolate else spent
    commitment_raw = (body.get("commitments") or {}).get("minimum_spend")
    commitment = parse_decimal(commitment_raw, field="minimum_spend") if commitment_raw else None
    same_currency = currency == tenant.currency
    if budget is not None and not same_currency:
        logger.warning(
            "tenant %s bills in %s: its budget (%s) is not compared", tenant.slug, currency, tenant.currency
        )
    rules = BudgetRules(
        budget=budget.amount if budget is not None and same_currency else None,
        thresholds_pct=list(budget.thresholds_pct) if budget is not None else list(DEFAULT_THRESHOLDS_PCT),
        thresholds_money=[Decimal(v) for v in budget.thresholds_money] if budget and same_currency else [],
        commitment=commitment,
        plan_multiplier=budget.plan_multiplier
        if budget is not None
        else Decimal(settings.BUDGET_PLAN_MULTIPLIER),
        late_fraction=Decimal(settings.COMMITMENT_LATE_FRACTION),
    )
    return BudgetStatus(period.key, period.start, period.end, currency, spent, projected, fraction, rules)


def budgets_evaluate(*, now: datetime | None = None, tenant_ids: list[int] | None = None) -> EvaluationRun:
    """Evaluate every active tenant with a profile (or the given ones) in chunks: fire the thresholds the
    projection crosses, resolve the others. A tenant whose evaluation fails is logged and counted
    (billing_alert_evaluation_failures_total{evaluator="budget"}); the others go on."""
    now = now or timezone.now()
    ids = sorted(tenant_ids if tenant_ids is not None else tenants_to_close())
    run = EvaluationRun()
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        tenants = list(Tenant.objects.filter(pk__in=chunk).order_by("pk"))
        timeline = VersionTimeline(chunk)
        estimates = estimates_current(tenant_ids=chunk, now=now)
        budgets = budgets_for(tenant_ids=chunk)
        for tenant in tenants:
            try:
                fired, resolved = _evaluate_one(
                    tenant=tenant,
                    now=now,
                    timeline=timeline,
                    estimates=estimates.get(tenant.pk, []),
                    budget=budgets.get(tenant.pk),
                )
            except (ApplicationError, DatabaseError, ArithmeticError, ValueError, KeyError, TypeError):
                run.failed += 1
                metrics.ALERT_EVALUATION_FAILURES.labels(evaluator="budget").inc()
                logger.exception("budget evaluation of tenant %s failed", tenant.slug)
                continue
            run.evaluated += 1
            run.fired += fired
            run.resolved += resolved
    return run


def _evaluate_one(
    *,
    tenant: Tenant,
    now: datetime,
    timeline: VersionTimeline,
    estimates: list[TenantUsageEstimate],
    budget: TenantBudget | None,
) -> tuple[int, int]:
    status = budget_status(tenant=tenant, now=now, timeline=timeline, estimates=estimates, budget=budget)
    found = findings(projected=status.projected, fraction=status.fraction, rules=status.rules)
    keys: dict[str, list[str]] = {Alert.Kind.BUDGET.value: [], Alert.Kind.COMMITMENT.value: []}
    with transaction.atomic():
        for finding in found:
            key = f"{status.period_key}:{finding.key}"
            keys[finding.kind].append(key)
            alert_fire(
                kind=finding.kind,
                tenant_id=tenant.pk,
                key=key,
                severity=finding.severity,
                message=_message(tenant, status, finding.threshold, finding.what, finding.kind),
                details=_details(status, finding.threshold, finding.what),
                now=now,
            )
        resolved = sum(
            alerts_resolve_except(kind=kind, tenant_id=tenant.pk, keys_firing=firing, now=now)
            for kind, firing in keys.items()
        )
    return len(found), resolved


def _shown(amount: Decimal, currency: str, tenant: Tenant) -> str:
    return format_money(quantize_money(amount, currency), currency, tenant.locale)


def _message(tenant: Tenant, status: BudgetStatus, threshold: Decimal, what: str, kind: str) -> str:
    projected = _shown(status.projected, status.currency, tenant)
    spent = _shown(status.spent, status.currency, tenant)
    limit = _shown(threshold, status.currency, tenant)
    if kind == Alert.Kind.COMMITMENT:
        return (
            f"Period {status.period_key}: projected spend {projected} (so far {spent}) is below "
            f"{what} of {limit}."
        )
    return (
        f"Period {status.period_key}: projected spend {projected} (so far {spent}) reaches {what} ({limit})."
    )


def _details(status: BudgetStatus, threshold: Decimal, what: str) -> dict[str, object]:
    def money(value: Decimal) -> str:
        return str(quantize_money(value, status.currency))

    return {
        "period": status.period_key,
        "currency": status.currency,
        "spent": money(status.spent),
        "projected": money(status.projected),
        "threshold": money(threshold),
        "threshold_is": what,
        "elapsed_fraction": str(status.fraction.quantize(Decimal("0.0001"))),
        "budget": money(status.rules.budget) if status.rules.budget is not None else None,
        "commitment": money(status.rules.commitment) if status.rules.commitment is not None else None,
        "plan_multiplier": str(status.rules.plan_multiplier),
        "method": "running estimate; accruing lines / elapsed fraction of the period, others as they are",
    }
