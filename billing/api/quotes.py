"""POST /api/v1/quotes: the pricing engine from the outside (same shapes as `manage.py quote`)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.pricing import PricingError, error_payload, quote


class DecimalPreservingJSONParser(BaseParser):
    """JSON where numbers stay exact: 0.1 arrives as Decimal("0.1"), never as a float."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        from rest_framework.exceptions import ParseError

        try:
            return json.loads(stream.read().decode("utf-8"), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            raise ParseError(f"JSON parse error - {err}") from err


QuoteRequest = inline_serializer(
    "QuoteRequest",
    fields={
        "price": serializers.DictField(help_text="one entry of a profile's prices, without sku"),
        "quantity": serializers.CharField(required=False),
        "events": serializers.ListField(child=serializers.CharField(), required=False),
        "currency": serializers.CharField(),
    },
)
QuoteResponse = inline_serializer(
    "QuoteResponse",
    fields={
        "amount": serializers.CharField(),
        "amount_rounded": serializers.CharField(),
        "currency": serializers.CharField(),
        "breakdown": serializers.ListField(child=serializers.DictField()),
    },
)


class QuoteView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [DecimalPreservingJSONParser]

    @extend_schema(
        request=QuoteRequest,
        responses={200: QuoteResponse, 400: None},
        examples=[
            OpenApiExample(
                "graduated",
                value={
                    "price": {
                        "model": "graduated",
                        "tiers": [
                            {"up_to": "1000", "unit_amount": "0"},
                            {"up_to": None, "unit_amount": "0.002"},
                        ],
                    },
                    "quantity": "2500",
                    "currency": "EUR",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            result = quote(request.data)
        except PricingError as err:
            return Response(error_payload(err), status=status.HTTP_400_BAD_REQUEST)
        return Response(result)
