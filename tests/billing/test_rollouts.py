"""Canary rollouts (billing/profiles/rollouts.py): scheduling a cohort, the guardrails that halt a canary
with an alert, promotion to everyone, and the rollback that makes the previous body effective from now as
a new version while past ratings stay as they were.

The instants lie after the real clock: the database fixes a cohort once its version is in force by
PostgreSQL's now()."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction

from billing.governance.rollout_tasks import rollout_guardrails_check_task
from billing.governance.rollout_watch import cohort_tenants, rollout_watch
from billing.governance.rollouts import (
    rollout_guardrails_check,
    rollout_promote,
    rollout_rollback,
    rollout_schedule,
)
from billing.profiles.models import ProfileVersion
from billing.profiles.rollout_models import Rollout, RolloutTenant, in_percentage_cohort
from billing.profiles.selectors import resolve_version
from billing.profiles.signatures import version_verifies
from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.ingest import usage_ingest
from common.errors import Conflict, PermissionDenied, StateError, ValidationFailed
from ledger.audit.models import AuditRecord
from ledger.models import Alert
from ledger.services.disputes import dispute_open
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    TenantFactory,
    UserFactory,
    finance_user,
    profile_document,
)
from tests.factories.ledger import document_invoice, sku
from tests.factories.usage import usage_env

__all__ = ["usage_env"]

pytestmark = pytest.mark.django_db

START = datetime(2031, 3, 1, tzinfo=UTC)  # the old version's
CANARY_AT = datetime(2031, 3, 10, tzinfo=UTC)  # the canary's effective_from
BEFORE = CANARY_AT - timedelta(days=1)
DURING = datetime(2031, 3, 15, 12, tzinfo=UTC)
TOLERANCE = timedelta(seconds=300)  # USAGE_FUTURE_TOLERANCE_SECONDS (config/settings/base.py)


@pytest.fixture
def plan(usage_env):
    """Three tenants on one price list (api_calls at 0.10), and an approved v2 at 0.20 from CANARY_AT."""
    sku("api_calls")
    profile = BillingProfileFactory.create(code="std")
    old = ApprovedVersionFactory.create(
        profile=profile, number=1, effective_from=START, body=profile_document("std", unit_amount="0.10")
    )
    new = ApprovedVersionFactory.create(
        profile=profile, number=2, effective_from=CANARY_AT, body=profile_document("std", unit_amount="0.20")
    )
    tenants = [TenantFactory.create(slug=slug) for slug in ("alpha", "beta", "gamma")]
    for tenant in tenants:
        ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=START)
    return {"profile": profile, "old": old, "new": new, "tenants": tenants, "approver": finance_user()}


def _schedule(plan, **kwargs):
    defaults = {
        "version": plan["new"],
        "actor": plan["approver"],
        "tenants": [plan["tenants"][0]],
        "max_bill_change_pct": "150",
        "max_disputes": 0,
        "now": BEFORE,
    }
    return rollout_schedule(**{**defaults, **kwargs})


def test_it_schedules_an_explicit_cohort_and_records_it(plan):
    rollout = _schedule(plan)

    assert rollout.status == "canary"
    assert list(RolloutTenant.objects.filter(rollout=rollout).values_list("tenant__slug", flat=True)) == [
        "alpha"
    ]
    record = AuditRecord.objects.get(action="rollout.schedule")
    assert record.after is not None
    assert record.after["tenants"] == [plan["tenants"][0].pk]


def test_the_canary_prices_only_its_cohort_until_promoted(plan):
    alpha, beta, _gamma = plan["tenants"]
    _schedule(plan)

    assert resolve_version(tenant=alpha, sku="api_calls", at=DURING) == plan["new"]
    assert resolve_version(tenant=beta, sku="api_calls", at=DURING) == plan["old"]
    assert resolve_version(tenant=alpha, sku="api_calls", at=BEFORE) == plan["old"]


def test_a_percentage_cohort_is_the_stable_hash_of_each_tenant(plan):
    rollout = _schedule(plan, tenants=None, percent="50")

    draws = {
        t.slug: int(hashlib.sha256(f"{rollout.salt}:{t.pk}".encode()).hexdigest()[:8], 16) % 10000
        for t in plan["tenants"]
    }
    expected = sorted(slug for slug, draw in draws.items() if draw < 5000)
    assert [t.slug for t in cohort_tenants(rollout=rollout, at=DURING)] == expected
    for tenant in plan["tenants"]:
        in_cohort = tenant.slug in expected
        assert resolve_version(tenant=tenant, sku="api_calls", at=DURING) == (
            plan["new"] if in_cohort else plan["old"]
        )


def test_the_percentage_draw_takes_percent_times_100_of_10000():
    salt = "s"
    draw = int(hashlib.sha256(b"s:7").hexdigest()[:8], 16) % 10000
    assert in_percentage_cohort(salt=salt, tenant_id=7, percent=Decimal(draw + 1) / 100) is True
    assert in_percentage_cohort(salt=salt, tenant_id=7, percent=Decimal(draw) / 100) is False


def test_scheduling_needs_the_approver_role(plan):
    with pytest.raises(PermissionDenied):
        _schedule(plan, actor=finance_user(Role.FINANCE_EDITOR))


def test_a_version_already_in_force_cannot_start_as_a_canary(plan):
    with pytest.raises(StateError, match="already in force"):
        _schedule(plan, now=CANARY_AT)


def test_a_cohort_is_a_list_or_a_percentage_not_both(plan):
    with pytest.raises(ValidationFailed) as err:
        _schedule(plan, percent="10")
    assert err.value.issues[0].field == "cohort"


def test_a_tenant_of_another_price_list_cannot_be_in_the_cohort(plan):
    stranger = TenantFactory.create(slug="stranger")
    with pytest.raises(ValidationFailed) as err:
        _schedule(plan, tenants=[stranger])
    assert err.value.issues[0].message == "not on the price list: stranger"


def test_one_canary_per_price_list_at_a_time(plan):
    _schedule(plan)
    # approved after v2 but starting before it: v2's canary is not overtaken, so it holds the slot
    earlier = ApprovedVersionFactory.create(
        profile=plan["profile"], number=3, effective_from=CANARY_AT - timedelta(hours=12)
    )
    with pytest.raises(Conflict, match="still a canary"):
        _schedule(plan, version=earlier)


def _usage(tenant, at, quantity):
    """Events of `tenant` ingested and rated with the clock at `at`."""
    with time_machine.travel(at, tick=False):
        result = usage_ingest(
            tenant=tenant,
            events=[
                {
                    "event_id": f"{tenant.slug}-{at:%d%H}",
                    "sku": "api_calls",
                    "quantity": quantity,
                    "timestamp": at.isoformat(),
                }
            ],
        )
        assert result.status_code in (200, 202), result
        usage_rate_pending()


def test_a_bill_change_beyond_the_guardrail_halts_the_canary_with_an_alert(plan):
    alpha = plan["tenants"][0]
    rollout = _schedule(plan, max_bill_change_pct="50")
    _usage(alpha, datetime(2031, 3, 12, 9, tzinfo=UTC), "1000")

    halted = rollout_guardrails_check(now=DURING)

    assert [r.pk for r in halted] == [rollout.pk]
    rollout.refresh_from_db()
    assert rollout.status == "halted"
    assert rollout.halted_at == DURING
    assert rollout.halt_reason == (
        "estimated bill change 100.00 % for tenant alpha exceeds the 50.00 % guardrail "
        "(100.00 -> 200.00 EUR, period 2031-03)"
    )
    alert = Alert.objects.get(kind="rollout")
    assert alert.message == f"rollout of std v2 halted: {rollout.halt_reason}"
    assert AuditRecord.objects.filter(action="rollout.halt", object_id=str(rollout.pk)).count() == 1


def test_the_beat_task_halts_what_breaches(plan):
    alpha = plan["tenants"][0]
    rollout = _schedule(plan, max_bill_change_pct="50")
    _usage(alpha, datetime(2031, 3, 12, 9, tzinfo=UTC), "1000")

    with time_machine.travel(DURING, tick=False):
        assert rollout_guardrails_check_task() == [rollout.pk]


def test_within_the_guardrails_nothing_halts(plan):
    alpha = plan["tenants"][0]
    rollout = _schedule(plan, max_bill_change_pct="100")
    _usage(alpha, datetime(2031, 3, 12, 9, tzinfo=UTC), "1000")

    assert rollout_guardrails_check(now=DURING) == []
    watch = rollout_watch(rollout=rollout, now=DURING)
    row = watch.rows[0]
    assert (row.replaced_total, row.canary_total, row.change_pct) == (
        Decimal("100.00"),
        Decimal("200.00"),
        Decimal("100.00"),
    )
    rollout.refresh_from_db()
    assert rollout.status == "canary"


def test_disputes_of_the_cohort_beyond_the_guardrail_halt_the_canary(plan):
    alpha = plan["tenants"][0]
    rollout = _schedule(plan, max_disputes=0)
    customer = UserFactory.create(username="alpha-user")
    membership_grant(user=customer, role=Role.CUSTOMER_ADMIN, tenant=alpha)
    invoice = document_invoice(alpha, lines=[{"amount": "10.00"}])
    dispute_open(
        tenant=alpha,
        invoice=invoice,
        reason="wrong_price",
        message="too much",
        user=customer,
        now=datetime(2031, 3, 11, tzinfo=UTC),
    )

    rollout_guardrails_check(now=DURING)

    rollout.refresh_from_db()
    assert rollout.status == "halted"
    assert rollout.halt_reason == (
        "1 disputes opened by the cohort since the canary started exceed the guardrail of 0"
    )


def test_a_canary_not_started_is_not_checked(plan):
    _schedule(plan, max_bill_change_pct="0", max_disputes=0)

    assert rollout_guardrails_check(now=BEFORE) == []


def test_promotion_moves_everyone_from_then_on(plan):
    alpha, beta, _gamma = plan["tenants"]
    rollout = _schedule(plan)
    promoted_at = datetime(2031, 3, 20, tzinfo=UTC)

    rollout_promote(rollout=rollout, actor=plan["approver"], now=promoted_at)

    rollout.refresh_from_db()
    starts = promoted_at + TOLERANCE  # usage ingested up to that far ahead may be rated already
    assert (rollout.status, rollout.promoted_at) == ("promoted", starts)
    assert resolve_version(tenant=beta, sku="api_calls", at=starts - timedelta(seconds=1)) == plan["old"]
    assert resolve_version(tenant=beta, sku="api_calls", at=starts) == plan["new"]
    assert resolve_version(tenant=alpha, sku="api_calls", at=DURING) == plan["new"]


def test_a_canary_cannot_be_promoted_before_it_starts(plan):
    rollout = _schedule(plan)
    with pytest.raises(StateError, match="not started"):
        rollout_promote(rollout=rollout, actor=plan["approver"], now=BEFORE)


def test_a_halted_canary_can_still_be_promoted(plan):
    rollout = _schedule(plan)
    rollout.status, rollout.halted_at, rollout.halt_reason = "halted", DURING, "a guardrail"
    rollout.save()

    promoted = rollout_promote(rollout=rollout, actor=plan["approver"], now=DURING + timedelta(hours=1))

    assert promoted.status == "promoted"
    assert promoted.halt_reason == "a guardrail"


def test_rollback_restores_the_previous_body_from_now_and_keeps_past_ratings(plan):
    alpha, beta, _gamma = plan["tenants"]
    rollout = _schedule(plan)
    first = datetime(2031, 3, 12, 9, tzinfo=UTC)
    _usage(alpha, first, "1000")
    _usage(beta, first, "1000")
    before_rollback = list(
        UsageAggregate.objects.order_by("tenant__slug").values_list(
            "tenant__slug", "profile_version_id", "quantity"
        )
    )
    rolled_back_at = datetime(2031, 3, 14, tzinfo=UTC)

    rollout_rollback(rollout=rollout, actor=plan["approver"], reason="too expensive", now=rolled_back_at)

    rollout.refresh_from_db()
    restored = rollout.rollback_version
    plan["new"].refresh_from_db()
    assert rollout.status == "rolled_back"
    assert plan["new"].status == ProfileVersion.Status.ROLLED_BACK
    assert (restored.number, restored.status, restored.effective_from) == (
        3,
        "approved",
        rolled_back_at + TOLERANCE,
    )
    assert (restored.body, restored.body_sha256) == (plan["old"].body, plan["old"].body_sha256)
    assert restored.author_id == plan["old"].author_id
    assert version_verifies(restored) is True  # the restored version's approvals, copied
    # ratings made before the rollback are what they were; usage after it is priced by the restored body
    assert (
        list(
            UsageAggregate.objects.order_by("tenant__slug").values_list(
                "tenant__slug", "profile_version_id", "quantity"
            )
        )
        == before_rollback
    )
    assert before_rollback == [
        ("alpha", plan["new"].pk, Decimal("1000.000000000000")),
        ("beta", plan["old"].pk, Decimal("1000.000000000000")),
    ]
    _usage(alpha, datetime(2031, 3, 16, 9, tzinfo=UTC), "5")
    _usage(alpha, datetime(2031, 3, 13, 9, tzinfo=UTC), "7")  # late, but before the rollback: the canary
    assert dict(UsageAggregate.objects.filter(tenant=alpha).values_list("hour", "profile_version_id")) == {
        first: plan["new"].pk,
        datetime(2031, 3, 13, 9, tzinfo=UTC): plan["new"].pk,
        datetime(2031, 3, 16, 9, tzinfo=UTC): restored.pk,
    }
    assert resolve_version(tenant=beta, sku="api_calls", at=DURING) == restored


def test_a_canary_overtaken_by_a_later_version_is_neither_promoted_nor_rolled_back(plan):
    rollout = _schedule(plan)
    ApprovedVersionFactory.create(
        profile=plan["profile"], number=3, effective_from=DURING - timedelta(days=1)
    )

    with pytest.raises(StateError, match="version 3 of the price list takes effect after the canary"):
        rollout_promote(rollout=rollout, actor=plan["approver"], now=DURING)
    with pytest.raises(StateError, match="can no longer be rolled back"):
        rollout_rollback(rollout=rollout, actor=plan["approver"], now=DURING)


def test_rollback_is_refused_after_promotion(plan):
    rollout = _schedule(plan)
    rollout_promote(rollout=rollout, actor=plan["approver"], now=DURING)
    with pytest.raises(StateError, match="promoted"):
        rollout_rollback(rollout=rollout, actor=plan["approver"], now=DURING + timedelta(hours=1))


def test_the_database_refuses_a_move_back_to_canary(plan):
    rollout = _schedule(plan)
    rollout_promote(rollout=rollout, actor=plan["approver"], now=DURING)
    rollout.refresh_from_db()
    rollout.status = "canary"
    with pytest.raises(IntegrityError, match="not allowed"), transaction.atomic():
        rollout.save()


def test_the_database_writes_a_promotion_once(plan):
    rollout = _schedule(plan)
    rollout_promote(rollout=rollout, actor=plan["approver"], now=DURING)
    rollout.refresh_from_db()
    rollout.promoted_at = DURING + timedelta(days=1)
    with pytest.raises(IntegrityError, match="never changes"), transaction.atomic():
        rollout.save()


def test_the_database_fixes_the_cohort_once_the_version_is_in_force(plan):
    # a version already in force by the database's clock
    past = ApprovedVersionFactory.create(
        profile=BillingProfileFactory.create(code="past"),
        number=1,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    rollout = Rollout.objects.create(
        version=past,
        cohort_kind="explicit",
        salt="x",
        max_bill_change_pct=1,
        max_disputes=0,
        created_by=plan["approver"],
        created_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    with pytest.raises(IntegrityError, match="cohort is fixed"), transaction.atomic():
        RolloutTenant.objects.create(rollout=rollout, tenant=plan["tenants"][0])


def test_the_database_refuses_deleting_a_rollout(plan):
    rollout = _schedule(plan, tenants=None, percent="10")
    with pytest.raises(IntegrityError, match="never deleted"), transaction.atomic():
        Rollout.objects.filter(pk=rollout.pk).delete()


def test_promotion_and_rollback_start_after_the_usage_future_tolerance_to_the_next_second(plan, settings):
    settings.USAGE_FUTURE_TOLERANCE_SECONDS = 60
    rollout = _schedule(plan)
    asked = datetime(2031, 3, 20, 8, 0, 0, 250_000, tzinfo=UTC)

    promoted = rollout_promote(rollout=rollout, actor=plan["approver"], now=asked)

    assert promoted.promoted_at == datetime(2031, 3, 20, 8, 1, 1, tzinfo=UTC)
    beta = plan["tenants"][1]
    # an event ingested at `asked` with a timestamp 60 s ahead was rated by the old version: it stays so
    assert resolve_version(tenant=beta, sku="api_calls", at=asked + timedelta(seconds=60)) == plan["old"]


def test_a_rollback_leaves_the_cohort_on_the_canary_until_the_restore_starts(plan):
    alpha = plan["tenants"][0]
    rollout = _schedule(plan)

    rollout_rollback(rollout=rollout, actor=plan["approver"], now=DURING)

    assert resolve_version(tenant=alpha, sku="api_calls", at=DURING + TOLERANCE / 2) == plan["new"]
    rollout.refresh_from_db()
    assert resolve_version(tenant=alpha, sku="api_calls", at=DURING + TOLERANCE) == rollout.rollback_version


def test_a_canary_overtaken_by_a_later_approved_version_no_longer_blocks_a_new_canary(plan):
    _schedule(plan)
    later = ApprovedVersionFactory.create(
        profile=plan["profile"],
        number=3,
        effective_from=CANARY_AT + timedelta(days=20),
        body=profile_document("std", unit_amount="0.15"),
    )

    second = _schedule(plan, version=later, tenants=[plan["tenants"][1]])

    assert (second.version_id, second.status) == (later.pk, "canary")


def test_a_cohort_tenant_whose_estimate_is_blocked_breaches_the_guardrails(plan):
    alpha = plan["tenants"][0]
    sku("storage")
    unpriced = ApprovedVersionFactory.create(
        profile=plan["profile"],
        number=3,
        effective_from=CANARY_AT + timedelta(days=1),
        body=profile_document("std", sku="storage", unit_amount="0.20"),
    )
    _schedule(plan, version=unpriced, max_bill_change_pct="1000", now=CANARY_AT - timedelta(hours=1))
    _usage(alpha, datetime(2031, 3, 10, 9, tzinfo=UTC), "1000")  # rated by v2, before the canary starts

    halted = rollout_guardrails_check(now=DURING)

    assert len(halted) == 1
    assert halted[0].halt_reason.startswith(
        "estimated bill of tenant alpha cannot be compared (period 2031-03): "
    )
