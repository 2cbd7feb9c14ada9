"""Outbound webhooks (tenants.webhooks, ledger.alerts.delivery; docs/webhooks.md): endpoints and their
secret, signed deliveries of alert events, the log, retries with backoff, the dead letter and its alert,
replay, rotation, and the target checks. Deliveries go to a receiver on 127.0.0.1 (tenants.webhooks.receiver)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from common.errors import Conflict, StateError, ValidationFailed
from ledger.alerts.delivery import webhook_deliveries_sweep, webhook_delivery_run, webhook_endpoint_removed
from ledger.alerts.services import alert_acknowledge, alert_fire, alert_resolve
from ledger.models import Alert
from tenants.models import Tenant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.webhooks import http
from tenants.webhooks.receiver import Receiver
from tenants.webhooks.services import (
    webhook_deliveries_create,
    webhook_delivery_attempt,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_disable,
    webhook_endpoint_rotate_secret,
)
from tenants.webhooks.signing import verify
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Capture = Callable[..., Any]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver({"/ok": 200, "/fail": 500, "/moved": 302}) as r:
        yield r


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory.create(slug="acme")


def _endpoint(tenant: Tenant, url: str, **kwargs: Any) -> WebhookEndpoint:
    return webhook_endpoint_create(tenant=tenant, url=url, now=T0, **kwargs).endpoint


def _delivery(endpoint: WebhookEndpoint, now: datetime = T0) -> WebhookDelivery:
    payload: dict[str, object] = {
        "id": "evt_1",
        "type": "alert.fired",
        "created_at": now.isoformat(),
        "data": {},
    }
    (pk,) = webhook_deliveries_create(
        tenant_id=endpoint.tenant_id, event_type="alert.fired", event_id="evt_1", payload=payload, now=now
    )
    return WebhookDelivery.objects.get(pk=pk)


def test_creating_an_endpoint_returns_its_secret_once(tenant: Tenant) -> None:
    created = webhook_endpoint_create(tenant=tenant, url="https://hooks.example.com/billing", now=T0)
    assert created.secret.startswith("whsec_")
    assert len(created.secret) == 6 + 43
    assert created.endpoint.secret == created.secret
    assert (created.endpoint.active, created.endpoint.event_types) == (True, [])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "the URL must be http(s)"),
        ("https:///x", "the URL has no host"),
        ("https://user:pw@hooks.example.com/x", "the URL may not carry credentials"),
    ],
)
def test_it_refuses_bad_urls(tenant: Tenant, url: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        webhook_endpoint_create(tenant=tenant, url=url)
    assert [(i.field, i.message) for i in refused.value.issues] == [("url", message)]


@override_settings(WEBHOOK_ALLOW_HTTP=False, WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "the URL must start with https://"),
        ("https://127.0.0.1/x", "the URL's address is not public"),
        ("https://10.1.2.3/x", "the URL's address is not public"),
        ("https://169.254.169.254/latest", "the URL's address is not public"),
        ("https://[::1]/x", "the URL's address is not public"),
        ("https://localhost/x", "the URL's host is not public"),
    ],
)
def test_in_production_only_public_https_targets_are_accepted(tenant: Tenant, url: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        webhook_endpoint_create(tenant=tenant, url=url)
    assert [(i.field, i.message) for i in refused.value.issues] == [("url", message)]


def test_it_refuses_unknown_event_types(tenant: Tenant) -> None:
    with pytest.raises(ValidationFailed) as refused:
        webhook_endpoint_create(tenant=tenant, url="https://h.example.com/", event_types=["invoice.paid"])
    assert [(i.field, i.message) for i in refused.value.issues] == [
        ("event_types", "unknown event types: invoice.paid")
    ]


def test_a_tenant_has_at_most_ten_endpoints(tenant: Tenant) -> None:
    for n in range(10):
        _endpoint(tenant, f"https://h.example.com/{n}")
    with pytest.raises(Conflict, match="at most 10"):
        _endpoint(tenant, "https://h.example.com/11")


def test_a_fired_and_a_resolved_alert_are_delivered_signed(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    created = webhook_endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    with django_capture_on_commit_callbacks(execute=True):
        alert = alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="over budget")
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="still over")  # repeat
        alert_acknowledge(alert=alert, actor=UserFactory.create())
    with django_capture_on_commit_callbacks(execute=True):
        alert_resolve(kind="budget", tenant_id=tenant.pk, key="period")
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["alert.fired", "alert.resolved"]
    first = receiver.received[0]
    assert verify(first.headers["Billing-Signature"], first.body, created.secret)
    body = json.loads(first.body)
    assert first.headers["Billing-Event-Id"] == body["id"]
    assert (body["data"]["kind"], body["data"]["state"], body["data"]["tenant"]) == (
        "budget",
        "firing",
        "acme",
    )
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert [(d.status, d.attempts, d.last_status_code) for d in deliveries] == [
        ("succeeded", 1, 200),
        ("succeeded", 1, 200),
    ]
    assert list(WebhookAttempt.objects.values_list("number", "status_code", "error")) == [
        (1, 200, ""),
        (1, 200, ""),
    ]


def test_operator_alerts_and_other_tenants_alerts_are_not_delivered(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(tenant, receiver.url("/ok"))
    other = TenantFactory.create(slug="other")
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(kind="close", tenant_id=tenant.pk, key="x", message="internal failure")
        alert_fire(kind="budget", tenant_id=other.pk, key="x", message="other's budget")
    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_an_endpoint_gets_only_the_event_types_it_asked_for(tenant: Tenant) -> None:
    _endpoint(tenant, "https://h.example.com/resolved", event_types=["alert.resolved"])
    assert (
        webhook_deliveries_create(
            tenant_id=tenant.pk, event_type="alert.fired", event_id="e", payload={}, now=T0
        )
        == []
    )


@override_settings(WEBHOOK_BACKOFF_BASE_SECONDS=30, WEBHOOK_BACKOFF_CAP_SECONDS=3600)
def test_a_failed_attempt_is_logged_and_retried_after_a_jittered_backoff(
    tenant: Tenant, receiver: Receiver
) -> None:
    delivery = _delivery(_endpoint(tenant, receiver.url("/fail")))
    result = webhook_delivery_attempt(delivery_id=delivery.pk, now=T0, rand=random.Random(1))
    delivery.refresh_from_db()
    assert result.outcome == "retry"
    assert result.retry_in is not None
    assert 0 <= result.retry_in <= 30
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, 500)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=result.retry_in)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 500, "HTTP 500 Internal Server Error")
    # not due yet: nothing happens
    assert webhook_delivery_attempt(delivery_id=delivery.pk, now=T0).outcome == "skipped"


def test_a_redirect_is_not_followed(tenant: Tenant, receiver: Receiver) -> None:
    delivery = _delivery(_endpoint(tenant, receiver.url("/moved")))
    assert webhook_delivery_attempt(delivery_id=delivery.pk, now=T0).outcome == "retry"
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302
    assert [r.path for r in receiver.received] == ["/moved"]


def test_no_response_is_logged_with_a_generic_error(tenant: Tenant) -> None:
    delivery = _delivery(_endpoint(tenant, "http://127.0.0.1:9/closed"))
    webhook_delivery_attempt(delivery_id=delivery.pk, now=T0)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (None, "could not connect")


@override_settings(WEBHOOK_MAX_ATTEMPTS=3)
def test_after_the_last_attempt_it_is_dead_lettered_and_alerts_the_tenant_once(
    tenant: Tenant, receiver: Receiver
) -> None:
    endpoint = _endpoint(tenant, receiver.url("/fail"))
    delivery = _delivery(endpoint)
    outcomes = []
    now = T0
    for _ in range(4):
        outcomes.append(webhook_delivery_run(delivery_id=delivery.pk, now=now).outcome)
        now += timedelta(days=1)
    assert outcomes == ["retry", "retry", "dead", "skipped"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 3, None)
    alert = Alert.objects.get(kind=Alert.Kind.WEBHOOK_DEAD)
    assert (alert.tenant_id, alert.key, alert.state) == (tenant.pk, f"endpoint:{endpoint.pk}", "firing")
    assert alert.details["attempts"] == 3
    assert alert.details["last_status_code"] == 500
    second = _delivery(endpoint, now=now)
    for _ in range(3):
        webhook_delivery_run(delivery_id=second.pk, now=now)
        now += timedelta(days=1)
    assert Alert.objects.get(kind=Alert.Kind.WEBHOOK_DEAD).occurrences == 2  # the same alert, not a new one


@override_settings(WEBHOOK_MAX_ATTEMPTS=1)
def test_a_later_success_resolves_the_dead_letter_alert(tenant: Tenant, receiver: Receiver) -> None:
    endpoint = _endpoint(tenant, receiver.url("/fail"))
    dead = _delivery(endpoint)
    assert webhook_delivery_run(delivery_id=dead.pk, now=T0).outcome == "dead"
    receiver.statuses["/fail"] = 204  # the customer fixed their endpoint
    replay = webhook_delivery_replay(delivery=dead, now=T0 + timedelta(hours=1))
    assert webhook_delivery_run(delivery_id=replay.pk, now=T0 + timedelta(hours=1)).outcome == "succeeded"
    assert Alert.objects.get(kind=Alert.Kind.WEBHOOK_DEAD).state == "resolved"


def test_a_replay_is_a_new_delivery_of_the_same_event(tenant: Tenant, receiver: Receiver) -> None:
    original = _delivery(_endpoint(tenant, receiver.url("/ok")))
    webhook_delivery_attempt(delivery_id=original.pk, now=T0)
    replay = webhook_delivery_replay(delivery=original, now=T0 + timedelta(minutes=1))
    assert (replay.event_id, replay.payload, replay.replay_of_id, replay.status) == (
        original.event_id,
        original.payload,
        original.pk,
        "pending",
    )
    webhook_delivery_attempt(delivery_id=replay.pk, now=T0 + timedelta(minutes=1))
    first, again = receiver.received
    assert again.body == first.body


def test_disabling_cancels_pending_deliveries_and_refuses_replays(tenant: Tenant) -> None:
    endpoint = _endpoint(tenant, "https://h.example.com/x")
    delivery = _delivery(endpoint)
    webhook_endpoint_disable(endpoint=endpoint, now=T0)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.completed_at, delivery.next_attempt_at) == ("cancelled", T0, None)
    with pytest.raises(StateError, match="disabled"):
        webhook_delivery_replay(delivery=delivery)
    assert (
        webhook_deliveries_create(
            tenant_id=tenant.pk, event_type="alert.fired", event_id="e", payload={}, now=T0
        )
        == []
    )


def test_rotation_signs_with_both_secrets_during_the_grace_only(tenant: Tenant, receiver: Receiver) -> None:
    created = webhook_endpoint_create(tenant=tenant, url=receiver.url("/ok"), now=T0)
    rotated = webhook_endpoint_rotate_secret(endpoint=created.endpoint, now=T0)
    assert rotated.secret != created.secret
    webhook_delivery_attempt(delivery_id=_delivery(rotated.endpoint, now=T0).pk, now=T0)
    late = T0 + timedelta(hours=25)
    webhook_delivery_attempt(delivery_id=_delivery(rotated.endpoint, now=late).pk, now=late)
    during, after = receiver.received
    stamp = int(T0.timestamp())
    assert verify(during.headers["Billing-Signature"], during.body, created.secret, now=stamp)
    assert verify(during.headers["Billing-Signature"], during.body, rotated.secret, now=stamp)
    stamp = int(late.timestamp())
    assert not verify(after.headers["Billing-Signature"], after.body, created.secret, now=stamp)
    assert verify(after.headers["Billing-Signature"], after.body, rotated.secret, now=stamp)


def test_deleting_an_endpoint_removes_its_log_and_resolves_its_alert(tenant: Tenant) -> None:
    endpoint = _endpoint(tenant, "https://h.example.com/x")
    _delivery(endpoint)
    alert_fire(kind="webhook_dead", tenant_id=tenant.pk, key=f"endpoint:{endpoint.pk}", message="dead")
    webhook_endpoint_removed(endpoint=endpoint)
    webhook_endpoint_delete(endpoint=endpoint)
    assert not WebhookDelivery.objects.exists()
    assert Alert.objects.get().state == "resolved"


def test_the_sweep_publishes_due_deliveries(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    delivery = _delivery(_endpoint(tenant, receiver.url("/ok")))  # its publish was captured, never run
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep(now=T0) == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert webhook_deliveries_sweep(now=T0) == 0


def _post_then(move: Callable[[], object]) -> Callable[..., http.Response]:
    """A POST during which the customer does `move` (disable, delete), answered 500."""

    def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> http.Response:
        move()
        return http.Response(500, 7, "HTTP 500 Internal Server Error")

    return post


def test_an_endpoint_disabled_during_the_post_keeps_the_delivery_cancelled_and_logs_the_attempt(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = _endpoint(tenant, "https://h.example.com/x")
    delivery = _delivery(endpoint)
    later = T0 + timedelta(seconds=1)
    monkeypatch.setattr(
        http, "post", _post_then(lambda: webhook_endpoint_disable(endpoint=endpoint, now=later))
    )
    result = webhook_delivery_attempt(delivery_id=delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert result.outcome == "cancelled"
    assert result.retry_in is None
    assert (delivery.status, delivery.completed_at, delivery.next_attempt_at) == ("cancelled", later, None)
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert list(WebhookAttempt.objects.values_list("number", "status_code")) == [(1, 500)]


def test_an_endpoint_deleted_during_the_post_drops_the_attempt_without_an_error(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = _endpoint(tenant, "https://h.example.com/x")
    delivery = _delivery(endpoint)
    monkeypatch.setattr(http, "post", _post_then(lambda: webhook_endpoint_delete(endpoint=endpoint)))
    result = webhook_delivery_run(delivery_id=delivery.pk, now=T0)
    assert (result.delivery, result.outcome, result.retry_in) == (None, "dropped", None)
    assert not WebhookAttempt.objects.exists()
