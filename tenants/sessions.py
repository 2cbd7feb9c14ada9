"""Signed-in sessions a user can see and revoke (`UserSession`). Recorded when a user logs in (the
`user_logged_in` signal, connected in tenants/apps.py); revoking one deletes its Django session too, so
its cookie is worth nothing from the next request on (portal.middleware.UserSessionMiddleware)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from common.errors import NotFound
from tenants.models import UserSession


def user_session_record(
    *, sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    """`user_logged_in` receiver: remember the new session (login cycles the key, so it is new)."""
    if request is None or not getattr(request, "session", None) or not request.session.session_key:
        return
    now = timezone.now()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user_id": user.pk,
            "created_at": now,
            "last_seen_at": now,
            "user_agent": request.headers.get("User-Agent", "")[:200],
            "ip_address": request.META.get("REMOTE_ADDR") or None,
            "revoked_at": None,
        },
    )


def user_sessions(*, user: AbstractBaseUser) -> QuerySet[UserSession]:
    """The user's live sessions: not revoked, not signed out, not expired."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return UserSession.objects.filter(user_id=user.pk, revoked_at__isnull=True, session_key__in=live)


def user_session_ended(
    *, sender: Any, request: HttpRequest | None, user: AbstractBaseUser | None, **kwargs: Any
) -> None:
    """`user_logged_out` receiver: a signed-out session is over (its record kept, marked ended)."""
    if (
        request is None
        or user is None
        or not getattr(request, "session", None)
        or not request.session.session_key
    ):
        return
    UserSession.objects.filter(session_key=request.session.session_key, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def user_session_revoke(*, user: AbstractBaseUser, session_id: int) -> UserSession:
    """Revoke one of the user's own sessions (another user's is not found)."""
    with transaction.atomic():
        record = UserSession.objects.select_for_update().filter(pk=session_id, user_id=user.pk).first()
        if record is None:
            raise NotFound("no such session")
        record.revoked_at = timezone.now()
        record.save(update_fields=["revoked_at"])
        Session.objects.filter(session_key=record.session_key).delete()
    return record


def user_sessions_revoke(*, user: AbstractBaseUser, keep_key: str | None = None) -> int:
    """Revoke every session of the user but `keep_key` (sign out everywhere else)."""
    with transaction.atomic():
        records = list(user_sessions(user=user).select_for_update().exclude(session_key=keep_key or ""))
        keys = [r.session_key for r in records]
        UserSession.objects.filter(pk__in=[r.pk for r in records]).update(revoked_at=timezone.now())
        Session.objects.filter(session_key__in=keys).delete()
    return len(records)
