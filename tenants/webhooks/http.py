"""One POST of a webhook (urllib, a short timeout, no redirects followed) and the target checks: https
unless settings.WEBHOOK_ALLOW_HTTP, and no private, loopback, link-local or otherwise non-public address
unless settings.WEBHOOK_ALLOW_PRIVATE (SSRF). The address check runs at creation on the URL and at each
attempt on what the host resolves to then."""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_ERROR = 500


class TargetRefused(Exception):
    """The URL may not be called (scheme, host, address)."""


@dataclass(frozen=True)
class Response:
    status_code: int | None  # None: no HTTP response (refused, timeout, connection error)
    duration_ms: int
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def url_problem(url: str) -> str | None:
    """Why the URL may not be an endpoint (None: it may), without resolving its host."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if settings.WEBHOOK_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed:
        return "the URL must start with https://" if "http" not in allowed else "the URL must be http(s)"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL may not carry credentials"
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        if parts.hostname.lower() in {"localhost", "localhost.localdomain"} or parts.hostname.endswith(
            ".local"
        ):
            return "the URL's host is not public"
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return None
        if not address.is_global:
            return "the URL's address is not public"
    return None


def _check_resolved(host: str, port: int) -> None:
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        raise TargetRefused(f"cannot resolve {host}: {err}") from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TargetRefused(f"{host} resolves to a non-public address ({address})")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is the answer: following it could reach a host the checks never saw


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Response:
    """POST the body; never raises for the target's failures (they are the Response's error)."""
    started = time.monotonic()

    def done(status: int | None, error: str) -> Response:
        return Response(status, int((time.monotonic() - started) * 1000), error[:MAX_ERROR])

    problem = url_problem(url)
    if problem:
        return done(None, f"refused: {problem}")
    parts = urlsplit(url)
    try:
        _check_resolved(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except TargetRefused as err:
        return done(None, f"refused: {err}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return done(response.status, "")
    except urllib.error.HTTPError as err:
        return done(err.code, f"HTTP {err.code} {err.reason}")
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return done(None, f"{type(err).__name__}: {reason}")
