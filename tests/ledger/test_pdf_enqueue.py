"""Enqueueing invoice PDF renders (`documents.pdf_enqueue`): published after commit, never on rollback, and
a broker outage neither fails nor undoes what was committed; `ledger.pdf_sweep` renders what was missed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from celery import current_app
from django.core.files.storage import default_storage
from django.db import transaction
from kombu.exceptions import OperationalError
from prometheus_client import REGISTRY

from billing.close.services import close_period, close_periods
from ledger.models import Invoice
from ledger.services import documents
from ledger.tasks import pdf_sweep
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

NOV_5 = datetime(2026, 11, 5, tzinfo=UTC)


def _patch_publish(monkeypatch: Any, publish: Any) -> None:
    task = current_app.tasks[documents.PDF_RENDER_TASK]
    monkeypatch.setattr(type(task), "apply_async", publish)


@pytest.fixture
def published(monkeypatch):
    """The render tasks published, instead of publishing them."""
    calls: list[tuple[int, ...]] = []
    _patch_publish(monkeypatch, lambda self, args=(), **kwargs: calls.append(tuple(args)))
    return calls


@pytest.fixture
def broker_down(monkeypatch):
    """Every publish fails as kombu fails when Redis refuses connections; the attempts, in order."""
    attempts: list[tuple[int, ...]] = []

    def refuse(self: Any, args: Any = (), **kwargs: Any) -> None:
        attempts.append(tuple(args))
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    _patch_publish(monkeypatch, refuse)
    return attempts


def _failures() -> float:
    return REGISTRY.get_sample_value("billing_pdf_enqueue_failures_total") or 0.0


def _enqueue_then_roll_back(invoice_id: int) -> None:
    with transaction.atomic():
        documents.pdf_enqueue([invoice_id])
        raise RuntimeError("rolled back")


@pytest.mark.django_db
def test_it_publishes_after_commit_and_never_for_a_rolled_back_transaction(
    published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            documents.pdf_enqueue([7, 8])
            assert published == []
        with pytest.raises(RuntimeError):
            _enqueue_then_roll_back(9)

    assert published == [(7,), (8,)]


@pytest.mark.django_db
def test_it_skips_the_render_on_issue_when_pdf_on_finalize_is_off(
    published, settings, django_capture_on_commit_callbacks
):
    settings.INVOICE_PDF_ON_FINALIZE = False

    with django_capture_on_commit_callbacks(execute=True):
        documents.pdf_enqueue([1], on_issue=True)
        documents.pdf_enqueue([2])

    assert published == [(2,)]


@pytest.mark.django_db
def test_a_failed_publish_is_logged_and_counted_and_the_broker_is_not_asked_again(
    broker_down, caplog, django_capture_on_commit_callbacks
):
    before = _failures()

    with django_capture_on_commit_callbacks(execute=True):
        documents.pdf_enqueue([1, 2, 3])

    assert broker_down == [(1,)]
    assert _failures() - before == 3
    assert "PDF render not enqueued for invoices [1, 2, 3]" in caplog.text


@pytest.mark.django_db
def test_a_dirty_mark_during_an_outage_is_kept_for_the_sweep(broker_down, django_capture_on_commit_callbacks):
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    with django_capture_on_commit_callbacks(execute=True):
        documents.invoice_mark_pdf_dirty(invoice=invoice)

    invoice.refresh_from_db()
    assert (invoice.pdf_version, invoice.pdf_rendered_version) == (2, 0)
    assert documents.invoices_needing_pdf() == [invoice.pk]


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_at_finalization_commits_the_invoices_and_the_sweep_renders_them_later(
    broker_down, monkeypatch
):
    # given two tenants with usage to close, and a broker that refuses every publish
    tax_rule("DE", "19")
    tenants = []
    for slug in ("alpha", "beta"):
        w = world(slug=slug, prices=[{"sku": f"calls_{slug}", "model": "per_unit", "unit_amount": "0.10"}])
        usage(w.tenant, f"calls_{slug}", w.version, NOV_5, "1000")
        tenants.append(w.tenant)
    before = _failures()

    # when they are closed (real commits: the publish runs after each COMMIT and fails)
    results = close_periods(tenants=tenants, period_key="2026-11", now=after_grace())

    # then both invoices are committed as finalized, unrendered, and due for the sweep
    invoices = [invoice_of(result) for result in results]
    assert [(i.number, i.status, i.pdf_version, i.pdf_rendered_version, i.pdf_file) for i in invoices] == [
        ("ALPHA-2026-000001", "finalized", 1, 0, ""),
        ("BETA-2026-000001", "finalized", 1, 0, ""),
    ]
    assert len(broker_down) == 1
    assert _failures() - before == 2
    assert sorted(documents.invoices_needing_pdf()) == sorted(i.pk for i in invoices)

    # when the broker is back and the beat runs the sweep
    monkeypatch.undo()
    swept = pdf_sweep.apply().get()

    # then each invoice is rendered once and its PDF recorded with its SHA-256
    assert swept == 2
    rendered = list(Invoice.objects.filter(pk__in=[i.pk for i in invoices]).order_by("pk"))
    assert [(i.pdf_version, i.pdf_rendered_version) for i in rendered] == [(1, 1), (1, 1)]
    for invoice in rendered:
        with default_storage.open(invoice.pdf_file, "rb") as fh:
            data = fh.read()
        assert data.startswith(b"%PDF")
        assert invoice.pdf_sha256 == hashlib.sha256(data).hexdigest()
    assert documents.invoices_needing_pdf() == []
