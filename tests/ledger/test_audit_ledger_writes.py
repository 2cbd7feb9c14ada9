"""The ledger's audited writes: prepaid credit grants, their expiry, credit notes (ledger.audit)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import pytest
from django.contrib.auth.models import User

from billing.close.services import close_period
from common.request_id import request_id_bound
from ledger.audit.models import AuditRecord
from ledger.audit.verify import audit_verify
from ledger.models import CreditGrant
from ledger.services.credit_notes import credit_note_create
from ledger.services.credits import credit_grant_create
from ledger.services.expiry import credits_expire
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.factories.tenants import UserFactory

pytestmark = pytest.mark.django_db

OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_15 = datetime(2026, 12, 15, tzinfo=UTC)
DEC_16 = datetime(2026, 12, 16, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, tzinfo=UTC)


def _grant(**kwargs: object) -> CreditGrant:
    w = world()
    return credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("100.00"),
        currency="EUR",
        granted_at=OCT_1,
        expires_at=DEC_15,
        reason="welcome credit",
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_grant_is_recorded_with_its_actor_amount_and_reason():
    fiona = cast(User, UserFactory(username="fiona"))
    with request_id_bound("req-grant"):
        grant = _grant(actor=fiona)
    record = AuditRecord.objects.get(action="credit_grant.create")
    assert (record.object_type, record.object_id, record.actor_id, record.actor_label) == (
        "ledger.creditgrant",
        str(grant.pk),
        fiona.pk,
        "fiona",
    )
    assert record.before is None
    assert record.diff["amount"] == [None, "100.00"]
    assert record.diff["expires_at"] == [None, "2026-12-15T00:00:00.000000Z"]
    assert (record.reason, record.request_id) == ("welcome credit", "req-grant")


def test_an_expiry_is_recorded_as_the_systems_with_the_amount_expired():
    grant = _grant()
    credits_expire(now=DEC_16)
    record = AuditRecord.objects.get(action="credit_grant.expire")
    assert (record.object_id, record.actor_label, record.reason) == (str(grant.pk), "system", "expired")
    assert record.after is not None
    assert (record.after["amount"], record.after["expired_at"]) == ("100.00", "2026-12-15T00:00:00.000000Z")
    assert record.at == DEC_16
    assert audit_verify().ok


def test_a_credit_note_is_recorded_with_its_lines():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    line = invoice.lines.get()
    fiona = cast(User, UserFactory(username="fiona"))
    note = credit_note_create(
        invoice=invoice, reason="goodwill", lines=[(line.pk, Decimal("30.00"))], now=DEC_20, actor=fiona
    )
    assert note is not None
    record = AuditRecord.objects.get(action="credit_note.issue")
    assert (record.object_type, record.object_id, record.actor_label, record.reason) == (
        "ledger.creditnote",
        str(note.pk),
        "fiona",
        "goodwill",
    )
    assert record.after is not None
    assert (record.after["number"], record.after["total"]) == (note.number, "35.70")
    assert record.after["lines"] == [[line.pk, line.description, "30.00", "5.70"]]
