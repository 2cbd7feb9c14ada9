"""The alert's life cycle (ledger.alerts.services, docs/alerts.md): dedup by signature, notifications
exactly once when it fires and once when it resolves, acknowledgement, the old wrappers, and the
database's own constraints (raw SQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from common.errors import StateError, ValidationFailed
from ledger.alerts.selectors import alert_groups, alerts_all, alerts_for_tenant, alerts_open
from ledger.alerts.services import (
    alert_acknowledge,
    alert_fire,
    alert_resolve,
    alert_resolve_manually,
    alerts_resolve_except,
)
from ledger.alerts.signature import alert_signature
from ledger.models import Alert
from ledger.services.alerts import alert_raise, alerts_resolve
from tenants.models import Role, Tenant
from tenants.services import membership_grant
from tests.factories import TenantFactory, UserFactory, finance_user

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Capture = Callable[..., Any]
BUDGET_7_PERIOD = "9c052549037525f969b06f3e7e1ee8a725c4fc9f6c40c174a44959ebb9928149"
PLATFORM_LAG = "e4cbada08ae52938d85ed1d706ea698bee45772015b41985a87028206d1951f2"


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory.create(slug="acme", name="Acme")
    admin = UserFactory.create(username="acme-admin", email="admin@acme.test")
    membership_grant(user=admin, role=Role.CUSTOMER_ADMIN, tenant=tenant)
    viewer = UserFactory.create(username="acme-viewer", email="viewer@acme.test")
    membership_grant(user=viewer, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    return tenant


def _budget(tenant: Tenant, *, key: str = "period", now: datetime = T0, **kwargs: Any) -> Alert:
    return alert_fire(
        kind=Alert.Kind.BUDGET, tenant_id=tenant.pk, key=key, message=f"budget {key}", now=now, **kwargs
    )


def test_it_fires_a_new_alert_with_its_signature_and_group(tenant: Tenant) -> None:
    alert = _budget(tenant, severity="critical", details={"projected": "120.00"})
    assert (alert.state, alert.severity, alert.occurrences) == ("firing", "critical", 1)
    assert alert.signature == alert_signature(kind="budget", tenant_id=tenant.pk, key="period")
    assert alert.group_key == f"budget:{tenant.pk}"
    assert (alert.created_at, alert.last_seen_at, alert.details) == (T0, T0, {"projected": "120.00"})


def test_the_signature_is_the_sha256_of_kind_tenant_and_key() -> None:
    # known vectors: sha256(b"budget|7|period"), sha256(b"pipeline_lag|platform|lag")
    assert alert_signature(kind="budget", tenant_id=7, key="period") == BUDGET_7_PERIOD
    assert alert_signature(kind="pipeline_lag", tenant_id=None, key="lag") == PLATFORM_LAG


def test_firing_again_while_open_updates_the_same_alert(tenant: Tenant) -> None:
    first = _budget(tenant)
    again = alert_fire(
        kind="budget",
        tenant_id=tenant.pk,
        key="period",
        message="now 130 %",
        details={"pct": "130"},
        now=T0 + timedelta(minutes=5),
    )
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.occurrences, again.message, again.details) == (2, "now 130 %", {"pct": "130"})
    assert (again.created_at, again.last_seen_at) == (T0, T0 + timedelta(minutes=5))
    assert Alert.objects.count() == 1


def test_another_key_or_tenant_is_another_alert(tenant: Tenant) -> None:
    other = TenantFactory.create(slug="other")
    _budget(tenant, key="a")
    _budget(tenant, key="b")
    _budget(other, key="a")
    assert Alert.objects.count() == 3


def test_it_notifies_once_when_it_fires_and_once_when_it_resolves(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _budget(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _budget(tenant, now=T0 + timedelta(minutes=1))  # a repeat: no notification
    with django_capture_on_commit_callbacks(execute=True):
        resolved = alert_resolve(
            kind="budget", tenant_id=tenant.pk, key="period", now=T0 + timedelta(hours=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_resolve(kind="budget", tenant_id=tenant.pk, key="period") is None  # nothing open
    assert resolved is not None
    assert (resolved.state, resolved.resolved_at) == ("resolved", T0 + timedelta(hours=1))
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["admin@acme.test"], "[warning] Projected spend above the budget fired (Acme)"),
        (["admin@acme.test"], "[warning] Projected spend above the budget resolved (Acme)"),
    ]


def test_after_resolution_the_condition_opens_a_new_alert(tenant: Tenant) -> None:
    first = _budget(tenant)
    alert_resolve(kind="budget", tenant_id=tenant.pk, key="period", now=T0 + timedelta(hours=1))
    second = _budget(tenant, now=T0 + timedelta(hours=2))
    assert second.pk != first.pk
    assert list(Alert.objects.order_by("pk").values_list("state", flat=True)) == ["resolved", "firing"]


def test_acknowledging_is_recorded_and_not_notified(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture
) -> None:
    alert = _budget(tenant)
    user = finance_user(Role.FINANCE_EDITOR, username="ed")
    with django_capture_on_commit_callbacks(execute=True):
        acked = alert_acknowledge(alert=alert, actor=user, now=T0 + timedelta(minutes=3))
    assert (acked.state, acked.acknowledged_at, acked.acknowledged_by_id) == (
        "acknowledged",
        T0 + timedelta(minutes=3),
        user.pk,
    )
    assert mail.outbox == []


def test_an_acknowledged_alert_still_deduplicates_and_resolves(tenant: Tenant) -> None:
    alert = _budget(tenant)
    alert_acknowledge(alert=alert, actor=UserFactory.create(), now=T0)
    again = _budget(tenant, now=T0 + timedelta(minutes=1))
    assert (again.pk, again.state, again.occurrences) == (alert.pk, "acknowledged", 2)
    resolved = alert_resolve(kind="budget", tenant_id=tenant.pk, key="period", now=T0 + timedelta(hours=1))
    assert resolved is not None
    assert (resolved.state, resolved.acknowledged_at) == ("resolved", T0)


def test_a_resolved_alert_cannot_be_acknowledged(tenant: Tenant) -> None:
    alert = _budget(tenant)
    alert_resolve(kind="budget", tenant_id=tenant.pk, key="period")
    with pytest.raises(StateError, match="resolved"):
        alert_acknowledge(alert=alert, actor=UserFactory.create())


def test_manual_resolution_records_who(tenant: Tenant, django_capture_on_commit_callbacks: Capture) -> None:
    alert = _budget(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        resolved = alert_resolve_manually(
            alert=alert, actor=finance_user(Role.FINANCE_EDITOR, username="ed"), now=T0 + timedelta(hours=1)
        )
    assert (resolved.state, resolved.details["resolved_by"]) == ("resolved", "ed")
    assert [m.subject for m in mail.outbox] == ["[warning] Projected spend above the budget resolved (Acme)"]
    with pytest.raises(StateError, match="already resolved"):
        alert_resolve_manually(alert=resolved, actor=UserFactory.create())


def test_resolve_except_resolves_only_the_keys_no_longer_firing(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture
) -> None:
    other = TenantFactory.create(slug="other")
    for key in ("api:daily", "api:hourly", "storage:daily"):
        alert_fire(kind="anomaly", tenant_id=tenant.pk, key=key, message=key, now=T0)
    alert_fire(kind="anomaly", tenant_id=other.pk, key="api:daily", message="other", now=T0)
    alert_fire(kind="budget", tenant_id=tenant.pk, key="api:daily", message="budget", now=T0)
    with django_capture_on_commit_callbacks(execute=True):
        count = alerts_resolve_except(kind="anomaly", tenant_id=tenant.pk, keys_firing=["api:hourly"])
    assert count == 2
    open_keys = sorted(alerts_open().values_list("kind", "tenant__slug", "key"))
    assert open_keys == [
        ("anomaly", "acme", "api:hourly"),
        ("anomaly", "other", "api:daily"),
        ("budget", "acme", "api:daily"),
    ]
    assert len(mail.outbox) == 2


def test_resolve_except_for_the_platform_leaves_tenant_alerts(tenant: Tenant) -> None:
    alert_fire(kind="pipeline_lag", tenant_id=None, key="lag", message="lag", now=T0)
    alert_fire(kind="pipeline_lag", tenant_id=tenant.pk, key="lag", message="lag", now=T0)
    assert alerts_resolve_except(kind="pipeline_lag", tenant_id=None, keys_firing=[]) == 1
    assert list(alerts_open().values_list("tenant__slug", flat=True)) == ["acme"]


def test_platform_alerts_are_mailed_to_alert_emails(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture
) -> None:
    with (
        override_settings(ALERT_EMAILS=["oncall@platform.test"]),
        django_capture_on_commit_callbacks(execute=True),
    ):
        alert_fire(
            kind="backlog", tenant_id=None, key="ingest", message="backlog at 85 %", severity="critical"
        )
        alert_fire(kind="close", tenant_id=tenant.pk, key="x", message="close failed")  # operator's kind
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["oncall@platform.test"], "[critical] Backlog near the backpressure limit fired"),
        (["oncall@platform.test"], "[warning] Period close could not finish for a tenant fired (Acme)"),
    ]
    assert "backlog at 85 %" in mail.outbox[0].body


def test_unknown_kind_or_severity_is_refused(tenant: Tenant) -> None:
    with pytest.raises(ValidationFailed, match="unknown alert kind 'nope'"):
        alert_fire(kind="nope", tenant_id=tenant.pk, key="k", message="m")
    with pytest.raises(ValidationFailed, match="unknown alert severity 'loud'"):
        alert_fire(kind="budget", tenant_id=tenant.pk, key="k", message="m", severity="loud")


def test_old_alert_raise_deduplicates_by_message_and_alerts_resolve_resolves(tenant: Tenant) -> None:
    first = alert_raise(kind=Alert.Kind.CLOSE, tenant_id=tenant.pk, message="boom", now=T0)
    again = alert_raise(kind=Alert.Kind.CLOSE, tenant_id=tenant.pk, message="boom", now=T0)
    assert (again.pk, again.key, again.occurrences) == (first.pk, "boom", 2)
    assert alerts_resolve(kind=Alert.Kind.CLOSE, tenant_ids=[tenant.pk], now=T0) == 1
    first.refresh_from_db()
    assert (first.state, first.resolved_at) == ("resolved", T0)


def test_customers_see_only_their_customer_facing_alerts(tenant: Tenant) -> None:
    other = TenantFactory.create(slug="other")
    mine = _budget(tenant)
    _budget(other)
    alert_fire(kind="close", tenant_id=tenant.pk, key="x", message="internal")
    assert list(alerts_for_tenant(tenant=tenant)) == [mine]
    assert alerts_all(kind="budget").count() == 2


def test_groups_count_alerts_per_state(tenant: Tenant) -> None:
    _budget(tenant, key="a")
    b = _budget(tenant, key="b")
    _budget(tenant, key="c")
    alert_acknowledge(alert=b, actor=UserFactory.create(), now=T0)
    alert_resolve(kind="budget", tenant_id=tenant.pk, key="c", now=T0 + timedelta(hours=1))
    alert_fire(kind="anomaly", tenant_id=tenant.pk, key="x", message="x", now=T0 - timedelta(days=1))
    alert_resolve(kind="anomaly", tenant_id=tenant.pk, key="x", now=T0)
    groups = alert_groups(alerts_all())
    assert [(g.group_key, g.firing, g.acknowledged, g.resolved) for g in groups] == [
        (f"budget:{tenant.pk}", 1, 1, 1),
        (f"anomaly:{tenant.pk}", 0, 0, 1),
    ]


# The database's own rules, whatever the code does.


def _sql(statement: str, params: list[int | str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_database_refuses_a_second_open_alert_of_one_signature(tenant: Tenant) -> None:
    alert = _budget(tenant)
    with pytest.raises(IntegrityError, match="alert_one_open_per_signature"):
        _sql(
            "INSERT INTO ledger_alert (kind, state, severity, signature, key, group_key, tenant_id, message, "
            "details, created_at, last_seen_at, occurrences) "
            "VALUES ('budget', 'firing', 'warning', %s, 'period', 'g', %s, 'm', '{}', now(), now(), 1)",
            [alert.signature, tenant.pk],
        )


@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("state = 'resolved'", "alert_resolved_iff_resolved_at"),
        ("resolved_at = now()", "alert_resolved_iff_resolved_at"),
        ("state = 'acknowledged'", "alert_acknowledged_has_time"),
        ("state = 'snoozed'", "alert_state_valid"),
        ("severity = 'loud'", "alert_severity_valid"),
        ("signature = 'abc'", "alert_signature_hex"),
        ("occurrences = 0", "alert_occurrences_positive"),
    ],
)
def test_the_database_refuses_inconsistent_states(tenant: Tenant, assignment: str, constraint: str) -> None:
    alert = _budget(tenant)
    with pytest.raises(IntegrityError, match=constraint):
        _sql(f"UPDATE ledger_alert SET {assignment} WHERE id = %s", [alert.pk])


def test_the_database_accepts_a_resolved_alert_with_its_time(tenant: Tenant) -> None:
    alert = _budget(tenant)
    _sql("UPDATE ledger_alert SET state = 'resolved', resolved_at = now() WHERE id = %s", [alert.pk])
    alert.refresh_from_db()
    assert alert.state == "resolved"
