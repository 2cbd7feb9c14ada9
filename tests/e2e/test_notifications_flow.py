"""A customer's alerts and webhooks in a real browser, on the seeded demo and its alerts (`seed_demo`,
`demo_alerts`: a firing budget alert, a resolved spend anomaly, two demo endpoints with their delivery
log): acme's admin opens Alerts & webhooks, sees the firing and the resolved alert, filters by state,
adds a webhook endpoint on a throwaway local receiver (the signing secret is shown once), receives an
alert signed with that secret, opens the endpoint's delivery log, replays the delivery and disables the
endpoint. Every page is screenshotted to var/screenshots/ and checked with axe-core under the real
Content-Security-Policy."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from billing.demo import DEMO_PASSWORD
from ledger.alerts.services import alert_fire
from ledger.models import Alert
from tenants.models import Tenant, WebhookDelivery, WebhookEndpoint
from tenants.webhooks.receiver import Receiver
from tenants.webhooks.services import webhook_endpoint_disable
from tenants.webhooks.signing import HEADER, verify
from tests.e2e.conftest import Pages, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER = "acme-admin"


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def test_a_customer_sees_alerts_adds_a_webhook_endpoint_replays_a_delivery_and_disables_it(pages: Pages):
    call_command("seed_demo", stdout=StringIO())
    call_command("demo_alerts", stdout=StringIO())
    acme = Tenant.objects.get(slug="acme")
    # The demo's receiver is gone with its command: its endpoints are switched off, so the alert fired
    # below goes to the endpoint the customer adds, and only there.
    for demo in WebhookEndpoint.objects.filter(tenant=acme, active=True):
        webhook_endpoint_disable(endpoint=demo)
    page: Any = pages.context().new_page()

    # the firing budget alert and the resolved anomaly
    sign_in(page, CUSTOMER, DEMO_PASSWORD)
    page.goto("/portal/notifications/")
    assert heading(page) == "Notifications"
    budget = page.get_by_role(
        "row", name=re.compile(r"^Projected spend above the budget: Projected spend this period is 128 %")
    )
    assert re.search(r"\bFiring\b.*\bCritical\b", budget.inner_text(), re.S), budget.inner_text()
    anomaly = page.get_by_role("row", name=re.compile(r"^Spend anomaly: Daily spend on api_calls"))
    assert "Resolved" in anomaly.inner_text()
    pages.check(page, "notifications")

    # filtered by state: the resolved ones only
    page.get_by_label("State").select_option("resolved")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    alerts = page.get_by_role("table", name="Your alerts, newest first")
    states = alerts.locator("tbody tr td:nth-child(2)").all_inner_texts()
    resolved = Alert.objects.filter(tenant=acme, state=Alert.State.RESOLVED).count()
    assert states == ["Resolved"] * resolved
    assert resolved >= 1
    pages.check(page, "notifications-resolved")

    with Receiver({"/hooks/billing": 200}) as receiver:
        url = receiver.url("/hooks/billing")

        # adds an endpoint: the signing secret is shown once
        page.goto("/portal/notifications/")
        page.get_by_label("URL (https://…)").fill(url)
        page.get_by_label("Description").fill("Our on-call bridge")
        page.get_by_label("alert.fired").check()
        page.get_by_role("button", name="Add endpoint").click()
        page.get_by_role("heading", name=f"Signing secret of {url}").wait_for()
        secret = page.locator("code.secret").inner_text()
        assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret), secret
        endpoint = WebhookEndpoint.objects.get(tenant=acme, url=url)
        assert (endpoint.active, endpoint.event_types, endpoint.description) == (
            True,
            ["alert.fired"],
            "Our on-call bridge",
        )
        pages.check(page, "notifications-endpoint-created")
        page.goto("/portal/notifications/")
        assert secret not in page.content()
        row = page.get_by_role("row", name=url)
        assert row.locator("td").all_inner_texts()[:2] == ["alert.fired", "yes"]

        # an alert fires: it reaches the endpoint, signed with that secret
        alert = alert_fire(
            kind=Alert.Kind.COMMITMENT,
            tenant_id=acme.pk,
            key="e2e:commitment",
            message="Spend is 41 % of the commitment with 10 % of the period left",
            details={"commitment": "5000.00", "projected": "2050.00"},
        )
        assert len(receiver.received) == 1
        request = receiver.received[0]
        assert request.path == "/hooks/billing"
        assert verify(request.headers[HEADER], request.body, secret)
        event = json.loads(request.body)
        assert (event["type"], event["data"]["id"]) == ("alert.fired", alert.pk)

        # the endpoint's delivery log: the attempt and its response code
        page.reload()
        page.get_by_role("link", name=url).click()
        assert heading(page) == "Webhook endpoint"
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
        log = page.get_by_role("row", name=delivery.event_id)
        assert re.search(r"Succeeded.*HTTP 200, \d+ ms", log.inner_text(), re.S), log.inner_text()
        pages.check(page, "notifications-endpoint-log")

        # replays it: a new delivery of the same event, delivered again
        log.get_by_role("button", name="Replay").click()
        page.get_by_text(re.compile(rf"Event {re.escape(delivery.event_id)} is sent again")).wait_for()
        replay = WebhookDelivery.objects.get(replay_of=delivery)
        assert (replay.event_id, replay.status, replay.last_status_code) == (
            delivery.event_id,
            "succeeded",
            200,
        )
        assert len(receiver.received) == 2
        assert receiver.received[1].body == request.body
        assert page.get_by_text(f"(replay of #{delivery.pk})").count() == 1
        pages.check(page, "notifications-endpoint-replayed")

        # disables it
        page.get_by_role("button", name="Disable").click()
        page.get_by_text("The endpoint is disabled; its pending deliveries are cancelled.").wait_for()
        endpoint.refresh_from_db()
        assert endpoint.active is False
        assert page.get_by_role("button", name="Enable").count() == 1
        pages.check(page, "notifications-endpoint-disabled")

    assert pages.problems == [], "\n\n".join(pages.problems)
