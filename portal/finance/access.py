"""Who may use finance's workspace: a signed-in user holding a finance role (viewer, editor or
approver). `finance_view` refuses everyone else (anonymous: the sign-in page; a customer: 403) and sets
`request.finance_roles`. What each role may *do* is decided by the services, not here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from tenants.models import FINANCE_ROLES
from tenants.selectors import user_roles

View = TypeVar("View", bound=Callable[..., HttpResponse])


class FinanceRequest(HttpRequest):
    finance_roles: frozenset[str]


def finance_view(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url="portal:login")
        roles = frozenset(user_roles(user=request.user)) & {r.value for r in FINANCE_ROLES}
        if not roles:
            raise PermissionDenied("finance roles only")
        finance = cast(FinanceRequest, request)
        finance.finance_roles = roles
        return view(finance, *args, **kwargs)

    return cast(View, wrapper)
