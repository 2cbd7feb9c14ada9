"""Exchange rates: every row is signed with HMAC-SHA256 (settings.FX_SIGNING_KEY) over its canonical
content, and an unsigned or badly signed row is never used.

Canonical content (UTF-8): "<date ISO>|<BASE>|<QUOTE>|<rate, plain decimal, normalized>|<source>"."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from billing.close.models import ExchangeRate
from common.errors import ValidationFailed
from ledger.audit.services import Actor, audit_record, audit_snapshot


def _rate_text(rate: Decimal) -> str:
    text = f"{Decimal(rate).normalize():f}"
    return text


def fx_canonical(*, day: date, base: str, quote: str, rate: Decimal, source: str) -> bytes:
    return f"{day.isoformat()}|{base}|{quote}|{_rate_text(rate)}|{source}".encode()


def fx_sign(*, day: date, base: str, quote: str, rate: Decimal, source: str, key: str | None = None) -> str:
    secret = (key if key is not None else settings.FX_SIGNING_KEY).encode()
    content = fx_canonical(day=day, base=base, quote=quote, rate=rate, source=source)
    return hmac.new(secret, content, hashlib.sha256).hexdigest()


def fx_verify(row: ExchangeRate) -> bool:
    if not row.signature:
        return False
    expected = fx_sign(day=row.date, base=row.base, quote=row.quote, rate=row.rate, source=row.source)
    return hmac.compare_digest(expected, row.signature)


def exchange_rate_create(
    *, day: date, base: str, quote: str, rate: Decimal, source: str, actor: Actor = None, reason: str = ""
) -> ExchangeRate:
    """Store a signed rate (1 `base` = `rate` `quote`); replaces nothing (one row per day and pair).
    Audited (`exchange_rate.create`) as `actor`'s."""
    if rate <= 0:
        raise ValidationFailed("an exchange rate is positive")
    with transaction.atomic():
        if ExchangeRate.objects.filter(date=day, base=base, quote=quote).exists():
            raise ValidationFailed(f"a {base}/{quote} rate for {day} already exists")
        row = ExchangeRate(date=day, base=base, quote=quote, rate=rate, source=source)
        row.full_clean(exclude=["signature"])
        # Sign the value as the database will return it (DECIMAL(24, 12)), so verification round-trips.
        row.rate = Decimal(rate).quantize(Decimal("1e-12"))
        row.signature = fx_sign(day=day, base=base, quote=quote, rate=row.rate, source=source)
        row.save()
        audit_record(
            actor=actor,
            action="exchange_rate.create",
            obj=row,
            before=None,
            after=audit_snapshot(row, exclude=["created_at"]),
            reason=reason or f"rate from {source}",
        )
    return row
