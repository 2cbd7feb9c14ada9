"""Budgets and commitments (billing.monitoring.budgets): projected spend from the running estimate against
the budget's % and money thresholds, the plan (2x by default) and, late in the period, the commitment;
fired and resolved through the alert services; the customer's settings validated."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.monitoring import budgets
from billing.monitoring.budgets import budget_set, budgets_evaluate
from billing.rating.estimates import usage_estimates_refresh
from common.errors import ValidationFailed
from ledger.models import Alert
from tests.factories.ledger import World, usage, world

pytestmark = pytest.mark.django_db

MID_NOVEMBER = datetime(2026, 11, 16, tzinfo=UTC)  # half of November has passed
LATE_NOVEMBER = datetime(2026, 11, 25, tzinfo=UTC)  # 80 %


def _spent(w: World, units: str, *, now: datetime) -> None:
    """`units` api_calls (0.10 EUR each) rated on November 10, and the running estimate refreshed."""
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 10, 9, tzinfo=UTC), units)
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=now)


def _open(tenant_id: int) -> dict[str, tuple[str, str]]:
    return {
        a.key: (a.kind, a.severity)
        for a in Alert.objects.filter(tenant_id=tenant_id).exclude(state=Alert.State.RESOLVED)
    }


def test_it_projects_the_estimate_to_the_period_end_and_fires_the_thresholds_it_crosses() -> None:
    # given 1,000.00 EUR spent by mid-November (projected 2,000.00), a budget of 2,000 at 50 % and 100 %
    w = world()
    _spent(w, "10000", now=MID_NOVEMBER)
    budget_set(
        tenant=w.tenant, amount="2000", thresholds_pct=[50, 100], thresholds_money=["1500.00"],
        plan_multiplier="2", actor=None, now=MID_NOVEMBER,
    )  # fmt: skip
    # when
    run = budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    # then
    assert (run.evaluated, run.fired, run.failed) == (1, 3, 0)
    assert _open(w.tenant.pk) == {
        "2026-11:pct:50": ("budget", "warning"),
        "2026-11:pct:100": ("budget", "critical"),
        "2026-11:money:1500.00": ("budget", "warning"),
    }
    alert = Alert.objects.get(key="2026-11:pct:100")
    assert (alert.details["spent"], alert.details["projected"], alert.details["threshold"]) == (
        "1000.00",
        "2000.00",
        "2000.00",
    )
    assert alert.message == (
        "Period 2026-11: projected spend €2,000.00 (so far €1,000.00) reaches 100 % of the budget (€2,000.00)."
    )


def test_it_fires_above_twice_the_commitment_without_any_budget() -> None:
    w = world(commitments={"minimum_spend": "500.00"})
    _spent(w, "10000", now=MID_NOVEMBER)  # projected 2,000.00 > 2 x 500.00
    budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk) == {"2026-11:over_plan": ("budget", "critical")}
    assert Alert.objects.get(key="2026-11:over_plan").details["threshold"] == "1000.00"


def test_it_fires_when_spend_is_projected_below_the_commitment_late_in_the_period() -> None:
    w = world(commitments={"minimum_spend": "5000.00"})
    _spent(w, "1000", now=LATE_NOVEMBER)  # 100.00 spent, 125.00 projected at 80 % of the period
    budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk) == {}  # not late yet
    budgets_evaluate(now=LATE_NOVEMBER, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk) == {"2026-11:under": ("commitment", "warning")}
    assert Alert.objects.get(key="2026-11:under").details["projected"] == "125.00"


def test_thresholds_no_longer_crossed_resolve_and_a_repeat_does_not_open_another() -> None:
    w = world()
    _spent(w, "10000", now=MID_NOVEMBER)
    budget_set(
        tenant=w.tenant, amount="2000", thresholds_pct=[100], thresholds_money=[], plan_multiplier="2",
        actor=None, now=MID_NOVEMBER,
    )  # fmt: skip
    budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    alert = Alert.objects.get(tenant=w.tenant)
    assert (alert.state, alert.occurrences) == ("firing", 2)
    # the customer raises the budget: the projection no longer reaches 100 %
    budget_set(
        tenant=w.tenant, amount="5000", thresholds_pct=[100], thresholds_money=[], plan_multiplier="2",
        actor=None, now=MID_NOVEMBER,
    )  # fmt: skip
    run = budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    alert.refresh_from_db()
    assert (run.resolved, alert.state) == (1, "resolved")


def test_nothing_is_extrapolated_in_the_first_day_of_the_period() -> None:
    w = world()
    early = datetime(2026, 11, 1, 12, tzinfo=UTC)
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 1, 9, tzinfo=UTC), "10000")
    usage_estimates_refresh(tenant_ids={w.tenant.pk}, now=early)
    budget_set(
        tenant=w.tenant, amount="2000", thresholds_pct=[100], thresholds_money=[], plan_multiplier="2",
        actor=None, now=early,
    )  # fmt: skip
    budgets_evaluate(now=early, tenant_ids=[w.tenant.pk])
    assert _open(w.tenant.pk) == {}  # 1,000.00 so far, not x 60


def test_a_tenant_that_fails_is_counted_and_the_others_are_evaluated(monkeypatch: Any) -> None:
    bad, good = world(slug="bad", commitments={"minimum_spend": "1.00"}), world(slug="good")
    usage(bad.tenant, "api_calls", bad.version, datetime(2026, 11, 10, 9, tzinfo=UTC), "10000")
    budget_set(
        tenant=good.tenant, amount="1", thresholds_pct=[100], thresholds_money=[], plan_multiplier="2",
        actor=None, now=MID_NOVEMBER,
    )  # fmt: skip
    _spent(good, "100", now=MID_NOVEMBER)
    real = budgets.budget_status

    def failing(**kwargs: Any) -> Any:
        if kwargs["tenant"].pk == bad.tenant.pk:
            raise ArithmeticError("boom")
        return real(**kwargs)

    monkeypatch.setattr(budgets, "budget_status", failing)
    run = budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[bad.tenant.pk, good.tenant.pk])
    assert (run.evaluated, run.failed) == (1, 1)
    assert _open(bad.tenant.pk) == {}
    assert _open(good.tenant.pk) == {
        "2026-11:pct:100": ("budget", "critical"),
        "2026-11:over_plan": ("budget", "critical"),  # the plan is the budget: 2 x 1.00
    }


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        ("amount", {"amount": "12.345"}, "EUR amounts have at most 2 decimals"),
        ("amount", {"amount": "-5"}, "must be greater than 0"),
        ("amount", {"amount": "1e3"}, "must be a decimal number such as \"12.50\" (got '1e3')"),
        ("thresholds_pct", {"thresholds_pct": ["0"]}, "0 is not between 1 and 1000"),
        ("thresholds_pct", {"thresholds_pct": ["eighty"]}, "'eighty' is not a whole percentage"),
        ("thresholds_money[0]", {"thresholds_money": ["0.001"]}, "EUR amounts have at most 2 decimals"),
        ("plan_multiplier", {"plan_multiplier": "0.5"}, "must be between 1 and 100, 2 decimals at most"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(field: str, values: dict[str, Any], message: str) -> None:
    w = world()
    arguments: dict[str, Any] = {
        "amount": "100",
        "thresholds_pct": [80],
        "thresholds_money": [],
        "plan_multiplier": "2",
        **values,
    }
    with pytest.raises(ValidationFailed) as caught:
        budget_set(tenant=w.tenant, actor=None, **arguments)
    assert [(i.field, i.message) for i in caught.value.issues] == [(field, message)]


def test_settings_are_stored_sorted_and_without_duplicates() -> None:
    w = world()
    budget = budget_set(
        tenant=w.tenant, amount="1000.50", thresholds_pct=["100", 80, 80], thresholds_money=["20", "5.5"],
        plan_multiplier="1.5", actor=None,
    )  # fmt: skip
    assert (budget.amount, budget.thresholds_pct, budget.thresholds_money, budget.plan_multiplier) == (
        Decimal("1000.50"),
        [80, 100],
        ["5.5", "20"],
        Decimal("1.5"),
    )


def test_a_budget_is_the_plan_even_where_a_commitment_is_in_force() -> None:
    # given a minimum spend of 500.00 and a budget of 3,000.00; 2,000.00 projected (4 x the minimum)
    w = world(commitments={"minimum_spend": "500.00"})
    _spent(w, "10000", now=MID_NOVEMBER)
    budget_set(
        tenant=w.tenant, amount="3000", thresholds_pct=[100], thresholds_money=[],
        plan_multiplier="2", actor=None, now=MID_NOVEMBER,
    )  # fmt: skip
    # when
    budgets_evaluate(now=MID_NOVEMBER, tenant_ids=[w.tenant.pk])
    # then nothing: under the budget, and far from twice it
    assert _open(w.tenant.pk) == {}
