"""Approval tasks: the hourly expiry of open approval requests (settings.CELERY_BEAT_SCHEDULE
"billing-approval-requests-expire"). Thin: call the service."""

from __future__ import annotations

from celery import shared_task

from billing.governance.approvals import approval_requests_expire


@shared_task(name="billing.approval_requests_expire")
def approval_requests_expire_task() -> int:
    """Expire the open requests older than settings.APPROVAL_REQUEST_TTL; returns how many."""
    return approval_requests_expire()
