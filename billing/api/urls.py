"""Routes of the billing API, mounted under /api/v1/ by config.urls."""

from django.urls import path

from .approvals import ApprovalRequestApproveView, ApprovalRequestListView, ApprovalRequestRejectView
from .focus import FocusExportView
from .quotes import QuoteView
from .usage import UsageIngestView, UsageSummaryView

urlpatterns = [
    path("approval-requests", ApprovalRequestListView.as_view(), name="approval-requests"),
    path(
        "approval-requests/<int:request_id>/approve",
        ApprovalRequestApproveView.as_view(),
        name="approval-request-approve",
    ),
    path(
        "approval-requests/<int:request_id>/reject",
        ApprovalRequestRejectView.as_view(),
        name="approval-request-reject",
    ),
    path("focus", FocusExportView.as_view(), name="focus-export"),
    path("quotes", QuoteView.as_view(), name="quote"),
    path("usage", UsageIngestView.as_view(), name="usage-ingest"),
    path("usage/summary", UsageSummaryView.as_view(), name="usage-summary"),
]
