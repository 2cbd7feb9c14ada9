"""Budgets and commitments, pure (no Django): the projected spend of a period from its running estimate,
and which budget, plan and commitment thresholds it crosses (docs/alerts-evaluation.md, "Budgets").

Projection: the running estimate's lines priced per unit of usage that accrues over time (meters that sum
or count) are extrapolated linearly to the period's end: amount / elapsed fraction. Lines that do not
grow with time are taken as they are: a flat fee (charged once per period), and meters whose period
quantity is a maximum, a latest value or a distinct count (the estimate already prices the period's
level). The projection is unrounded; callers round it once for display and alert details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from common.money import WIDE_CONTEXT

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SpendLine:
    amount: Decimal
    accrues: bool  # grows with time (extrapolated), or a level already reached (taken as it is)


def elapsed_fraction(*, elapsed: timedelta, length: timedelta) -> Decimal:
    """How much of the period has passed, in [0, 1]."""
    if length <= timedelta(0):
        raise ValueError("a period has a positive length")
    seconds = Decimal(int(elapsed.total_seconds() * 1_000_000))
    total = Decimal(int(length.total_seconds() * 1_000_000))
    return min(Decimal(1), max(Decimal(0), WIDE_CONTEXT.divide(seconds, total)))


def projected_spend(*, lines: Iterable[SpendLine], fraction: Decimal) -> Decimal:
    """The period's projected spend: accruing lines / fraction elapsed, plus the others as they are. With
    nothing elapsed yet (fraction 0), nothing is extrapolated."""
    items = list(lines)
    fixed = sum((line.amount for line in items if not line.accrues), Decimal(0))
    accruing = sum((line.amount for line in items if line.accrues), Decimal(0))
    if fraction <= 0:
        return fixed + accruing
    return WIDE_CONTEXT.add(fixed, WIDE_CONTEXT.divide(accruing, fraction))


@dataclass(frozen=True)
class Finding:
    """One threshold the projection crosses: the alert kind ("budget" or "commitment"), the key suffix
    (unique within the period), the threshold, and the severity."""

    kind: str
    key: str
    threshold: Decimal
    severity: str
    what: str


@dataclass(frozen=True)
class BudgetRules:
    budget: Decimal | None  # None: no budget set
    thresholds_pct: Sequence[int]
    thresholds_money: Sequence[Decimal]
    commitment: Decimal | None  # the profile's minimum spend in force, None without one
    plan_multiplier: Decimal
    late_fraction: Decimal  # the commitment check starts after this much of the period


def plan_of(rules: BudgetRules) -> Decimal | None:
    """The plan the projection is held against: the tenant's own budget when it set one (what it expects
    to spend), else the commitment of the profile in force (a minimum spend is a floor, so a tenant that set
    a budget far above it is not told it spends twice its minimum every period)."""
    if rules.budget is not None and rules.budget > 0:
        return rules.budget
    if rules.commitment is not None and rules.commitment > 0:
        return rules.commitment
    return None


def findings(*, projected: Decimal, fraction: Decimal, rules: BudgetRules) -> list[Finding]:
    """Every threshold crossed by the projected spend:
    - budget:pct:<p> when projected >= p % of the budget (critical from 100 %, else warning);
    - budget:money:<amount> when projected >= that amount (warning);
    - budget:over_plan when projected > plan_multiplier x the plan (critical);
    - commitment:under when, after `late_fraction` of the period, projected < the commitment (warning)."""
    found: list[Finding] = []
    if rules.budget is not None:
        for pct in sorted(set(rules.thresholds_pct)):
            threshold = WIDE_CONTEXT.divide(WIDE_CONTEXT.multiply(rules.budget, Decimal(pct)), HUNDRED)
            if projected >= threshold:
                severity = "critical" if pct >= 100 else "warning"
                found.append(Finding("budget", f"pct:{pct}", threshold, severity, f"{pct} % of the budget"))
    for amount in sorted(set(rules.thresholds_money)):
        if projected >= amount:
            found.append(Finding("budget", f"money:{amount}", amount, "warning", "the spend threshold"))
    plan = plan_of(rules)
    if plan is not None and plan > 0:
        ceiling = WIDE_CONTEXT.multiply(plan, rules.plan_multiplier)
        if projected > ceiling:
            found.append(
                Finding(
                    "budget",
                    "over_plan",
                    ceiling,
                    "critical",
                    f"{rules.plan_multiplier.normalize():f} x the plan",
                )
            )
    commitment = rules.commitment
    if (
        commitment is not None
        and commitment > 0
        and fraction >= rules.late_fraction
        and projected < commitment
    ):
        found.append(Finding("commitment", "under", commitment, "warning", "the committed minimum spend"))
    return found
