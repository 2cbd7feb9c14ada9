"""Finance workspace: the queue area (disputes of every customer, quarantine triage)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.finance.queue import disputes, quarantine

urlpatterns: list[URLPattern] = [
    path("disputes/", disputes.dispute_queue, name="disputes"),
    path("disputes/<int:dispute_id>/", disputes.dispute_page, name="dispute"),
    path("disputes/<int:dispute_id>/decide/", disputes.dispute_decide, name="dispute-decide"),
    path("quarantine/", quarantine.quarantine_page, name="quarantine"),
    path("quarantine/reattribute/", quarantine.quarantine_reattribute, name="quarantine-reattribute"),
]
