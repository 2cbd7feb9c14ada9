"""One place that turns errors into HTTP responses, in the one error shape of `common.errors.error_body`:
domain errors (`ApplicationError`) and DRF's own (authentication, content type, method, parse, throttling,
not found, permission, serializer validation) in the DRF exception handler; Django's own 400/403/404/500
answers under `/api/` in the `handler*` views that config.urls names (HTML elsewhere)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError, FieldIssue, error_body

# DRF's codes for which the domain errors have a name already; the others are kept as DRF names them
# (not_authenticated, authentication_failed, unsupported_media_type, method_not_allowed, not_acceptable,
# throttled, not_found).
_CODES = {"parse_error": "invalid", "invalid": "invalid", "permission_denied": "forbidden"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        answer = Response(exc.as_payload(), status=exc.status_code)
        retry_after = exc.extra.get("retry_after")
        if retry_after is not None:
            answer["Retry-After"] = str(retry_after)
        return answer
    response = drf_exception_handler(exc, context)  # status, WWW-Authenticate, Retry-After, rollback
    if response is None:
        return None  # not an expected error: Django's handler500 answers
    response.data = _drf_error_body(exc)
    return response


def _drf_error_body(exc: Exception) -> dict[str, object]:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    assert isinstance(exc, exceptions.APIException)
    code = _CODES.get(exc.default_code, exc.default_code)
    extra: dict[str, object] = {}
    wait = getattr(exc, "wait", None)  # Throttled's, in seconds
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        extra["retry_after"] = max(1, math.ceil(wait))
    if isinstance(exc.detail, (dict, list)):  # a serializer's errors, by field
        issues = list(_issues(exc.detail))
        if len(issues) == 1:
            message = f"{issues[0].field}: {issues[0].message}" if issues[0].field else issues[0].message
        else:
            message = f"{len(issues)} invalid fields"
        return error_body(code, message, issues=issues, extra=extra)
    return error_body(code, str(exc.detail), extra=extra)


def _issues(detail: Any, path: str = "") -> Iterator[FieldIssue]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            yield from _issues(value, f"{path}.{name}" if path and name else path or name)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                yield from _issues(value, f"{path}[{index}]")
            else:
                yield FieldIssue(path, str(value))
    else:
        yield FieldIssue(path, str(detail))


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "bad request"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("forbidden", "permission denied"), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"no such endpoint: {request.path}"), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("server_error", "internal error"), status=500)
    return defaults.server_error(request)
