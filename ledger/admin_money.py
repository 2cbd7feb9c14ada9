"""Admin list columns that show stored amounts as the customer reads them (common.money_format, the
tenant's locale). Display only: the stored Decimal is untouched and the column still sorts by it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin

from common.money import UnknownCurrency
from common.money_format import format_money


def _follow(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def money_column(
    field: str, *, description: str, currency: str = "currency", tenant: str = "tenant"
) -> Callable[[Any, Any], str]:
    """A ModelAdmin display method for the amount `field`, in the currency at `currency` and the locale of
    the tenant at `tenant` (both `__` paths from the row; select them with `list_select_related`)."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: Any, obj: Any) -> str:
        amount = _follow(obj, field)
        code = _follow(obj, currency)
        if not isinstance(amount, Decimal) or not isinstance(code, str):
            return ""
        locale = getattr(_follow(obj, tenant), "locale", None)
        try:
            return format_money(amount, code, locale)
        except UnknownCurrency:
            return f"{amount} {code}"

    return column
