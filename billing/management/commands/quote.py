"""`manage.py quote`: one JSON object on stdin -> one JSON object on the last line of stdout.

Exit code 0 with the quote, or 2 with `{"error": "invalid", "message": ..., "errors": [{"field", "message"}]}`."""

import json
import sys
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand

from billing.pricing import PricingError, error_payload, quote


class Command(BaseCommand):
    help = "Price one price entry for a quantity (and per-event quantities). Reads JSON on stdin."

    def handle(self, *args: Any, **options: Any) -> None:
        raw = sys.stdin.read()
        try:
            payload = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as err:
            self._fail(
                {
                    "error": "invalid",
                    "message": f"$: invalid JSON: {err.msg}",
                    "errors": [{"field": "$", "message": f"invalid JSON: {err.msg}"}],
                }
            )
        try:
            result = quote(payload)
        except PricingError as err:
            self._fail(error_payload(err))
        self.stdout.write(json.dumps(result))

    def _fail(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload))
        sys.stdout.flush()
        raise SystemExit(2)
