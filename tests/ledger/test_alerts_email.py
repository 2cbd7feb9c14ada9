"""Alert emails (ledger.alerts.notify, ledger.alerts.tasks; docs/alerts.md): sent by a Celery task
published after the alert's transaction commits (never by the committing request or evaluator), with an
SMTP timeout, and retried when the send fails."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from celery import current_app
from celery.exceptions import Retry
from django.conf import settings
from django.core import mail

from ledger.alerts import notify
from ledger.alerts.services import alert_fire
from ledger.alerts.tasks import alert_email
from tenants.models import Role, Tenant
from tenants.services import membership_grant
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]
SUBJECT = "[warning] Projected spend above the budget fired (Acme)"


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory.create(slug="acme", name="Acme")
    admin = UserFactory.create(username="acme-admin", email="admin@acme.test")
    membership_grant(user=admin, role=Role.CUSTOMER_ADMIN, tenant=tenant)
    return tenant


class _Refused:
    def send_messages(self, messages: list[Any]) -> int:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed: timed out")


def test_smtp_has_a_timeout() -> None:
    assert settings.EMAIL_TIMEOUT == 10


def test_the_email_is_a_task_published_after_commit_not_sent_by_the_caller(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[dict[str, Any]] = []
    task = current_app.tasks[notify.ALERT_EMAIL_TASK]
    monkeypatch.setattr(task, "apply_async", lambda *a, **k: published.append(k["kwargs"]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        alert = alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="over budget")
    assert published == []
    for callback in callbacks:
        callback()
    assert [(p["alert_id"], p["subject"]) for p in published] == [(alert.pk, SUBJECT)]
    assert mail.outbox == []  # the task sends it, not the committed caller


def test_the_task_sends_the_email_to_the_tenants_admins(
    tenant: Tenant, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="over budget")
    assert [(m.to, m.subject) for m in mail.outbox] == [(["admin@acme.test"], SUBJECT)]


def test_a_failed_send_is_retried_by_the_worker(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    alert = alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="over budget")
    monkeypatch.setattr(notify, "get_connection", lambda **kwargs: _Refused())
    retried: list[Exception] = []

    def retry(*, exc: Exception) -> Retry:
        retried.append(exc)
        return Retry("retry", exc)

    monkeypatch.setattr(alert_email, "retry", retry)
    with pytest.raises(Retry):
        alert_email.run(alert_id=alert.pk, subject=SUBJECT, body="b")
    assert [type(e) for e in retried] == [smtplib.SMTPServerDisconnected]


def test_an_eager_send_that_fails_is_logged_never_raised(
    tenant: Tenant,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(notify, "get_connection", lambda **kwargs: _Refused())
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        alert = alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="over budget")
    assert mail.outbox == []
    assert f"alert {alert.pk}: email to ['admin@acme.test'] not sent" in caplog.text
