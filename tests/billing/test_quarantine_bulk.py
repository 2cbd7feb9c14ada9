"""Bulk re-attribution of quarantined usage (billing.usage.quarantine.usage_events_reattribute): a reason
group or chosen events go to a tenant (and project), are rated and billed; the bulk road agrees with the
single-event road; what would stay quarantined is left and counted; the per-request cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.close.services import close_period
from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import RatingBatch, UsageEvent
from billing.usage.quarantine import usage_event_reattribute, usage_events_reattribute
from billing.usage.selectors import quarantine_breakdown, quarantine_groups
from common.errors import PermissionDenied, ValidationFailed
from tenants.services import api_key_create
from tests.factories import ProjectFactory
from tests.factories.ledger import after_grace, invoice_of, tax_rule
from tests.factories.usage import event, post_usage, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def _platform_events(client, slug: str, quantities: list[str], *, prefix: str = "e") -> None:
    secret = api_key_create(tenant=None).secret
    events = [event(f"{prefix}-{i}", tenant=slug, quantity=q) for i, q in enumerate(quantities, 1)]
    response = post_usage(client, secret, events)
    assert response.status_code in (200, 202), response.content


def test_a_reason_group_is_reattributed_rated_and_invoiced(client, staff):
    # given three events sent for a misspelt tenant: quarantined as unknown_tenant
    world = usage_world(slug="acme")
    tax_rule("DE", "19")
    _platform_events(client, "acme-typo", ["7", "5", "8"])
    assert [(g.reason, g.events) for g in quarantine_groups()] == [("unknown_tenant", 3)]

    # when finance re-attributes the group to acme
    result = usage_events_reattribute(reason="unknown_tenant", tenant=world.tenant, actor=staff.user)

    # then they are accepted in one re-attribution batch, rated, and billed: 20 x 0.10 = 2.00 + 19 %
    assert (result.reattributed, result.left, result.batches, result.remaining) == (3, {}, 1, 0)
    assert set(UsageEvent.objects.values_list("status", "tenant_id", "reattributed_by_id")) == {
        ("accepted", world.tenant.pk, staff.user.pk)
    }
    assert RatingBatch.objects.get(source="reattribution").event_count == 3
    usage_rate_pending()
    assert UsageAggregate.objects.get(tenant=world.tenant).quantity == Decimal("20")
    invoice = invoice_of(close_period(tenant=world.tenant, period_key="2026-11", now=after_grace()))
    line = invoice.lines.get(kind="usage")
    assert (line.quantity, line.amount) == (Decimal("20"), Decimal("2.00"))
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("2.00"),
        Decimal("0.38"),
        Decimal("2.38"),
    )


def test_the_bulk_road_agrees_with_the_single_event_road(client, staff):
    acme = usage_world(slug="acme")
    beta = usage_world(slug="beta")
    _platform_events(client, "acme-typo", ["1", "2", "3.5"])
    _platform_events(client, "beta-typo", ["1", "2", "3.5"])

    usage_events_reattribute(
        reason="unknown_tenant", tenant_slug="acme-typo", tenant=acme.tenant, actor=staff.user
    )
    for one in UsageEvent.objects.filter(tenant_slug="beta-typo").order_by("pk"):
        usage_event_reattribute(event=one, tenant=beta.tenant, actor=staff.user)
    usage_rate_pending()

    def seen(tenant_id: int) -> list[tuple[object, ...]]:
        return list(
            UsageEvent.objects.filter(tenant_id=tenant_id)
            .order_by("event_id")
            .values_list(
                "event_id", "status", "quarantine_reason", "late", "profile_version_id", "reattributed_by_id"
            )
        )

    assert seen(acme.tenant.pk) == seen(beta.tenant.pk)
    assert [e[0] for e in seen(acme.tenant.pk)] == ["e-1", "e-2", "e-3"]
    quantities = {
        a.tenant_id: (a.quantity, a.event_count)
        for a in UsageAggregate.objects.filter(tenant__in=[acme.tenant, beta.tenant])
    }
    assert quantities == {acme.tenant.pk: (Decimal("6.5"), 3), beta.tenant.pk: (Decimal("6.5"), 3)}
    assert set(RatingBatch.objects.filter(source="reattribution").values_list("status", flat=True)) == {
        "rated"
    }


def test_what_would_stay_quarantined_is_left_and_counted(client, staff):
    world = usage_world(slug="acme")
    post_usage(client, world, [event("e-1")])  # acme already has e-1
    secret = api_key_create(tenant=None).secret
    post_usage(
        client,
        secret,
        [
            event("e-1", tenant="acme-typo"),
            event("e-2", tenant="acme-typo", sku="gpu_hours"),
            event("e-3", tenant="acme-typo", quantity="4"),
        ],
    )

    result = usage_events_reattribute(reason="unknown_tenant", tenant=world.tenant, actor=staff.user)

    assert (result.reattributed, result.left) == (
        1,
        {"the tenant already has an event with this id": 1, "unknown_sku": 1},
    )
    assert list(UsageEvent.objects.order_by("pk").values_list("event_id", "tenant_slug", "status")) == [
        ("e-1", "acme", "accepted"),  # acme's own
        ("e-1", "acme-typo", "quarantined"),
        ("e-2", "acme-typo", "quarantined"),
        ("e-3", "acme", "accepted"),
    ]


def test_chosen_events_go_to_the_tenant_and_its_project(client, staff):
    world = usage_world(slug="acme")
    project = ProjectFactory.create(tenant=world.tenant, code="mobile")
    _platform_events(client, "acme-typo", ["1", "2", "3"])
    chosen = list(UsageEvent.objects.filter(event_id__in=["e-1", "e-3"]).values_list("pk", flat=True))

    result = usage_events_reattribute(events=chosen, tenant=world.tenant, project=project, actor=staff.user)

    assert result.reattributed == 2
    assert dict(UsageEvent.objects.values_list("event_id", "project_code")) == {
        "e-1": "mobile",
        "e-2": "",
        "e-3": "mobile",
    }


def test_a_project_of_another_tenant_is_refused(client, staff):
    world = usage_world(slug="acme")
    other = usage_world(slug="beta")
    project = ProjectFactory.create(tenant=other.tenant, code="web")
    _platform_events(client, "acme-typo", ["1"])

    with pytest.raises(ValidationFailed, match="the project belongs to another tenant"):
        usage_events_reattribute(
            reason="unknown_tenant", tenant=world.tenant, project=project, actor=staff.user
        )

    assert UsageEvent.objects.get().status == "quarantined"


def test_a_reason_group_beyond_the_cap_is_taken_oldest_first_and_the_rest_counted(client, staff, settings):
    settings.QUARANTINE_REATTRIBUTE_MAX = 2
    world = usage_world(slug="acme")
    _platform_events(client, "acme-typo", ["1", "2", "3"])

    result = usage_events_reattribute(reason="unknown_tenant", tenant=world.tenant, actor=staff.user)

    assert (result.reattributed, result.remaining) == (2, 1)
    assert dict(UsageEvent.objects.values_list("event_id", "status")) == {
        "e-1": "accepted",
        "e-2": "accepted",
        "e-3": "quarantined",
    }


def test_more_chosen_events_than_the_cap_are_refused(client, staff, settings):
    settings.QUARANTINE_REATTRIBUTE_MAX = 2
    world = usage_world(slug="acme")
    _platform_events(client, "acme-typo", ["1", "2", "3"])

    with pytest.raises(ValidationFailed) as err:
        usage_events_reattribute(
            events=list(UsageEvent.objects.values_list("pk", flat=True)),
            tenant=world.tenant,
            actor=staff.user,
        )

    assert err.value.message == "at most 2 events per request: 3 are selected; choose fewer"
    assert UsageEvent.objects.filter(status="accepted").count() == 0


def test_the_breakdown_counts_by_reason_tenant_and_sku(client, staff):
    usage_world(slug="acme")
    secret = api_key_create(tenant=None).secret
    post_usage(
        client,
        secret,
        [
            event("e-1", tenant="acme-typo"),
            event("e-2", tenant="acme-typo"),
            event("e-3", tenant="acme", sku="gpu_hours"),
        ],
    )

    rows = [(g.reason, g.tenant_slug, g.sku_code, g.events) for g in quarantine_breakdown()]

    assert rows == [("unknown_tenant", "acme-typo", "api_calls", 2), ("unknown_sku", "acme", "gpu_hours", 1)]


def test_an_unknown_sku_group_gets_its_sku_and_each_event_keeps_its_tenant(client, staff):
    acme = usage_world(slug="acme")
    beta = usage_world(slug="beta")
    post_usage(client, acme, [event("e-1", sku="api-call", quantity="3")])
    post_usage(client, beta, [event("e-1", sku="api-call", quantity="4")])

    result = usage_events_reattribute(reason="unknown_sku", sku=acme.sku, actor=staff.user)

    assert (result.reattributed, result.batches) == (2, 2)  # one rating batch per tenant
    usage_rate_pending()
    assert dict(UsageAggregate.objects.values_list("tenant__slug", "quantity")) == {
        "acme": Decimal("3"),
        "beta": Decimal("4"),
    }


def test_another_customers_events_are_never_moved_in_bulk(client, staff):
    acme = usage_world(slug="acme")
    beta = usage_world(slug="beta")
    post_usage(client, beta, [event("e-1", sku="api-call")])

    result = usage_events_reattribute(
        reason="unknown_sku", tenant=acme.tenant, sku=acme.sku, actor=staff.user
    )

    assert (result.reattributed, result.left) == (
        0,
        {"the event is another customer's (not moved in bulk)": 1},
    )
    assert UsageEvent.objects.get().tenant_id == beta.tenant.pk


def test_nothing_to_attribute_to_is_refused(client, staff):
    usage_world(slug="acme")
    _platform_events(client, "acme-typo", ["1"])

    with pytest.raises(ValidationFailed, match="choose the customer, SKU or project"):
        usage_events_reattribute(reason="unknown_tenant", actor=staff.user)


def test_a_finance_viewer_may_not_reattribute(client):
    from tenants.models import Role
    from tests.factories import finance_user

    world = usage_world(slug="acme")
    _platform_events(client, "acme-typo", ["1"])

    with pytest.raises(PermissionDenied):
        usage_events_reattribute(
            reason="unknown_tenant",
            tenant=world.tenant,
            actor=finance_user(Role.FINANCE_VIEWER, username="v"),
        )
