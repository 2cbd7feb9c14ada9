"""Who is looking at the portal, for which tenant.

A customer user reaches the tenants it holds `tenants.view_tenant_billing` on (django-guardian, granted
with its membership); a finance user reaches every tenant. The current tenant is kept in the session
(`portal_tenant`) and switched with the tenant switcher; a tenant the user may not see is never
current. Every page gets `request.tenant` from `tenant_view` and reads through selectors that take it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from tenants.models import Tenant
from tenants.selectors import tenants_visible_to, user_is_finance

SESSION_TENANT = "portal_tenant"
View = TypeVar("View", bound=Callable[..., HttpResponse])


class PortalRequest(HttpRequest):
    tenant: Tenant
    tenants: list[Tenant]
    is_finance: bool


def portal_tenants(request: HttpRequest, *, is_finance: bool | None = None) -> list[Tenant]:
    return list(tenants_visible_to(user=request.user, is_finance=is_finance).order_by("name", "pk"))


def current_tenant(request: HttpRequest, tenants: list[Tenant]) -> Tenant | None:
    wanted = request.session.get(SESSION_TENANT)
    for tenant in tenants:
        if tenant.pk == wanted:
            return tenant
    return tenants[0] if tenants else None


def tenant_view(view: View) -> View:
    """Signed-in users only; sets `request.tenant` (the current tenant) and `request.tenants` (those the
    user may switch to). A user who may see no tenant gets 404, never another tenant's page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url="portal:login")
        is_finance = user_is_finance(user=request.user)
        tenants = portal_tenants(request, is_finance=is_finance)
        tenant = current_tenant(request, tenants)
        if tenant is None:
            raise Http404("no tenant")
        portal = cast(PortalRequest, request)
        portal.tenant, portal.tenants = tenant, tenants
        portal.is_finance = is_finance
        return view(portal, *args, **kwargs)

    return cast(View, wrapper)
