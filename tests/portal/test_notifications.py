"""The notifications pages (portal/notifications: the customer's alerts and webhooks) and finance's
alerts pages (portal/finance/alerts): what each persona sees and may do, and another tenant's 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from ledger.alerts.services import alert_fire
from ledger.models import Alert
from portal.access import SESSION_TENANT
from tenants.models import Role, WebhookDelivery, WebhookEndpoint
from tenants.services import membership_grant
from tenants.webhooks.services import webhook_deliveries_create, webhook_endpoint_create
from tests.factories import UserFactory, finance_user
from tests.personas import Persona

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_admin(alice: Persona) -> Persona:
    """A customer admin of alice's tenant."""
    assert alice.tenant is not None
    user = UserFactory.create(username="alice-admin", email="admin@a.test")
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=alice.tenant)
    client = Client()
    client.force_login(user)
    return Persona(user=user, tenant=alice.tenant, client=client)


def _endpoint(persona: Persona, url: str = "https://hooks.a.example/x") -> WebhookEndpoint:
    assert persona.tenant is not None
    return webhook_endpoint_create(tenant=persona.tenant, url=url).endpoint


def _delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    (pk,) = webhook_deliveries_create(
        tenant_id=endpoint.tenant_id,
        event_type="alert.fired",
        event_id="evt-a",
        payload={"id": "evt-a"},
        now=endpoint.created_at,
    )
    return WebhookDelivery.objects.get(pk=pk)


def test_customers_see_their_alerts_grouped_and_not_others(alice: Persona, charlie: Persona) -> None:
    assert alice.tenant is not None
    assert charlie.tenant is not None
    alert_fire(kind="budget", tenant_id=alice.tenant.pk, key="p", message="Alice over budget")
    alert_fire(kind="close", tenant_id=alice.tenant.pk, key="x", message="internal close failure")
    alert_fire(kind="budget", tenant_id=charlie.tenant.pk, key="p", message="Charlie over budget")
    page = alice.client.get(reverse("portal:notifications")).content.decode()
    assert "Alice over budget" in page
    assert "internal close failure" not in page
    assert "Charlie over budget" not in page
    assert "Projected spend above the budget" in page  # the group row


def test_a_customer_admin_creates_an_endpoint_and_sees_its_secret_once(alice_admin: Persona) -> None:
    response = alice_admin.client.post(
        reverse("portal:notifications-endpoint-create"),
        {"url": "https://hooks.a.example/x", "event_types": ["alert.fired"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert (response.status_code, response["Location"]) == (302, reverse("portal:notifications"))
    assert endpoint.secret not in response.content.decode()
    assert endpoint.event_types == ["alert.fired"]
    shown = alice_admin.client.get(reverse("portal:notifications"))
    assert endpoint.secret in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    assert endpoint.secret not in alice_admin.client.get(reverse("portal:notifications")).content.decode()


def test_the_secret_shown_once_is_not_shown_to_the_same_user_in_another_tenant(
    alice_admin: Persona, charlie: Persona
) -> None:
    assert charlie.tenant is not None
    membership_grant(user=alice_admin.user, role=Role.CUSTOMER_ADMIN, tenant=charlie.tenant)
    alice_admin.client.post(reverse("portal:notifications-endpoint-create"), {"url": "https://h.a.example/"})
    secret = WebhookEndpoint.objects.get().secret
    session = alice_admin.client.session
    session[SESSION_TENANT] = charlie.tenant.pk  # the tenant switcher's choice
    session.save()
    elsewhere = alice_admin.client.get(reverse("portal:notifications"))
    assert elsewhere.status_code == 200
    assert secret not in elsewhere.content.decode()


def test_a_bad_url_is_answered_400_with_the_reason(alice_admin: Persona) -> None:
    response = alice_admin.client.post(reverse("portal:notifications-endpoint-create"), {"url": "ftp://x"})
    assert response.status_code == 400
    assert "the URL must be http(s)" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_customer_viewer_reads_but_may_not_change_endpoints(alice: Persona, alice_admin: Persona) -> None:
    endpoint = _endpoint(alice_admin)
    assert alice.client.get(reverse("portal:notifications-endpoint", args=[endpoint.pk])).status_code == 200
    refused = [
        alice.client.post(
            reverse("portal:notifications-endpoint-create"), {"url": "https://h.example/"}
        ).status_code,
        alice.client.post(reverse("portal:notifications-endpoint-disable", args=[endpoint.pk])).status_code,
        alice.client.post(reverse("portal:notifications-endpoint-rotate", args=[endpoint.pk])).status_code,
        alice.client.post(reverse("portal:notifications-endpoint-delete", args=[endpoint.pk])).status_code,
    ]
    assert refused == [403, 403, 403, 403]
    endpoint.refresh_from_db()
    assert endpoint.active


def test_the_delivery_log_shows_codes_and_a_replay_makes_a_new_delivery(alice_admin: Persona) -> None:
    endpoint = _endpoint(alice_admin)
    delivery = _delivery(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="dead",
        next_attempt_at=None,
        completed_at=endpoint.created_at,
        attempts=1,
        last_status_code=500,
    )
    delivery.attempt_log.create(
        number=1, at=endpoint.created_at, status_code=500, duration_ms=12, error="HTTP 500"
    )
    page = alice_admin.client.get(
        reverse("portal:notifications-endpoint", args=[endpoint.pk])
    ).content.decode()
    assert "HTTP 500, 12 ms" in page
    assert "Dead letter" in page
    response = alice_admin.client.post(reverse("portal:notifications-delivery-replay", args=[delivery.pk]))
    assert response.status_code == 302
    replay = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (replay.replay_of_id, replay.event_id) == (delivery.pk, "evt-a")


def test_rotation_redirects_shows_the_new_secret_once_and_a_reload_does_not_rotate_again(
    alice_admin: Persona,
) -> None:
    endpoint = _endpoint(alice_admin)
    first = endpoint.secret
    rotated = alice_admin.client.post(reverse("portal:notifications-endpoint-rotate", args=[endpoint.pk]))
    assert (rotated.status_code, rotated["Location"]) == (302, reverse("portal:notifications"))
    endpoint.refresh_from_db()
    second = endpoint.secret
    assert second != first
    shown = alice_admin.client.get(rotated["Location"])
    assert second in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    reloaded = alice_admin.client.get(rotated["Location"])  # a reload is a GET: nothing rotates
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (second, first)
    assert second not in reloaded.content.decode()


def test_disable_and_delete_work(alice_admin: Persona) -> None:
    endpoint = _endpoint(alice_admin)
    alice_admin.client.post(reverse("portal:notifications-endpoint-disable", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert not endpoint.active
    alice_admin.client.post(reverse("portal:notifications-endpoint-delete", args=[endpoint.pk]))
    assert not WebhookEndpoint.objects.exists()


def test_another_tenants_endpoint_and_delivery_are_404(alice_admin: Persona, charlie: Persona) -> None:
    endpoint = _endpoint(alice_admin)
    delivery = _delivery(endpoint)
    charlie_admin = UserFactory.create(username="charlie-admin")
    assert charlie.tenant is not None
    membership_grant(user=charlie_admin, role=Role.CUSTOMER_ADMIN, tenant=charlie.tenant)
    client = Client()
    client.force_login(charlie_admin)
    statuses = [
        client.get(reverse("portal:notifications-endpoint", args=[endpoint.pk])).status_code,
        client.post(reverse("portal:notifications-endpoint-disable", args=[endpoint.pk])).status_code,
        client.post(reverse("portal:notifications-delivery-replay", args=[delivery.pk])).status_code,
    ]
    assert statuses == [404, 404, 404]
    assert WebhookDelivery.objects.count() == 1


def test_finance_lists_every_alert_with_filters(
    alice: Persona, charlie: Persona, finance_editor: Persona
) -> None:
    assert alice.tenant is not None
    assert charlie.tenant is not None
    alert_fire(kind="budget", tenant_id=alice.tenant.pk, key="p", message="Alice over budget")
    alert_fire(kind="close", tenant_id=charlie.tenant.pk, key="x", message="Charlie close failed")
    every = finance_editor.client.get(reverse("portal:finance:alerts")).content.decode()
    assert "Alice over budget" in every
    assert "Charlie close failed" in every
    only = finance_editor.client.get(
        reverse("portal:finance:alerts"), {"kind": "close", "tenant": "tenant-b"}
    )
    assert "Alice over budget" not in only.content.decode()
    assert "Charlie close failed" in only.content.decode()


def test_finance_editors_acknowledge_and_resolve_viewers_do_not(
    alice: Persona, finance_editor: Persona
) -> None:
    assert alice.tenant is not None
    alert = alert_fire(kind="budget", tenant_id=alice.tenant.pk, key="p", message="m")
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="viewer"))
    assert viewer.post(reverse("portal:finance:alert-acknowledge", args=[alert.pk])).status_code == 403
    assert alice.client.post(reverse("portal:finance:alert-acknowledge", args=[alert.pk])).status_code == 403
    finance_editor.client.post(reverse("portal:finance:alert-acknowledge", args=[alert.pk]))
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by_id) == ("acknowledged", finance_editor.user.pk)
    finance_editor.client.post(reverse("portal:finance:alert-resolve", args=[alert.pk]))
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED


def test_finance_sees_dead_letters(alice_admin: Persona, finance_editor: Persona) -> None:
    delivery = _delivery(_endpoint(alice_admin, "https://hooks.a.example/dead"))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="dead",
        next_attempt_at=None,
        completed_at=delivery.created_at,
        attempts=8,
        last_status_code=503,
    )
    page = finance_editor.client.get(reverse("portal:finance:alerts-dead-deliveries")).content.decode()
    assert "https://hooks.a.example/dead" in page
    assert "HTTP 503" in page
