"""Display fields of API responses (`*_display`): amounts as a person reads them, next to the exact
decimal strings that programs should use. The locale is, in this order: the first language of the
request's `Accept-Language` that Babel knows (by its q-value), the tenant's document locale (`locale`),
else English. Responses carrying display fields vary on Accept-Language."""

from __future__ import annotations

from decimal import Decimal

from rest_framework.request import Request

from common.money import is_known_currency
from common.money_format import DEFAULT_LOCALE, format_money, known_locale
from tenants.models import Tenant

ACCEPT_LANGUAGE_HELP = (
    "optional: the language of the *_display fields (e.g. de-DE); default: the tenant's document "
    "locale, else en"
)
_MAX_LANGUAGES = 8


def _accepted(header: str) -> list[str]:
    """The language tags of an Accept-Language header, best first (q-value, then order); `*` and q=0
    left out. Malformed parts are skipped, never an error."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:_MAX_LANGUAGES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def display_locale(request: Request, tenant: Tenant | None) -> str:
    for tag in _accepted(request.headers.get("Accept-Language", "")):
        found = known_locale(tag)
        if found is not None:
            return found
    if tenant is not None:
        return known_locale(tenant.locale) or DEFAULT_LOCALE
    return DEFAULT_LOCALE


def money_display(amount: Decimal | str | None, currency: str, locale: str) -> str:
    """`format_money` of an amount (a Decimal or its exact string), "" when there is nothing to show
    (no amount, or a currency without a minor unit)."""
    if amount is None or amount == "" or not is_known_currency(currency):
        return ""
    return format_money(Decimal(str(amount)), currency, locale)
