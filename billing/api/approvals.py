"""Approval requests for finance users (session authentication; an API key is never a finance user):

GET  /api/v1/approval-requests[?status=open]      every finance role
POST /api/v1/approval-requests/<id>/approve       a finance approver who is not the version's author
POST /api/v1/approval-requests/<id>/reject        the same, with a reason

Thin: the services (billing.governance.approvals) check roles and four eyes; their errors map to 403/404/409
through the one exception handler."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.openapi import ClosedSerializer, error_response
from billing.governance.approvals import approval_grant, approval_reject, approval_requests_list
from billing.profiles.models import Approval, ApprovalRequest
from common.errors import NotFound, ValidationFailed
from tenants.selectors import user_is_finance


class IsFinanceUser(BasePermission):
    message = "finance users only"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(user_is_finance(user=request.user))


class ApprovalOut(serializers.ModelSerializer[Approval]):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = ["approver", "approved_at", "signature", "note"]


class ApprovalRequestOut(serializers.ModelSerializer[ApprovalRequest]):
    profile = serializers.CharField(source="version.profile.code")
    version = serializers.IntegerField(source="version.number")
    version_id = serializers.IntegerField()
    requested_by = serializers.CharField(source="requested_by.username")
    approvals = ApprovalOut(many=True)
    # Text, not an enum: the schema's StatusEnum is the usage outcome's.
    status = serializers.CharField(help_text="open | approved | rejected | expired | withdrawn")

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "profile",
            "version",
            "version_id",
            "status",
            "requested_by",
            "created_at",
            "expires_at",
            "periods",
            "backtest",
            "backtest_hash",
            "required_approvals",
            "matched_rules",
            "approvals",
            "decided_at",
            "decision_note",
        ]


class ApproveIn(ClosedSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class RejectIn(ClosedSerializer):
    reason = serializers.CharField()


class _FinanceView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated, IsFinanceUser]


def _request(request_id: int) -> ApprovalRequest:
    found = ApprovalRequest.objects.filter(pk=request_id).first()
    if found is None:
        raise NotFound(f"no approval request {request_id}")
    return found


def _user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated: a signed-in user (session authentication)


def _out(request_id: int) -> dict[str, Any]:
    fresh = approval_requests_list().get(pk=request_id)
    return dict(ApprovalRequestOut(fresh).data)


class ApprovalRequestListView(_FinanceView):
    @extend_schema(
        operation_id="approval_requests_list",
        parameters=[OpenApiParameter("status", str, enum=list(ApprovalRequest.Status.values))],
        responses={
            200: ApprovalRequestOut(many=True),
            400: error_response("an unknown status"),
            403: error_response("not signed in as a finance user"),
        },
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in ApprovalRequest.Status.values:
            raise ValidationFailed("unknown status", extra={"allowed": list(ApprovalRequest.Status.values)})
        rows = approval_requests_list(status=status)
        return Response(ApprovalRequestOut(rows, many=True).data)


class ApprovalRequestApproveView(_FinanceView):
    @extend_schema(
        operation_id="approval_request_approve",
        request=ApproveIn,
        responses={
            200: ApprovalRequestOut,
            403: error_response("not a finance approver, or the author of the version"),
            404: error_response("no such approval request"),
            409: error_response("the request is not open (decided or expired), or already approved by you"),
        },
    )
    def post(self, request: Request, request_id: int) -> Response:
        data = ApproveIn(data=request.data)
        data.is_valid(raise_exception=True)
        approval_grant(
            request=_request(request_id), approver=_user(request), note=data.validated_data["note"]
        )
        return Response(_out(request_id))


class ApprovalRequestRejectView(_FinanceView):
    @extend_schema(
        operation_id="approval_request_reject",
        request=RejectIn,
        responses={
            200: ApprovalRequestOut,
            400: error_response("no reason"),
            403: error_response("not a finance approver, or the author of the version"),
            404: error_response("no such approval request"),
            409: error_response("the request is not open (decided or expired)"),
        },
    )
    def post(self, request: Request, request_id: int) -> Response:
        data = RejectIn(data=request.data)
        data.is_valid(raise_exception=True)
        approval_reject(
            request=_request(request_id), approver=_user(request), reason=data.validated_data["reason"]
        )
        return Response(_out(request_id))
