"""Routes of the billing API, mounted under /api/v1/ by config.urls."""

from django.urls import path

from .quotes import QuoteView
from .usage import UsageIngestView, UsageSummaryView

urlpatterns = [
    path("quotes", QuoteView.as_view(), name="quote"),
    path("usage", UsageIngestView.as_view(), name="usage-ingest"),
    path("usage/summary", UsageSummaryView.as_view(), name="usage-summary"),
]
