"""POST /api/v1/usage (batch ingest) and GET /api/v1/usage/summary (per-SKU quantity and estimated cost).

Both take API keys only (`Authorization: Bearer <key>`). A tenant key acts for its own tenant: a batch
naming another tenant is refused as a whole (403), never partly stored. A platform key names the tenant
(slug) in every event (ingest) or in `?tenant=` (summary)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.display import ACCEPT_LANGUAGE_HELP, display_locale, money_display
from billing.api.openapi import RETRY_AFTER, ClosedSerializer, error_response
from billing.api.parsers import UsageBatchParser, unsized_body_read
from billing.rating.summary import usage_summary
from billing.usage.backpressure import usage_backpressure_check
from billing.usage.ingest import BatchTooLarge, usage_ingest
from common import metrics
from common.errors import NotFound, ValidationFailed
from tenants.api.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from tenants.models import ApiKey, Tenant
from tenants.selectors import tenant_get

MAX_IDEMPOTENCY_KEY_LENGTH = 255
PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"  # common.periods.period_by_key's keys


class UsageEventIn(ClosedSerializer):  # another key: the event is rejected (unknown_field)
    event_id = serializers.CharField(max_length=128, help_text="the client's idempotency key for this event")
    sku = serializers.CharField(max_length=64, help_text="SKU code (or the code of a meter with one SKU)")
    timestamp = serializers.CharField(help_text="RFC 3339 (with its offset), e.g. 2026-11-02T10:00:00Z")
    quantity = serializers.CharField(help_text="plain ASCII decimal string (or JSON number, kept exact)")
    project = serializers.CharField(max_length=64, required=False)
    tags = serializers.DictField(required=False, help_text="flat object of scalar values")
    tenant = serializers.CharField(max_length=64, required=False, help_text="tenant slug; platform keys only")


class UsageBatchIn(ClosedSerializer):  # another key: 400
    events = serializers.ListField(child=UsageEventIn(), max_length=settings.USAGE_BATCH_MAX_EVENTS)


class UsageOutcome(serializers.Serializer[Any]):
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "conflict", "rejected", "quarantined"])
    reason = serializers.CharField(required=False, help_text="machine-readable, for rejected and quarantined")
    message = serializers.CharField(required=False)


class UsageBatchOut(serializers.Serializer[Any]):
    results = UsageOutcome(many=True, help_text="one per event, in request order")
    counts = serializers.DictField(child=serializers.IntegerField())


class UsageSummaryLine(serializers.Serializer[Any]):
    sku = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=38, decimal_places=12)
    event_count = serializers.IntegerField()
    estimated_amount = serializers.DecimalField(max_digits=38, decimal_places=12)
    estimated_amount_display = serializers.CharField(
        help_text="estimated_amount rounded to the currency and laid out for a person (display only)"
    )


class UsageSummaryOut(serializers.Serializer[Any]):
    tenant = serializers.CharField()
    period = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    currency = serializers.CharField()
    lines = UsageSummaryLine(many=True)
    estimated_total = serializers.DecimalField(max_digits=38, decimal_places=12)
    estimated_total_display = serializers.CharField(
        help_text="estimated_total rounded to the currency and laid out for a person (display only)"
    )
    source = serializers.ChoiceField(choices=["running_estimate", "aggregates"])  # type: ignore[assignment]


def _api_key(request: Request) -> ApiKey:
    principal = request.user
    assert isinstance(principal, ApiKeyPrincipal)
    return principal.api_key


def _caller_tenant(api_key: ApiKey) -> Tenant | None:
    return api_key.tenant if api_key.scope == ApiKey.Scope.TENANT else None


class _ApiKeyView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            metrics.INGEST_AUTH_FAILURES.labels(reason="unauthenticated").inc()
        return super().handle_exception(exc)


class UsageIngestView(_ApiKeyView):
    parser_classes = [UsageBatchParser]

    @extend_schema(
        operation_id="usage_ingest",
        request=UsageBatchIn,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                OpenApiParameter.HEADER,
                required=False,
                description="replays the first response (with `Idempotent-Replayed: true`) for 72 h",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                {"type": "string", "enum": ["true"]},
                OpenApiParameter.HEADER,
                response=[200],
                description="present when this is the stored answer to an earlier request with the key",
            ),
            RETRY_AFTER,
        ],
        responses={
            200: UsageBatchOut,
            400: error_response(
                'not UTF-8, malformed JSON, a duplicate key, not {"events": [...]}, a bad Idempotency-Key'
            ),
            401: error_response("missing, invalid or revoked API key"),
            403: error_response("a tenant key naming another tenant"),
            409: error_response("Idempotency-Key reused with another body, or in flight"),
            411: error_response("a chunked body on a server that does not de-chunk it"),
            413: error_response("more events or bytes than the limits"),
            415: error_response("not application/json, or a charset other than utf-8"),
            429: error_response("per-tenant rate limit; see Retry-After"),
            503: error_response("rating backlog over its bound; see Retry-After"),
        },
        examples=[
            OpenApiExample(
                "one event",
                value={
                    "events": [
                        {
                            "event_id": "evt-1",
                            "sku": "api_calls",
                            "timestamp": "2026-11-02T10:00:00Z",
                            "quantity": "120",
                            "project": "web",
                            "tags": {"region": "eu-west-1"},
                        }
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> HttpResponseBase:
        api_key = _api_key(request)
        tenant = _caller_tenant(api_key)
        limit = settings.USAGE_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:  # refused before backpressure counts it or the body is read
            raise BatchTooLarge(f"the request body is limited to {limit} bytes", extra={"limit_bytes": limit})
        usage_backpressure_check(tenant_key=f"tenant:{tenant.pk}" if tenant else f"platform:{api_key.prefix}")
        unsized_body_read(request._request, limit)  # a chunked body: read here, to the limit
        body = request.data  # UsageBatchParser: {"events": [...], "sha256": "..."}
        if "events" not in body:  # an empty body: DRF calls no parser
            raise ValidationFailed('the body must be {"events": [ ... ]}')
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH):
            raise ValidationFailed(f"Idempotency-Key needs 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        result = usage_ingest(
            tenant=tenant, events=body["events"], idempotency_key=key, request_sha256=body["sha256"]
        )
        response = HttpResponse(result.body, status=result.status_code, content_type="application/json")
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> Any:
        metrics.INGEST_REQUESTS.labels(status=str(response.status_code)).inc()
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[arg-type]


class UsageSummaryView(_ApiKeyView):
    @extend_schema(
        operation_id="usage_summary",
        parameters=[
            OpenApiParameter(
                "period",
                {"type": "string", "pattern": PERIOD_PATTERN},
                description="2026-11 (monthly), 2026-Q4 (quarterly) or 2026 (yearly); default: the open period",
            ),
            OpenApiParameter(
                "tenant", OpenApiTypes.STR, description="tenant slug; required for platform keys"
            ),
            OpenApiParameter(
                "Accept-Language", OpenApiTypes.STR, OpenApiParameter.HEADER, description=ACCEPT_LANGUAGE_HELP
            ),
        ],
        responses={
            200: UsageSummaryOut,
            400: error_response("a bad period, or a platform key without ?tenant="),
            401: error_response("missing, invalid or revoked API key"),
            404: error_response("no such tenant (or another tenant's)"),
        },
    )
    def get(self, request: Request) -> Response:
        api_key = _api_key(request)
        own = _caller_tenant(api_key)
        slug = request.query_params.get("tenant")
        if own is not None:
            if slug not in (None, own.slug):
                raise NotFound("no such tenant")
            tenant = own
        else:
            if not slug:
                raise ValidationFailed("a platform key must name the tenant: ?tenant=<slug>")
            found = tenant_get(slug=slug)
            if found is None:
                raise NotFound("no such tenant")
            tenant = found
        summary = usage_summary(
            tenant=tenant, period_key=request.query_params.get("period"), now=timezone.now()
        )
        locale = display_locale(request, tenant)
        payload = {
            "tenant": summary.tenant_slug,
            "period": summary.period_key,
            "start": summary.start,
            "end": summary.end,
            "currency": summary.currency,
            "lines": [
                {
                    "sku": line.sku_code,
                    "quantity": line.quantity,
                    "event_count": line.event_count,
                    "estimated_amount": line.amount,
                    "estimated_amount_display": money_display(line.amount, summary.currency, locale),
                }
                for line in summary.lines
            ],
            "estimated_total": summary.estimated_total,
            "estimated_total_display": money_display(summary.estimated_total, summary.currency, locale),
            "source": summary.source,
        }
        response = Response(UsageSummaryOut(payload).data)
        patch_vary_headers(response, ["Accept-Language"])
        return response
