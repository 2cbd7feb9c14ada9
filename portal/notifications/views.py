"""The customer's notifications (/portal/notifications/): the tenant's alerts (grouped, by state), its
webhook endpoints (create and rotate: POST, then a redirect to the page that shows the new secret once,
from a session flash, with Cache-Control: no-store; disable, enable, delete),
each endpoint's delivery log with response codes, and replay of a delivery. Every customer of the tenant
reads; only its customer admins change anything (403 otherwise). Thin: reads through selectors taking the
tenant (another tenant's id: 404), writes through tenants.webhooks.services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_datetime
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from common.errors import ApplicationError
from common.money_format import resolve_locale
from common.periods import zone_or_utc
from ledger.alerts.delivery import webhook_endpoint_removed
from ledger.alerts.selectors import alert_groups, alerts_for_tenant
from portal.access import PortalRequest, tenant_view
from portal.notifications.forms import AlertFilterForm, EndpointForm
from tenants.models import WebhookEndpoint
from tenants.selectors import user_is_customer_admin_of
from tenants.webhooks.selectors import (
    webhook_deliveries_for_endpoint,
    webhook_delivery_for_tenant,
    webhook_endpoint_for_tenant,
    webhook_endpoints_for_tenant,
)
from tenants.webhooks.services import (
    EndpointWithSecret,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_disable,
    webhook_endpoint_enable,
    webhook_endpoint_rotate_secret,
)

SECTION = "notifications"
PAGE = 200
SESSION_SECRET = "webhook_secret_once"  # noqa: S105 (a session key, not a secret)


def when(value: datetime | None, request: PortalRequest) -> str:
    """An instant as the tenant reads it: its time zone, its locale's medium date and time."""
    if value is None:
        return ""
    tenant = request.tenant
    return format_datetime(
        value, "medium", tzinfo=zone_or_utc(tenant.timezone), locale=resolve_locale(tenant.locale)
    )


def _manager(request: PortalRequest) -> None:
    if not user_is_customer_admin_of(user=request.user, tenant_id=request.tenant.pk):
        raise PermissionDenied("only the tenant's customer admins manage webhooks")


def _endpoint(request: PortalRequest, endpoint_id: int) -> WebhookEndpoint:
    endpoint = webhook_endpoint_for_tenant(tenant=request.tenant, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("no such endpoint")
    return endpoint


def _secret_keep(request: PortalRequest, shown: EndpointWithSecret) -> HttpResponse:
    """Keep the new secret for the next page of this tenant only (POST-redirect-GET: a reload never
    creates or rotates again) and redirect there."""
    request.session[SESSION_SECRET] = {
        "tenant_id": request.tenant.pk,
        "endpoint_id": shown.endpoint.pk,
        "secret": shown.secret,
    }
    return redirect("portal:notifications")


def _secret_take(request: PortalRequest) -> EndpointWithSecret | None:
    """The kept secret, taken out of the session (shown once), if it is of this tenant's endpoint."""
    kept = request.session.pop(SESSION_SECRET, None)
    if not isinstance(kept, dict) or kept.get("tenant_id") != request.tenant.pk:
        return None
    endpoint = webhook_endpoint_for_tenant(tenant=request.tenant, endpoint_id=int(kept["endpoint_id"]))
    if endpoint is None:
        return None
    return EndpointWithSecret(endpoint=endpoint, secret=str(kept["secret"]))


def _page(
    request: PortalRequest,
    *,
    form: EndpointForm | None = None,
    created: EndpointWithSecret | None = None,
    status: int = 200,
) -> HttpResponse:
    filters = AlertFilterForm(request.GET or None)
    state = filters.cleaned_data["state"] if filters.is_valid() else ""
    alerts = alerts_for_tenant(tenant=request.tenant, state=state or None)
    rows = [
        {
            "alert": a,
            "fired": when(a.created_at, request),
            "resolved": when(a.resolved_at, request),
            "seen": when(a.last_seen_at, request),
        }
        for a in alerts[:PAGE]
    ]
    manages = user_is_customer_admin_of(user=request.user, tenant_id=request.tenant.pk)
    context: dict[str, Any] = {
        "section": SECTION,
        "filters": filters,
        "groups": alert_groups(alerts_for_tenant(tenant=request.tenant)),
        "rows": rows,
        "endpoints": list(webhook_endpoints_for_tenant(tenant=request.tenant)),
        "manages": manages,
        "form": (form or EndpointForm()) if manages else None,
        "created": created,
    }
    response = render(request, "portal/notifications/index.html", context, status=status)
    if created is not None:
        add_never_cache_headers(response)  # no-store: the secret stays out of every cache
    return response


@tenant_view
@require_GET
def notifications(request: PortalRequest) -> HttpResponse:
    return _page(request, created=_secret_take(request))


@tenant_view
@require_POST
def endpoint_create(request: PortalRequest) -> HttpResponse:
    """Redirects to the page that shows the new secret once; a refused form is answered 400."""
    _manager(request)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            created = webhook_endpoint_create(
                tenant=request.tenant,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
            )
        except ApplicationError as err:
            for issue in err.issues:
                form.add_error(issue.field if issue.field in form.fields else None, issue.message)
            if not err.issues:
                form.add_error(None, err.message)
        else:
            return _secret_keep(request, created)
    return _page(request, form=form, status=400)


@tenant_view
@require_GET
def endpoint_detail(request: PortalRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    deliveries = webhook_deliveries_for_endpoint(tenant=request.tenant, endpoint_id=endpoint.pk)[:PAGE]
    rows = [
        {
            "delivery": d,
            "created": when(d.created_at, request),
            "next": when(d.next_attempt_at, request),
            "attempts": [{"attempt": a, "at": when(a.at, request)} for a in d.attempt_log.all()],
        }
        for d in deliveries
    ]
    context = {
        "section": SECTION,
        "endpoint": endpoint,
        "rows": rows,
        "manages": user_is_customer_admin_of(user=request.user, tenant_id=request.tenant.pk),
        "created_at": when(endpoint.created_at, request),
    }
    return render(request, "portal/notifications/endpoint.html", context)


def _move(request: PortalRequest, endpoint_id: int, done: str, move: Any) -> HttpResponse:
    _manager(request)
    endpoint = _endpoint(request, endpoint_id)
    try:
        move(endpoint)
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return redirect("portal:notifications-endpoint", endpoint_id=endpoint.pk)


@tenant_view
@require_POST
def endpoint_disable(request: PortalRequest, endpoint_id: int) -> HttpResponse:
    def move(endpoint: WebhookEndpoint) -> None:
        webhook_endpoint_disable(endpoint=endpoint)
        webhook_endpoint_removed(endpoint=endpoint)

    return _move(
        request, endpoint_id, "The endpoint is disabled; its pending deliveries are cancelled.", move
    )


@tenant_view
@require_POST
def endpoint_enable(request: PortalRequest, endpoint_id: int) -> HttpResponse:
    return _move(
        request, endpoint_id, "The endpoint is enabled.", lambda e: webhook_endpoint_enable(endpoint=e)
    )


@tenant_view
@require_POST
def endpoint_rotate(request: PortalRequest, endpoint_id: int) -> HttpResponse:
    """Redirects to the page that shows the new secret once (a reload of it does not rotate again)."""
    _manager(request)
    endpoint = _endpoint(request, endpoint_id)
    return _secret_keep(request, webhook_endpoint_rotate_secret(endpoint=endpoint))


@tenant_view
@require_POST
def endpoint_delete(request: PortalRequest, endpoint_id: int) -> HttpResponse:
    _manager(request)
    endpoint = _endpoint(request, endpoint_id)
    webhook_endpoint_removed(endpoint=endpoint)
    webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, "The endpoint and its delivery log are deleted.")
    return redirect("portal:notifications")


@tenant_view
@require_POST
def delivery_replay(request: PortalRequest, delivery_id: int) -> HttpResponse:
    _manager(request)
    delivery = webhook_delivery_for_tenant(tenant=request.tenant, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("no such delivery")
    try:
        replay = webhook_delivery_replay(delivery=delivery)
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"Event {replay.event_id} is sent again (delivery #{replay.pk}).")
    return redirect("portal:notifications-endpoint", endpoint_id=delivery.endpoint_id)
