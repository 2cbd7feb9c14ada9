"""Exchange-rate signatures (HMAC-SHA256 with settings.FX_SIGNING_KEY)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.close.fx import exchange_rate_create, fx_sign, fx_verify
from billing.close.models import ExchangeRate
from common.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_a_created_rate_is_signed_and_verifies():
    row = exchange_rate_create(
        day=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal("160.5"), source="ECB"
    )
    assert len(row.signature) == 64
    assert fx_verify(ExchangeRate.objects.get(pk=row.pk))


def test_a_changed_rate_no_longer_verifies():
    row = exchange_rate_create(
        day=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal("160.5"), source="ECB"
    )
    ExchangeRate.objects.filter(pk=row.pk).update(rate=Decimal("160.6"))
    assert not fx_verify(ExchangeRate.objects.get(pk=row.pk))


def test_a_signature_made_with_another_key_does_not_verify(settings):
    row = exchange_rate_create(
        day=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal("160.5"), source="ECB"
    )
    settings.FX_SIGNING_KEY = "another-key"
    assert not fx_verify(ExchangeRate.objects.get(pk=row.pk))


def test_an_unsigned_row_does_not_verify():
    row = ExchangeRate.objects.create(
        date=date(2026, 11, 30), base="EUR", quote="USD", rate=Decimal("1.1"), source="x"
    )
    assert not fx_verify(row)


def test_the_signature_ignores_trailing_zeros_of_the_rate():
    a = fx_sign(day=date(2026, 1, 1), base="EUR", quote="USD", rate=Decimal("1.10"), source="ECB")
    b = fx_sign(day=date(2026, 1, 1), base="EUR", quote="USD", rate=Decimal("1.1000000"), source="ECB")
    assert a == b


def test_a_second_rate_for_the_same_day_and_pair_is_refused():
    exchange_rate_create(day=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal("160"), source="ECB")
    with pytest.raises(ValidationFailed):
        exchange_rate_create(
            day=date(2026, 11, 30), base="EUR", quote="JPY", rate=Decimal("161"), source="ECB"
        )
