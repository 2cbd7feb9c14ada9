"""Disputes accepted in full or in part (ledger.services.disputes.dispute_resolve): all that is left on
the disputed line, chosen lines with amounts, refusals naming what is left; VAT per rate over the credited
amounts (BR-CO-17), postings that verify, the decision in the audit trail. Amounts worked by hand on the
scene of test_disputes: api 1000 x 0.10 = 100.00, storage 60 x 0.50 = 30.00, DE 19 %: 130.00 + 24.70 =
154.70."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common.errors import ValidationFailed
from ledger.audit.models import AuditRecord
from ledger.models import CreditNoteLine
from ledger.services.disputes import dispute_credit_left, dispute_resolve
from ledger.verify import ledger_verify
from tests.ledger.test_disputes import DEC_10, Scene, _open, _scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene() -> Scene:
    return _scene()


def _credited(note_id: int) -> list[tuple[int, Decimal, Decimal]]:
    return list(
        CreditNoteLine.objects.filter(credit_note_id=note_id)
        .order_by("invoice_line__position")
        .values_list("invoice_line_id", "amount", "tax_amount")
    )


def test_in_full_on_a_line_credits_all_that_is_left_on_it(scene: Scene):
    dispute = _open(scene, scene.storage)

    resolved = dispute_resolve(dispute=dispute, user=scene.finance, note="agreed", now=DEC_10)

    note = resolved.credit_note
    assert note is not None
    # 30.00 + 19 % = 35.70
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("30.00"),
        Decimal("5.70"),
        Decimal("35.70"),
    )
    assert _credited(note.pk) == [(scene.storage.pk, Decimal("30.00"), Decimal("5.70"))]
    assert ledger_verify().message == "OK 2"


def test_in_part_by_chosen_lines_credits_each_and_taxes_their_sum(scene: Scene):
    dispute = _open(scene, None)

    resolved = dispute_resolve(
        dispute=dispute,
        user=scene.finance,
        note="two lines",
        lines=[(scene.api.pk, Decimal("12.34")), (scene.storage.pk, Decimal("5.00"))],
    )

    note = resolved.credit_note
    assert note is not None
    # 17.34 x 19 % = 3.2946 -> 3.29, spread 12.34 : 5.00 -> 2.34 and 0.95
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("17.34"),
        Decimal("3.29"),
        Decimal("20.63"),
    )
    assert _credited(note.pk) == [
        (scene.api.pk, Decimal("12.34"), Decimal("2.34")),
        (scene.storage.pk, Decimal("5.00"), Decimal("0.95")),
    ]
    assert ledger_verify().message == "OK 2"


def test_the_tax_of_chosen_lines_is_rounded_once_per_rate_br_co_17(scene: Scene):
    dispute = _open(scene, None)

    resolved = dispute_resolve(
        dispute=dispute,
        user=scene.finance,
        note="cents",
        lines=[(scene.api.pk, Decimal("0.03")), (scene.storage.pk, Decimal("0.03"))],
    )

    note = resolved.credit_note
    assert note is not None
    # per line 0.0057 -> 0.01 each would be 0.02; BR-CO-17: 0.06 x 19 % = 0.0114 -> 0.01
    assert (note.subtotal, note.tax_total, note.total) == (Decimal("0.06"), Decimal("0.01"), Decimal("0.07"))


def test_a_partial_credit_above_what_is_left_on_the_line_is_refused_with_what_is_left(scene: Scene):
    first = _open(scene, scene.storage)
    dispute_resolve(dispute=first, user=scene.finance, note="part", amount=Decimal("20.00"))
    second = _open(scene, scene.storage)

    with pytest.raises(ValidationFailed) as err:
        dispute_resolve(dispute=second, user=scene.finance, note="more", amount=Decimal("10.01"))

    assert err.value.message == (
        "10.01 EUR is more than was invoiced less earlier credit notes: "
        f"10.00 EUR is left to credit on line {scene.storage.position}"
    )
    second.refresh_from_db()
    assert (second.status, scene.invoice.credit_notes.count()) == ("open", 1)


def test_a_chosen_line_above_what_is_left_is_refused_and_nothing_is_credited(scene: Scene):
    dispute = _open(scene, None)

    with pytest.raises(ValidationFailed) as err:
        dispute_resolve(
            dispute=dispute,
            user=scene.finance,
            note="too much",
            lines=[(scene.api.pk, Decimal("1.00")), (scene.storage.pk, Decimal("30.01"))],
        )

    assert err.value.message == (
        "30.01 EUR is more than was invoiced less earlier credit notes: "
        f"30.00 EUR is left to credit on line {scene.storage.position}"
    )
    assert (scene.invoice.credit_notes.count(), dispute.events.count()) == (0, 1)


def test_in_full_on_the_invoice_after_a_partial_credit_credits_the_rest(scene: Scene):
    first = _open(scene, scene.storage)
    dispute_resolve(dispute=first, user=scene.finance, note="part", amount=Decimal("20.00"))
    whole = _open(scene, None)

    resolved = dispute_resolve(dispute=whole, user=scene.finance, note="the rest")

    note = resolved.credit_note
    assert note is not None
    # 130.00 - 20.00 = 110.00; tax 24.70 - 3.80 = 20.90; total 154.70 - 23.80 = 130.90
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("110.00"),
        Decimal("20.90"),
        Decimal("130.90"),
    )
    assert [c.left for c in dispute_credit_left(invoice=scene.invoice)] == [Decimal("0.00"), Decimal("0.00")]
    assert ledger_verify().message == "OK 3"


def test_an_amount_and_chosen_lines_together_are_refused(scene: Scene):
    dispute = _open(scene, None)

    with pytest.raises(ValidationFailed, match="give an amount or chosen lines, not both"):
        dispute_resolve(
            dispute=dispute,
            user=scene.finance,
            note="both",
            amount=Decimal("1.00"),
            lines=[(scene.api.pk, Decimal("1.00"))],
        )


def test_a_line_chosen_twice_is_refused(scene: Scene):
    dispute = _open(scene, None)

    with pytest.raises(ValidationFailed, match=f"line {scene.api.position} is chosen twice"):
        dispute_resolve(
            dispute=dispute,
            user=scene.finance,
            note="twice",
            lines=[(scene.api.pk, Decimal("1.00")), (scene.api.pk, Decimal("2.00"))],
        )


def test_the_decision_is_in_the_audit_trail(scene: Scene):
    dispute = _open(scene, scene.api)

    resolved = dispute_resolve(dispute=dispute, user=scene.finance, note="goodwill", amount=Decimal("10.00"))

    note = resolved.credit_note
    assert note is not None
    record = AuditRecord.objects.get(action="dispute.resolve")
    assert (record.object_type, record.object_id, record.actor_id, record.reason) == (
        "ledger.dispute",
        str(dispute.pk),
        scene.finance.pk,
        "goodwill",
    )
    assert record.diff["status"] == ["open", "resolved"]
    assert record.after is not None
    assert (record.after["credit_note_number"], record.after["credit_total"]) == (note.number, "11.90")
    assert list(AuditRecord.objects.order_by("seq").values_list("action", flat=True)) == [
        "dispute.open",
        "credit_note.issue",  # by the credit note service, in the same transaction
        "dispute.resolve",
    ]
