"""Who may do what to profile versions: editors draft and submit, approvers decide. Checked by the
services (billing.profiles.services, approvals, rollouts); the database checks the decider's role too."""

from __future__ import annotations

from django.contrib.auth.models import User

from common.errors import PermissionDenied
from tenants.models import Role
from tenants.selectors import user_is_finance

EDITORS = frozenset({Role.FINANCE_EDITOR, Role.FINANCE_APPROVER})
APPROVERS = frozenset({Role.FINANCE_APPROVER})


def require_role(user: User, roles: frozenset[Role], action: str) -> None:
    if not user_is_finance(user=user, roles=roles):
        names = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"{action} needs one of the roles: {names}")
