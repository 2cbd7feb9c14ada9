"""Portal pages that are not about one area: sign-in, sign-out, the tenant switcher, the user's
sessions. Thin: reads through selectors, writes through services."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from common.errors import NotFound
from common.money_format import format_date
from common.periods import zone_or_utc
from portal.access import SESSION_TENANT, PortalRequest, portal_tenants, tenant_view
from tenants.sessions import user_session_revoke, user_sessions, user_sessions_revoke


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("portal:home")


class LogoutView(auth_views.LogoutView):
    next_page = "portal:login"


@tenant_view
def home(request: PortalRequest) -> HttpResponse:
    return redirect("portal:invoices")


@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    """Make another of the user's tenants the current one (a tenant the user may not see: 404)."""
    if not request.user.is_authenticated:
        return redirect("portal:login")
    wanted = request.POST.get("tenant", "")
    tenant = next((t for t in portal_tenants(request) if str(t.pk) == wanted), None)
    if tenant is None:
        raise Http404("no such tenant")
    request.session[SESSION_TENANT] = tenant.pk
    return redirect("portal:home")


@tenant_view
def sessions(request: PortalRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("all") == "1":
            user_sessions_revoke(user=request.user, keep_key=request.session.session_key)  # type: ignore[arg-type]
        else:
            try:
                user_session_revoke(user=request.user, session_id=int(request.POST.get("session", "0")))  # type: ignore[arg-type]
            except (NotFound, ValueError) as err:
                raise Http404("no such session") from err
        return redirect("portal:sessions")
    zone = zone_or_utc(request.tenant.timezone)
    rows = [
        {
            "pk": s.pk,
            "session_key": s.session_key,
            "created": _local(s.created_at, zone, request.tenant.locale),
            "last_seen": _local(s.last_seen_at, zone, request.tenant.locale),
            "user_agent": s.user_agent,
            "ip_address": s.ip_address,
        }
        for s in user_sessions(user=request.user)  # type: ignore[arg-type]
    ]
    return render(
        request,
        "portal/sessions.html",
        {
            "sessions": rows,
            "current_key": request.session.session_key,
            "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
            "zone": zone.key,
            "section": "sessions",
        },
    )


def _local(at: datetime, zone: ZoneInfo, locale: str) -> str:
    """An instant as the customer reads it: its local date (Babel, the tenant's locale) and time."""
    local = at.astimezone(zone)
    return f"{format_date(local.date(), locale)} {local:%H:%M}"
