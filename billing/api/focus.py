"""GET /api/v1/focus?period=2026-11[&tenant=<slug>]: the period's FOCUS 1.2 cost and usage rows as CSV,
streamed (docs/focus.md), the same rows as `manage.py export_focus`.

API keys only (`Authorization: Bearer <key>`). A tenant key reads its own tenant's rows (naming another
tenant: 404, as an unknown one); a platform key reads one tenant's (`?tenant=`) or every tenant's."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from billing.api.openapi import error_response
from common.errors import NotFound, ValidationFailed
from ledger.exports.focus_rows import focus_rows
from ledger.exports.focus_writers import csv_chunks
from tenants.api.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from tenants.models import ApiKey, Tenant
from tenants.selectors import tenant_get

PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"


class FocusExportView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The body is CSV whatever Accept says (errors: the API's JSON error shape).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="focus_export",
        parameters=[
            OpenApiParameter(
                "period",
                {"type": "string", "pattern": PERIOD_PATTERN},
                required=True,
                description="2026-11 (monthly), 2026-Q4 (quarterly) or 2026 (yearly)",
            ),
            OpenApiParameter(
                "tenant",
                OpenApiTypes.STR,
                description="tenant slug; platform keys only (without it: every tenant)",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="FOCUS 1.2 CSV: a header line, then one row per charge (docs/focus.md)",
                examples=[
                    OpenApiExample(
                        "OneUsageRow",
                        summary="one usage row (columns shortened)",
                        value="BilledCost,BillingAccountId,...,ChargeCategory,...\n100.00,acme,...,Usage,...\n",
                        media_type="text/csv",
                    )
                ],
            ),
            400: error_response("a bad period"),
            401: error_response("missing, invalid or revoked API key"),
            404: error_response("no such tenant (or another tenant's)"),
        },
    )
    def get(self, request: Request) -> HttpResponseBase:
        principal = request.user
        assert isinstance(principal, ApiKeyPrincipal)
        api_key = principal.api_key
        slug = request.query_params.get("tenant")
        tenant: Tenant | None
        own = api_key.tenant if api_key.scope == ApiKey.Scope.TENANT else None
        if own is not None:
            if slug not in (None, own.slug):
                raise NotFound("no such tenant")
            tenant = own
        elif slug:
            tenant = tenant_get(slug=slug)
            if tenant is None:
                raise NotFound("no such tenant")
        else:
            tenant = None
        period = request.query_params.get("period")
        if not period:
            raise ValidationFailed("?period= is required (2026-11, 2026-Q4 or 2026)")
        records = focus_rows(period=period, tenant=tenant)  # a bad period raises here, before any byte
        response = StreamingHttpResponse(csv_chunks(records), content_type="text/csv; charset=utf-8")
        name = f"focus-1.2-{period}-{tenant.slug if tenant is not None else 'all'}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
