"""The request ID: one short label per HTTP request, recorded with every audit record (ledger.audit) and
echoed to the client, so a support question ("request 9f2c...") finds what that request changed.

`RequestIdMiddleware` takes the client's `X-Request-ID` when it is safe (1-64 characters of
``[A-Za-z0-9._:-]``), otherwise makes a uuid4; it keeps the ID in a context variable for the request and
sets the response's `X-Request-ID`. `current_request_id()` reads it: "" outside a request (Celery tasks),
or the label a command bound with `request_id_bound("cli:<command>")`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponseBase

HEADER = "X-Request-ID"
MAX_LENGTH = 64
_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,%d}" % MAX_LENGTH)  # noqa: UP031  # a regex, not a message

_current: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    """The ID of the request (or command) being served; "" when there is none."""
    return _current.get()


def request_id_clean(value: str | None) -> str | None:
    """`value` when it is a safe request ID, else None."""
    if value is not None and _SAFE.fullmatch(value):
        return value
    return None


@contextmanager
def request_id_bound(value: str) -> Iterator[str]:
    """Bind `value` (truncated to 64 characters) as the current request ID inside the block."""
    token = _current.set(value[:MAX_LENGTH])
    try:
        yield value[:MAX_LENGTH]
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request_id_clean(request.headers.get(HEADER))
        with request_id_bound(given or uuid.uuid4().hex) as request_id:
            request.META["REQUEST_ID"] = request_id
            response = self.get_response(request)
        response[HEADER] = request_id
        return response
