"""POST /api/v1/quotes: the pricing engine from the outside (same shapes as `manage.py quote`).

The engine is pure and unbounded; this view bounds what one request may ask of it: the body
(`QUOTE_MAX_BODY_BYTES`, 413), the number of per-event quantities (`QUOTE_MAX_EVENTS`, 413 naming the
field), each quantity's magnitude (below `MAX_QUANTITY`, as one ingested event's; 400 naming the field)
and the request rate per caller (`QUOTE_RATE_LIMIT`, 429 with Retry-After; the counters live in the
cache, and the limit fails open when the cache is down, as ingest's backpressure does)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from billing.api.display import ACCEPT_LANGUAGE_HELP, display_locale, money_display
from billing.api.openapi import RETRY_AFTER, ClosedSerializer, error_response
from billing.api.parsers import json_document
from billing.pricing import PricingError, error_payload, quote
from billing.profiles.quoting import stored_price
from billing.usage.backpressure import Backpressure
from billing.usage.parsing import MAX_QUANTITY
from common.breaker import redis_breaker
from common.errors import ApplicationError, FieldIssue, NotFound, ValidationFailed
from common.money import InvalidDecimal, parse_decimal
from tenants.api.authentication import ApiKeyPrincipal
from tenants.models import ApiKey, Tenant
from tenants.selectors import tenants_visible_to

# Per-event quantity lists of a quote; `quantity` and `carried_quantity` are single values.
_EVENT_LISTS = ("events", "carried_events")
_QUANTITIES = ("quantity", "carried_quantity")


class QuoteTooLarge(ApplicationError):
    """413: the body or one of its lists is over the endpoint's limits."""

    status_code = 413
    code = "too_large"


def _declared_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _body_too_large(limit: int) -> QuoteTooLarge:
    return QuoteTooLarge(f"the request body is limited to {limit} bytes", extra={"limit_bytes": limit})


class DecimalPreservingJSONParser(BaseParser):
    """JSON where numbers stay exact: 0.1 arrives as Decimal("0.1"), never as a float. Reads at most
    `QUOTE_MAX_BODY_BYTES` (a body without a Content-Length, or with a false one, is cut off there)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.QUOTE_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise _body_too_large(limit)
        return json_document(body, media_type, parse_float=Decimal)  # UTF-8 only, no duplicate keys


class QuoteRateThrottle(SimpleRateThrottle):
    """`QUOTE_RATE_LIMIT` (a DRF rate such as "120/min"; empty disables) per caller: the tenant of a
    tenant key, the platform key itself, or the logged-in user. Read at each request, so a changed
    setting applies at once. A cache outage lets the request through (logged), never fails it."""

    scope = "quotes"

    def get_rate(self) -> str | None:
        return settings.QUOTE_RATE_LIMIT or None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            key = user.api_key
            ident = (
                f"tenant:{key.tenant_id}" if key.scope == ApiKey.Scope.TENANT else f"platform:{key.prefix}"
            )
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        allow = super().allow_request
        return redis_breaker.fail_open(lambda: allow(request, view), default=True, what="quote rate limit")


def _quote_limits_check(payload: Any) -> None:
    """The endpoint's bounds on a parsed body; the engine reports everything else (shape, syntax)."""
    if not isinstance(payload, Mapping):
        return
    limit = settings.QUOTE_MAX_EVENTS
    too_many = [
        FieldIssue(key, f"at most {limit} events per quote (got {len(payload[key])})")
        for key in _EVENT_LISTS
        if isinstance(payload.get(key), list) and len(payload[key]) > limit
    ]
    if too_many:
        raise QuoteTooLarge(f"a quote takes at most {limit} events", issues=too_many)
    values = [(key, payload[key]) for key in _QUANTITIES if key in payload]
    for key in _EVENT_LISTS:
        if isinstance(payload.get(key), list):
            values.extend((f"{key}[{index}]", value) for index, value in enumerate(payload[key]))
    out_of_range = [
        FieldIssue(field, f"must be below {MAX_QUANTITY:,} in magnitude (as one usage event's quantity)")
        for field, value in values
        if _magnitude_at_least(value, MAX_QUANTITY)
    ]
    if out_of_range:
        raise ValidationFailed("quantity out of range", issues=out_of_range)


def _magnitude_at_least(value: Any, bound: Decimal) -> bool:
    try:
        return abs(parse_decimal(value, field="")) >= bound
    except InvalidDecimal:
        return False  # not a number: the engine names the field


class QuoteRequest(ClosedSerializer):  # another key: 400 "unknown key" (billing.pricing.quote)
    price = serializers.DictField(
        required=False, help_text="one entry of a profile's prices, without sku (or: profile and sku)"
    )
    profile = serializers.CharField(
        required=False,
        help_text="instead of price: the price of `sku` in this profile's version in force for the tenant at "
        "`at` (now), canary cohorts included; only the tenant's own profile at that instant (another: 404); "
        "refused (409, reason signature) when that version's approval signatures do not verify",
    )
    tenant = serializers.CharField(
        required=False,
        help_text="with profile: the tenant's slug (a tenant API key: its own, the default); required for "
        "a platform key or a signed-in user, who must see that tenant (else 404)",
    )
    sku = serializers.CharField(required=False)
    at = serializers.DateTimeField(required=False)
    quantity = serializers.CharField(required=False)
    events = serializers.ListField(child=serializers.CharField(), required=False)
    currency = serializers.CharField()
    carried_quantity = serializers.CharField(
        required=False, help_text="what earlier segments used (docs/pricing.md)"
    )
    carried_events = serializers.ListField(child=serializers.CharField(), required=False)


QuoteResponse = inline_serializer(
    "QuoteResponse",
    fields={
        "amount": serializers.CharField(),
        "amount_rounded": serializers.CharField(),
        "amount_display": serializers.CharField(
            help_text="amount_rounded as a person reads it (e.g. €1,234.50, 1.234,50 €); for display only"
        ),
        "currency": serializers.CharField(),
        "breakdown": serializers.ListField(child=serializers.DictField()),
    },
)


# The keys the view takes instead of `price` (a stored version's price), on top of the engine's.
STORED_PRICE_KEYS = ("profile", "sku", "at", "tenant")


def _quoted_tenant(user: Any, slug: str | None) -> Tenant:
    """The tenant whose price list a stored-price quote reads: a tenant key's own (another `tenant` slug
    answers as unknown), else the `tenant` slug given, which the caller must see (a platform key or
    finance: any tenant; a customer: its own). Unknown and not visible are the same 404 (invariant 8)."""
    if isinstance(user, ApiKeyPrincipal) and user.api_key.scope == ApiKey.Scope.TENANT:
        own = user.api_key.tenant
        assert own is not None  # a tenant-scoped key has its tenant (a CHECK constraint)
        if slug is not None and slug != own.slug:
            raise NotFound(f"no tenant {slug!r}", issues=[FieldIssue("tenant", "unknown tenant")])
        return own
    if slug is None:
        raise ValidationFailed(
            "invalid quote", issues=[FieldIssue("tenant", "is required with profile for this caller")]
        )
    visible = Tenant.objects.all() if isinstance(user, ApiKeyPrincipal) else tenants_visible_to(user=user)
    found = visible.filter(slug=slug).first()
    if found is None:
        raise NotFound(f"no tenant {slug!r}", issues=[FieldIssue("tenant", "unknown tenant")])
    return found


def _with_stored_price(data: Any, user: Any) -> Any:
    """`data` with `profile`, `sku` (`at`, `tenant`) replaced by the stored version's price (and its
    currency when none is given): billing.profiles.quoting.stored_price, resolved for the tenant
    (`_quoted_tenant`) at `at`, which refuses an unverified version."""
    if not isinstance(data, dict) or "profile" not in data:
        return data
    issues = [FieldIssue(key, "is required with profile") for key in ("sku",) if not data.get(key)]
    issues += [FieldIssue("price", "give price or profile, not both")] if "price" in data else []
    at = parse_datetime(str(data["at"])) if data.get("at") else None
    if data.get("at") and (at is None or at.tzinfo is None):
        issues.append(FieldIssue("at", "an ISO 8601 instant with a time zone"))
    if issues:
        raise ValidationFailed("invalid quote", issues=issues)
    tenant = _quoted_tenant(user, str(data["tenant"]) if data.get("tenant") else None)
    stored = stored_price(tenant=tenant, profile=str(data["profile"]), sku=str(data["sku"]), at=at)
    rest = {key: value for key, value in data.items() if key not in STORED_PRICE_KEYS}
    return {"currency": stored.currency, **rest, "price": stored.price}


def _with_display_after_rounded(result: dict[str, Any], shown: str) -> dict[str, Any]:
    """The quote's keys in their documented order, `amount_display` right after `amount_rounded`."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        out[key] = value
        if key == "amount_rounded":
            out["amount_display"] = shown
    return out


class QuoteView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [DecimalPreservingJSONParser]
    throttle_classes = [QuoteRateThrottle]

    @extend_schema(
        request=QuoteRequest,
        parameters=[
            RETRY_AFTER,
            OpenApiParameter(
                "Accept-Language", OpenApiTypes.STR, OpenApiParameter.HEADER, description=ACCEPT_LANGUAGE_HELP
            ),
        ],
        responses={
            200: QuoteResponse,
            400: error_response("invalid input; every error names its field (or: not UTF-8 JSON)"),
            401: error_response("missing, invalid or revoked API key, and no session"),
            403: error_response("a session request without its CSRF token"),
            404: error_response(
                "with profile: no such profile or tenant, a profile that is not the tenant's then, or no "
                "version of it in force for the tenant then"
            ),
            409: error_response("with profile: the version in force does not verify (reason signature)"),
            413: error_response("body over QUOTE_MAX_BODY_BYTES or more than QUOTE_MAX_EVENTS events"),
            415: error_response("not application/json, or a charset other than utf-8"),
            429: error_response("per-caller rate limit (QUOTE_RATE_LIMIT); see Retry-After"),
        },
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
        limit = settings.QUOTE_MAX_BODY_BYTES
        if _declared_length(request) > limit:  # refused before the body is read
            raise _body_too_large(limit)
        _quote_limits_check(request.data)
        payload = _with_stored_price(request.data, request.user)
        try:
            result = quote(payload)
        except PricingError as err:
            return Response(error_payload(err), status=status.HTTP_400_BAD_REQUEST)
        user = request.user
        tenant = user.api_key.tenant if isinstance(user, ApiKeyPrincipal) else None
        locale = display_locale(request, tenant)
        shown = money_display(result["amount_rounded"], result["currency"], locale)
        response = Response(_with_display_after_rounded(result, shown))
        patch_vary_headers(response, ["Accept-Language"])
        return response

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        retry = max(1, math.ceil(wait)) if wait is not None else 1
        raise Backpressure(
            f"quote rate limit of {settings.QUOTE_RATE_LIMIT} exceeded", status_code=429, retry_after=retry
        )
