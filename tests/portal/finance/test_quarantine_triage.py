"""Finance's quarantine triage (portal:finance:quarantine, :quarantine-reattribute): quarantined usage by
reason with counts, by the customer and SKU sent; a group or ticked events re-attributed in bulk, then
rated; refusals as messages; editors and approvers act, viewers read, customers get 403."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import UsageEvent
from ledger.audit.models import AuditRecord
from tenants.models import Role
from tenants.services import api_key_create
from tests.factories import ProjectFactory, finance_user
from tests.factories.usage import event, post_usage, usage_env, usage_world
from tests.personas import Persona

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")

PAGE = "/portal/finance/queue/quarantine/"
ACTION = "/portal/finance/queue/quarantine/reattribute/"


def _quarantine(client: Client) -> None:
    secret = api_key_create(tenant=None).secret
    post_usage(
        client,
        secret,
        [
            event("e-1", tenant="acme-typo", quantity="7"),
            event("e-2", tenant="acme-typo", quantity="5"),
            event("e-3", tenant="acme", sku="gpu_hours"),
        ],
    )


def _editor() -> Client:
    client = Client()
    client.force_login(finance_user(Role.FINANCE_EDITOR, username="q-editor"))
    return client


def test_the_page_lists_reasons_with_counts_and_the_breakdown(client):
    usage_world(slug="acme")
    _quarantine(client)

    body = _editor().get(PAGE).content.decode()

    assert '<a href="/portal/finance/queue/quarantine/?reason=unknown_tenant">unknown_tenant</a>' in body
    assert body.index("unknown_tenant</a></th>") < body.index("unknown_sku</a></th>")  # 2 events before 1
    assert (
        '<a href="/portal/finance/queue/quarantine/?reason=unknown_tenant&amp;tenant_slug=acme-typo&amp;'
        'sku_code=api_calls">' in body
    )


def test_a_group_is_reattributed_from_the_page_and_then_rated(client):
    world = usage_world(slug="acme")
    _quarantine(client)
    editor = _editor()
    page = editor.get(PAGE + "?reason=unknown_tenant").content.decode()
    assert "All 2 event(s) of this group" in page

    response = editor.post(
        ACTION, {"reason": "unknown_tenant", "scope": "group", "target_tenant": "acme"}, follow=True
    )

    assert (
        "Re-attributed 2 event(s) to customer acme; they are queued for rating." in response.content.decode()
    )
    assert response.redirect_chain[-1][0] == PAGE + "?reason=unknown_tenant"
    usage_rate_pending()
    assert UsageAggregate.objects.get(tenant=world.tenant).quantity == 12
    record = AuditRecord.objects.get(action="usage.reattribute")
    assert record.after is not None
    assert (record.object_id, record.after["tenant"], record.after["reattributed"]) == (
        "reason:unknown_tenant",
        "acme",
        2,
    )


def test_ticked_events_go_to_a_project_of_the_tenant(client):
    world = usage_world(slug="acme")
    ProjectFactory.create(tenant=world.tenant, code="mobile")
    _quarantine(client)
    first = UsageEvent.objects.get(event_id="e-1")

    _editor().post(
        ACTION,
        {
            "reason": "unknown_tenant",
            "scope": "selected",
            "events": [first.pk],
            "target_tenant": "acme",
            "target_project": "mobile",
        },
    )

    assert dict(UsageEvent.objects.values_list("event_id", "status")) == {
        "e-1": "accepted",
        "e-2": "quarantined",
        "e-3": "quarantined",
    }
    assert UsageEvent.objects.get(pk=first.pk).project_code == "mobile"


def test_what_stays_quarantined_is_said(client):
    usage_world(slug="acme")
    _quarantine(client)

    response = _editor().post(
        ACTION, {"reason": "unknown_sku", "scope": "group", "target_tenant": "acme"}, follow=True
    )

    assert (
        "Re-attributed 0 event(s) to customer acme; they are queued for rating. Left quarantined: unknown_sku: 1."
        in (response.content.decode())
    )


def test_an_unknown_customer_is_refused_with_a_message(client):
    usage_world(slug="acme")
    _quarantine(client)

    response = _editor().post(
        ACTION, {"reason": "unknown_tenant", "scope": "group", "target_tenant": "nobody"}, follow=True
    )

    assert "There is no customer &#x27;nobody&#x27;." in response.content.decode()
    assert UsageEvent.objects.filter(status="accepted").count() == 0


def test_the_cap_is_said_when_a_group_is_larger(client, settings):
    settings.QUARANTINE_REATTRIBUTE_MAX = 1
    usage_world(slug="acme")
    _quarantine(client)

    response = _editor().post(
        ACTION, {"reason": "unknown_tenant", "scope": "group", "target_tenant": "acme"}, follow=True
    )

    assert (
        "Re-attributed 1 event(s) to customer acme; they are queued for rating. 1 more of this group wait beyond the 1 "
        "a request re-attributes: submit again." in response.content.decode()
    )


def test_a_finance_viewer_reads_but_does_not_reattribute(client):
    usage_world(slug="acme")
    _quarantine(client)
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="q-viewer"))

    page = viewer.get(PAGE + "?reason=unknown_tenant")
    refused = viewer.post(ACTION, {"reason": "unknown_tenant", "scope": "group", "target_tenant": "acme"})

    assert page.status_code == 200
    assert "Finance viewers read the quarantine" in page.content.decode()
    assert refused.status_code == 403
    assert UsageEvent.objects.filter(status="accepted").count() == 0


def test_a_customer_gets_403(alice: Persona):
    assert alice.client.get(PAGE).status_code == 403
    assert (
        alice.client.post(ACTION, {"reason": "unknown_tenant", "target_tenant": "tenant-a"}).status_code
        == 403
    )
