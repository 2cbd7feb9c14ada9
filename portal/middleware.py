"""Sessions a user can list and revoke (`tenants.UserSession`): recorded at login, touched at most once a
minute, and a session whose record is revoked or missing is signed out on its next request. The idle
timeout itself is Django's: SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST (config/settings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from tenants.models import UserSession

_TOUCH = timedelta(minutes=1)


class UserSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.session.session_key:
            record = UserSession.objects.filter(session_key=request.session.session_key).first()
            if record is None or record.revoked_at is not None or record.user_id != request.user.pk:
                logout(request)
            elif timezone.now() - record.last_seen_at > _TOUCH:
                UserSession.objects.filter(pk=record.pk).update(last_seen_at=timezone.now())
        return self.get_response(request)
