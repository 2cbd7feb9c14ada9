"""Disputes (ledger/services/disputes.py): the state machine through the services and in the database,
credit notes issued and linked, attachments checked by content and stored privately, the timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from billing.close.services import close_period
from common.errors import NotFound, PermissionDenied, StateError, ValidationFailed
from ledger.models import CreditNoteLine, Dispute, DisputeEvent, Invoice, InvoiceLine
from ledger.services.disputes import (
    dispute_comment,
    dispute_open,
    dispute_reject,
    dispute_resolve,
    dispute_review,
    dispute_withdraw,
)
from ledger.services.invoicing import invoice_void
from ledger.verify import ledger_verify
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import UserFactory, finance_user
from tests.factories.documents import Line, Spec, Vat, issued_invoice
from tests.factories.documents import tenant as doc_tenant
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.threads import run_together

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, 9, tzinfo=UTC)
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 40


@dataclass
class Scene:
    invoice: Invoice
    api: InvoiceLine  # 1000 x 0.10 = 100.00
    storage: InvoiceLine  # 60 x 0.50 = 30.00
    customer: User
    finance: User


def _scene(slug: str = "acme") -> Scene:
    w = world(
        slug=slug,
        prices=[
            {"sku": f"{slug}_api", "model": "per_unit", "unit_amount": "0.10"},
            {"sku": f"{slug}_storage", "model": "per_unit", "unit_amount": "0.50"},
        ],
    )
    if slug == "acme":
        tax_rule("DE", "19")
    usage(w.tenant, f"{slug}_api", w.version, NOV_5, "1000")
    usage(w.tenant, f"{slug}_storage", w.version, NOV_5, "60")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    customer = UserFactory.create(username=f"{slug}-customer")
    membership_grant(user=customer, role=Role.CUSTOMER_VIEWER, tenant=w.tenant)
    finance = User.objects.filter(username="fin").first() or finance_user(Role.FINANCE_EDITOR, username="fin")
    return Scene(
        invoice=invoice,
        api=invoice.lines.get(amount=Decimal("100.00")),
        storage=invoice.lines.get(amount=Decimal("30.00")),
        customer=customer,
        finance=finance,
    )


@pytest.fixture
def scene() -> Scene:
    return _scene()


def _open(s: Scene, line: InvoiceLine | None = None, **kwargs: Any) -> Dispute:
    fields: dict[str, Any] = {
        "reason": Dispute.Reason.WRONG_QUANTITY,
        "message": "We did not make 1000 calls.",
        "user": s.customer,
        "now": DEC_10,
    }
    fields.update(kwargs)
    return dispute_open(tenant=s.invoice.tenant, invoice=s.invoice, line=line, **fields)


# Opening


def test_it_opens_a_dispute_on_a_line_with_an_opening_event(scene: Scene):
    dispute = _open(scene, scene.api)
    assert (dispute.status, dispute.line_id, dispute.invoice_id, dispute.tenant_id) == (
        "open",
        scene.api.pk,
        scene.invoice.pk,
        scene.invoice.tenant_id,
    )
    assert list(dispute.events.values_list("kind", "message", "by_finance", "actor_id")) == [
        ("opened", "We did not make 1000 calls.", False, scene.customer.pk)
    ]


def test_it_opens_a_dispute_on_the_whole_invoice(scene: Scene):
    dispute = _open(scene, None, reason=Dispute.Reason.DUPLICATE, message="Charged twice for November.")
    assert (dispute.line_id, dispute.reason, dispute.message) == (
        None,
        "duplicate",
        "Charged twice for November.",
    )


def test_it_refuses_a_second_open_dispute_on_the_same_line(scene: Scene):
    _open(scene, scene.api)
    with pytest.raises(StateError, match="this line already has an open dispute"):
        _open(scene, scene.api)
    assert Dispute.objects.count() == 1


def test_it_allows_disputes_on_two_lines_and_the_whole_invoice_at_once(scene: Scene):
    _open(scene, scene.api)
    _open(scene, scene.storage)
    _open(scene, None)
    assert Dispute.objects.filter(status="open").count() == 3


def test_it_allows_a_new_dispute_on_a_line_once_the_first_is_withdrawn(scene: Scene):
    first = _open(scene, scene.api)
    dispute_withdraw(dispute=first, user=scene.customer, now=DEC_10)
    again = _open(scene, scene.api)
    assert (again.status, Dispute.objects.count()) == ("open", 2)


def test_it_refuses_an_unknown_reason(scene: Scene):
    with pytest.raises(ValidationFailed, match="choose a reason"):
        _open(scene, scene.api, reason="because")


def test_it_refuses_an_empty_message(scene: Scene):
    with pytest.raises(ValidationFailed, match="a message is required"):
        _open(scene, scene.api, message="   ")


def test_it_refuses_an_invoice_of_another_tenant(scene: Scene):
    other = _scene("globex")
    with pytest.raises(NotFound):
        dispute_open(
            tenant=scene.invoice.tenant,
            invoice=other.invoice,
            reason="other",
            message="not ours",
            user=scene.customer,
        )


def test_it_refuses_a_line_of_another_invoice(scene: Scene):
    other = _scene("globex")
    with pytest.raises(NotFound):
        _open(scene, other.api)


def test_it_refuses_a_user_of_another_tenant(scene: Scene):
    other = _scene("globex")
    with pytest.raises(NotFound):
        _open(scene, scene.api, user=other.customer)


def test_it_refuses_a_void_invoice(scene: Scene):
    invoice_void(invoice=scene.invoice, reason="wrong customer", now=DEC_10)
    scene.invoice.refresh_from_db()
    with pytest.raises(StateError, match="only an issued invoice"):
        _open(scene, scene.api)


def test_it_refuses_a_draft_invoice(scene: Scene):
    draft = Invoice.objects.create(
        tenant=scene.invoice.tenant,
        period_key="2026-12",
        period_start=datetime(2026, 12, 1, tzinfo=UTC),
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
        currency="EUR",
        base_currency="EUR",
    )
    with pytest.raises(StateError, match="only an issued invoice"):
        dispute_open(tenant=draft.tenant, invoice=draft, reason="other", message="x", user=scene.customer)


# Finance's moves and who may make them


def test_finance_takes_an_open_dispute_under_review(scene: Scene):
    dispute = dispute_review(dispute=_open(scene, scene.api), user=scene.finance, now=DEC_10)
    assert dispute.status == "under_review"
    assert list(dispute.events.values_list("kind", "by_finance")) == [
        ("opened", False),
        ("under_review", True),
    ]


def test_a_dispute_under_review_is_not_taken_under_review_again(scene: Scene):
    dispute = dispute_review(dispute=_open(scene, scene.api), user=scene.finance)
    with pytest.raises(StateError, match="already under review"):
        dispute_review(dispute=dispute, user=scene.finance)


@pytest.mark.parametrize("move", ["review", "reject", "resolve"])
def test_a_customer_cannot_decide(scene: Scene, move: str):
    dispute = _open(scene, scene.api)
    with pytest.raises(PermissionDenied):
        _decide(move, dispute, scene.customer)
    assert Dispute.objects.get(pk=dispute.pk).status == "open"


@pytest.mark.parametrize("move", ["review", "reject", "resolve"])
def test_a_finance_viewer_cannot_decide(scene: Scene, move: str):
    dispute = _open(scene, scene.api)
    viewer = finance_user(Role.FINANCE_VIEWER, username="viewer")
    with pytest.raises(PermissionDenied):
        _decide(move, dispute, viewer)


@pytest.mark.parametrize("move", ["withdraw", "comment"])
def test_a_finance_viewer_cannot_speak_in_a_dispute(scene: Scene, move: str):
    dispute = _open(scene, scene.api)
    viewer = finance_user(Role.FINANCE_VIEWER, username="viewer")
    with pytest.raises(PermissionDenied):
        _decide(move, dispute, viewer)
    assert (Dispute.objects.get(pk=dispute.pk).status, dispute.events.count()) == ("open", 1)


def test_finance_cannot_withdraw_the_customers_dispute(scene: Scene):
    dispute = _open(scene, scene.api)
    with pytest.raises(PermissionDenied, match="only the customer's own users may withdraw a dispute"):
        dispute_withdraw(dispute=dispute, user=scene.finance)
    assert Dispute.objects.get(pk=dispute.pk).status == "open"


def test_finance_cannot_open_a_dispute_for_the_customer(scene: Scene):
    with pytest.raises(PermissionDenied, match="only the customer's own users may open a dispute"):
        _open(scene, scene.api, user=scene.finance)


def test_a_deciding_finance_user_may_comment(scene: Scene):
    dispute = _open(scene, scene.api)
    event = dispute_comment(dispute=dispute, message="We are checking the logs.", user=scene.finance)
    assert (event.kind, event.by_finance) == ("comment", True)


def _decide(move: str, dispute: Dispute, user: User) -> Any:
    if move == "review":
        return dispute_review(dispute=dispute, user=user)
    if move == "reject":
        return dispute_reject(dispute=dispute, reason="The usage is correct.", user=user)
    if move == "resolve":
        return dispute_resolve(dispute=dispute, amount=Decimal("10.00"), user=user, note="goodwill")
    if move == "withdraw":
        return dispute_withdraw(dispute=dispute, user=user)
    return dispute_comment(dispute=dispute, message="any news?", user=user)


def test_finance_rejects_with_a_reason(scene: Scene):
    dispute = _open(scene, scene.api)
    rejected = dispute_reject(
        dispute=dispute, reason="The 1000 calls are in your logs.", user=scene.finance, now=DEC_10
    )
    rejected.refresh_from_db()
    assert (rejected.status, rejected.outcome, rejected.decided_by_id, rejected.decided_at) == (
        "rejected",
        "The 1000 calls are in your logs.",
        scene.finance.pk,
        DEC_10,
    )


def test_a_rejection_needs_a_reason(scene: Scene):
    dispute = _open(scene, scene.api)
    with pytest.raises(ValidationFailed, match="a reason is required"):
        dispute_reject(dispute=dispute, reason=" ", user=scene.finance)


def test_the_customer_withdraws_a_dispute_under_review(scene: Scene):
    dispute = dispute_review(
        dispute=_open(scene, scene.api), user=scene.finance, now=DEC_10 + timedelta(hours=1)
    )
    withdrawn = dispute_withdraw(
        dispute=dispute, user=scene.customer, message="Found it, sorry.", now=DEC_10 + timedelta(hours=2)
    )
    assert withdrawn.status == "withdrawn"
    assert list(withdrawn.events.values_list("kind", "message")) == [
        ("opened", "We did not make 1000 calls."),
        ("under_review", ""),
        ("withdrawn", "Found it, sorry."),
    ]


def test_a_user_of_another_tenant_cannot_comment_or_withdraw(scene: Scene):
    dispute = _open(scene, scene.api)
    other = _scene("globex")
    with pytest.raises(NotFound):
        dispute_comment(dispute=dispute, message="hi", user=other.customer)
    with pytest.raises(NotFound):
        dispute_withdraw(dispute=dispute, user=other.customer)


def _closed(scene: Scene, how: str) -> Dispute:
    dispute = _open(scene, scene.api)
    if how == "rejected":
        return dispute_reject(dispute=dispute, reason="correct as billed", user=scene.finance)
    if how == "resolved":
        return dispute_resolve(dispute=dispute, amount=Decimal("5.00"), user=scene.finance, note="goodwill")
    return dispute_withdraw(dispute=dispute, user=scene.customer)


@pytest.mark.parametrize("how", ["rejected", "resolved", "withdrawn"])
@pytest.mark.parametrize("move", ["review", "reject", "resolve", "withdraw", "comment"])
def test_a_closed_dispute_refuses_every_move(scene: Scene, how: str, move: str):
    dispute = _closed(scene, how)
    user = scene.customer if move in ("withdraw", "comment") else scene.finance
    with pytest.raises(StateError, match="it is closed"):
        _decide(move, dispute, user)
    assert Dispute.objects.get(pk=dispute.pk).status == how
    assert dispute.events.count() == 2


# Resolving with a credit note


def test_resolving_a_line_issues_a_credit_note_on_that_line_and_links_it(scene: Scene):
    dispute = _open(scene, scene.api)
    resolved = dispute_resolve(
        dispute=dispute, amount=Decimal("30.00"), user=scene.finance, note="10 % goodwill", now=DEC_10
    )
    resolved.refresh_from_db()
    note = resolved.credit_note
    assert note is not None
    assert (resolved.status, resolved.outcome, resolved.decided_by_id, resolved.decided_at) == (
        "resolved",
        "10 % goodwill",
        scene.finance.pk,
        DEC_10,
    )
    # 30.00 + 19 % = 35.70
    assert (note.invoice_id, note.subtotal, note.tax_total, note.total, note.reason) == (
        scene.invoice.pk,
        Decimal("30.00"),
        Decimal("5.70"),
        Decimal("35.70"),
        f"dispute {dispute.pk}: 10 % goodwill",
    )
    assert list(note.lines.values_list("invoice_line_id", "amount")) == [(scene.api.pk, Decimal("30.00"))]
    assert list(resolved.events.values_list("kind", "message")) == [
        ("opened", "We did not make 1000 calls."),
        ("resolved", f"10 % goodwill (credit note {note.number})"),
    ]
    assert ledger_verify().message == "OK 2"


def test_resolving_the_whole_invoice_in_part_spreads_the_credit_over_its_lines(scene: Scene):
    dispute = _open(scene, None)
    resolved = dispute_resolve(dispute=dispute, amount=Decimal("13.00"), user=scene.finance, note="outage")
    note = resolved.credit_note
    assert note is not None
    # 13.00 pro rata to 100.00 and 30.00: 10.00 and 3.00; tax 19 % of 13.00 = 2.47
    assert sorted(
        CreditNoteLine.objects.filter(credit_note=note).values_list("invoice_line_id", "amount")
    ) == sorted([(scene.api.pk, Decimal("10.00")), (scene.storage.pk, Decimal("3.00"))])
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("13.00"),
        Decimal("2.47"),
        Decimal("15.47"),
    )
    assert ledger_verify().message == "OK 2"


def test_resolving_the_whole_invoice_in_full_credits_everything(scene: Scene):
    dispute = _open(scene, None)
    resolved = dispute_resolve(
        dispute=dispute, amount=Decimal("130.00"), user=scene.finance, note="cancelled"
    )
    note = resolved.credit_note
    assert note is not None
    # 130.00 + 24.70 = 154.70, the invoice's total
    assert (note.subtotal, note.tax_total, note.total, scene.invoice.total) == (
        Decimal("130.00"),
        Decimal("24.70"),
        Decimal("154.70"),
        Decimal("154.70"),
    )
    assert ledger_verify().message == "OK 2"


def test_finance_may_credit_the_whole_invoice_for_a_dispute_on_a_line(scene: Scene):
    dispute = _open(scene, scene.storage)
    resolved = dispute_resolve(
        dispute=dispute, amount=Decimal("130.00"), user=scene.finance, note="all of it", whole_invoice=True
    )
    note = resolved.credit_note
    assert note is not None
    assert (note.subtotal, note.total, note.lines.count()) == (Decimal("130.00"), Decimal("154.70"), 2)


def test_a_credit_beyond_the_line_is_refused_and_the_dispute_stays_open(scene: Scene):
    dispute = _open(scene, scene.storage)
    with pytest.raises(ValidationFailed, match="more than was invoiced"):
        dispute_resolve(dispute=dispute, amount=Decimal("30.01"), user=scene.finance, note="too much")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.credit_note_id, dispute.events.count()) == ("open", None, 1)
    assert scene.invoice.credit_notes.count() == 0


def test_a_credit_beyond_the_whole_invoice_is_refused(scene: Scene):
    dispute = _open(scene, None)
    with pytest.raises(ValidationFailed, match="more than was invoiced"):
        dispute_resolve(dispute=dispute, amount=Decimal("130.01"), user=scene.finance, note="too much")


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.005"])
def test_a_credit_is_positive_in_the_minor_unit(scene: Scene, amount: str):
    dispute = _open(scene, scene.api)
    with pytest.raises(ValidationFailed, match="positive amount in the currency's minor unit"):
        dispute_resolve(dispute=dispute, amount=Decimal(amount), user=scene.finance, note="x")


# The database guard (ledger 0010)


def _raw(sql: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    ("how", "to"),
    [
        ("rejected", "open"),
        ("rejected", "under_review"),
        ("withdrawn", "open"),
        ("resolved", "under_review"),
    ],
)
def test_the_database_refuses_reopening_a_closed_dispute(scene: Scene, how: str, to: str):
    dispute = _closed(scene, how)
    with pytest.raises(IntegrityError, match="never changes again"):
        _raw("UPDATE ledger_dispute SET status = %s WHERE id = %s", [to, dispute.pk])


def test_the_database_refuses_under_review_back_to_open(scene: Scene):
    dispute = dispute_review(dispute=_open(scene, scene.api), user=scene.finance)
    with pytest.raises(IntegrityError, match="under_review -> open is not allowed"):
        _raw("UPDATE ledger_dispute SET status = 'open' WHERE id = %s", [dispute.pk])


def test_the_database_refuses_resolved_without_a_credit_note(scene: Scene):
    dispute = _open(scene, scene.api)
    with pytest.raises(IntegrityError, match="dispute_resolved_credit_note"):
        _raw("UPDATE ledger_dispute SET status = 'resolved', decided_at = now() WHERE id = %s", [dispute.pk])


def test_the_database_refuses_changing_what_a_dispute_is_about(scene: Scene):
    dispute = _open(scene, scene.api)
    with pytest.raises(IntegrityError, match="what it is about never changes"):
        _raw("UPDATE ledger_dispute SET message = 'edited' WHERE id = %s", [dispute.pk])


def test_the_database_refuses_deleting_a_dispute(scene: Scene):
    dispute = _open(scene, scene.api)
    with pytest.raises(IntegrityError, match="never deleted"):
        _raw("DELETE FROM ledger_dispute WHERE id = %s", [dispute.pk])


def test_the_database_refuses_a_dispute_created_decided(scene: Scene):
    with pytest.raises(IntegrityError, match="created open"):
        Dispute.objects.create(
            tenant=scene.invoice.tenant,
            invoice=scene.invoice,
            reason="other",
            message="x",
            status="withdrawn",
            opened_by=scene.customer,
            created_at=DEC_10,
        )


def test_the_database_refuses_editing_the_timeline(scene: Scene):
    dispute = _open(scene, scene.api)
    event = dispute.events.get()
    with pytest.raises(IntegrityError):
        _raw("UPDATE ledger_disputeevent SET message = 'edited' WHERE id = %s", [event.pk])
    with pytest.raises(IntegrityError):
        _raw("DELETE FROM ledger_disputeevent WHERE id = %s", [event.pk])


# The timeline


def test_the_timeline_holds_every_step_in_order_with_who_made_it(scene: Scene):
    t0 = DEC_10
    dispute = _open(scene, scene.api, now=t0)
    dispute_comment(
        dispute=dispute, message="Our logs show 800.", user=scene.customer, now=t0 + timedelta(hours=1)
    )
    dispute_review(dispute=dispute, user=scene.finance, now=t0 + timedelta(hours=2))
    dispute_comment(
        dispute=dispute, message="Checking the meters.", user=scene.finance, now=t0 + timedelta(hours=3)
    )
    dispute_resolve(
        dispute=dispute,
        amount=Decimal("20.00"),
        user=scene.finance,
        note="200 calls were retries",
        now=t0 + timedelta(hours=4),
    )
    number = Dispute.objects.get(pk=dispute.pk).credit_note.number  # type: ignore[union-attr]
    assert list(
        DisputeEvent.objects.filter(dispute=dispute).values_list(
            "kind", "message", "by_finance", "created_at"
        )
    ) == [
        ("opened", "We did not make 1000 calls.", False, t0),
        ("comment", "Our logs show 800.", False, t0 + timedelta(hours=1)),
        ("under_review", "", True, t0 + timedelta(hours=2)),
        ("comment", "Checking the meters.", True, t0 + timedelta(hours=3)),
        ("resolved", f"200 calls were retries (credit note {number})", True, t0 + timedelta(hours=4)),
    ]


# Attachments


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_a_pdf_attachment_is_stored_privately_under_the_tenant(scene: Scene, media: Path):
    upload = SimpleUploadedFile("../../etc/usage report.pdf", PDF, content_type="text/html")
    dispute = _open(scene, scene.api, attachment=upload)
    tenant_id = scene.invoice.tenant_id
    assert re.fullmatch(rf"private/disputes/{tenant_id}/[0-9a-f]{{32}}", dispute.attachment)
    assert (dispute.attachment_name, dispute.attachment_type) == ("usage report.pdf", "application/pdf")
    assert (media / dispute.attachment).read_bytes() == PDF


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("screenshot.png", PNG, "image/png"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 10, "image/jpeg"),
        ("notes.txt", "Zählerstand: 800\n".encode(), "text/plain"),
        ("usage.csv", b"day,calls\n2026-11-05,800\n", "text/csv"),
        ("usage.pdf", b"day,calls\n2026-11-05,800\n", "text/plain"),  # the name never makes it a PDF
    ],
)
def test_an_attachment_type_is_judged_by_its_bytes(
    scene: Scene, media: Path, name: str, data: bytes, content_type: str
):
    dispute = _open(
        scene, scene.api, attachment=SimpleUploadedFile(name, data, content_type="application/pdf")
    )
    assert dispute.attachment_type == content_type


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("invoice.pdf", EXE),  # a renamed executable
        ("page.txt", b"hello\x00world"),  # binary, not text
        ("latin1.csv", "Zähler".encode("latin-1")),  # not UTF-8
        ("archive.pdf", b"PK\x03\x04" + b"\x00" * 30),
    ],
)
def test_an_attachment_of_another_type_is_refused_and_nothing_is_stored(
    scene: Scene, media: Path, name: str, data: bytes
):
    with pytest.raises(ValidationFailed, match="must be a PDF, PNG, JPEG, plain text or CSV"):
        _open(scene, scene.api, attachment=SimpleUploadedFile(name, data, content_type="application/pdf"))
    assert Dispute.objects.count() == 0
    assert not (media / "private").exists()


def test_an_attachment_over_the_limit_is_refused(scene: Scene, media: Path, settings: Any):
    settings.DISPUTE_ATTACHMENT_MAX_BYTES = 64
    with pytest.raises(ValidationFailed, match="larger than"):
        _open(scene, scene.api, attachment=SimpleUploadedFile("big.pdf", PDF + b"x" * 64))
    assert Dispute.objects.count() == 0


def test_an_attachment_at_the_limit_is_accepted(scene: Scene, media: Path, settings: Any):
    data = PDF + b"x" * (64 - len(PDF))
    settings.DISPUTE_ATTACHMENT_MAX_BYTES = 64
    dispute = _open(scene, scene.api, attachment=SimpleUploadedFile("exact.pdf", data))
    assert default_storage.size(dispute.attachment) == 64


def test_the_default_limit_is_five_megabytes(settings: Any):
    assert settings.DISPUTE_ATTACHMENT_MAX_BYTES == 5 * 1024 * 1024


def test_an_attachment_of_a_refused_dispute_is_not_kept(scene: Scene, media: Path):
    _open(scene, scene.api)
    with pytest.raises(StateError):
        _open(scene, scene.api, attachment=SimpleUploadedFile("again.pdf", PDF))
    assert not (media / "private").exists()


# The demo (manage.py demo_disputes)


def test_demo_disputes_leaves_acmes_open_and_resolves_umbrellas_once():
    finance_user(Role.FINANCE_APPROVER, username="finance")
    invoices = {}
    for slug, number in (("acme", "ACME-2026-000002"), ("umbrella", "UMBRELLA-2026-000001")):
        owner = doc_tenant(slug)
        membership_grant(
            user=UserFactory.create(username=f"{slug}-admin"), role=Role.CUSTOMER_ADMIN, tenant=owner
        )
        spec = Spec(
            lines=[Line("API requests", "1234.50"), Line("Platform fee", "99.00", kind="flat")],
            vat=[Vat("S", "19", "1333.50", "253.37")],
            number=number,
        )
        invoices[slug] = issued_invoice(spec, owner=owner)

    out = StringIO()
    call_command("demo_disputes", stdout=out)
    call_command("demo_disputes", stdout=out)

    acme, umbrella = (Dispute.objects.get(invoice=invoices[slug]) for slug in ("acme", "umbrella"))
    assert (acme.status, acme.line.description if acme.line else "", acme.attachment_type) == (
        "open",
        "API requests",
        "text/csv",
    )
    assert umbrella.status == "resolved"
    assert umbrella.credit_note is not None
    # 25.00 + 19 % = 29.75
    assert (umbrella.credit_note.subtotal, umbrella.credit_note.total) == (Decimal("25.00"), Decimal("29.75"))
    assert list(umbrella.events.values_list("kind", "by_finance")) == [
        ("opened", False),
        ("under_review", True),
        ("comment", True),
        ("resolved", True),
    ]
    assert Dispute.objects.count() == 2
    assert out.getvalue().count("umbrella dispute") == 2


# Races: the dispute row is locked


@pytest.mark.django_db(transaction=True)
def test_two_finance_users_resolving_at_once_issue_one_credit_note():
    s = _scene()
    dispute = _open(s, s.api)
    other = finance_user(Role.FINANCE_APPROVER, username="fin2")
    results, errors = run_together(
        [
            lambda: dispute_resolve(dispute=dispute, amount=Decimal("10.00"), user=s.finance, note="one"),
            lambda: dispute_resolve(dispute=dispute, amount=Decimal("20.00"), user=other, note="two"),
        ]
    )
    assert (len(results), [type(e) for e in errors]) == (1, [StateError])
    assert s.invoice.credit_notes.count() == 1
    assert Dispute.objects.get(pk=dispute.pk).credit_note_id == s.invoice.credit_notes.get().pk


@pytest.mark.django_db(transaction=True)
def test_two_openings_of_the_same_line_at_once_open_one_dispute():
    s = _scene()
    results, errors = run_together([lambda: _open(s, s.api), lambda: _open(s, s.api)])
    assert (len(results), [type(e) for e in errors]) == (1, [StateError])
    assert Dispute.objects.count() == 1
