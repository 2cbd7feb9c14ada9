"""common.request_id: the X-Request-ID middleware and the context variable audit records read."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from common.request_id import RequestIdMiddleware, current_request_id, request_id_bound, request_id_clean

NEW_ID = re.compile(r"[0-9a-f]{32}")


def _serve(**headers: str) -> tuple[HttpResponse, str]:
    """The middleware's response to a GET with `headers`, and the request ID the view saw."""
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(current_request_id())
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/", headers=headers))
    assert isinstance(response, HttpResponse)
    return response, seen[0]


def test_it_is_installed():
    assert "common.request_id.RequestIdMiddleware" in settings.MIDDLEWARE


def test_it_echoes_a_safe_client_request_id_and_the_view_sees_it():
    response, seen = _serve(**{"X-Request-ID": "abc-123:x.y_z"})
    assert (response["X-Request-ID"], seen) == ("abc-123:x.y_z", "abc-123:x.y_z")


@pytest.mark.parametrize("given", ["", "a b", "x" * 65, "<script>", "\u00e9"])
def test_it_replaces_an_unsafe_request_id_by_a_new_one(given: str):
    response, seen = _serve(**{"X-Request-ID": given})
    assert NEW_ID.fullmatch(response["X-Request-ID"])
    assert seen == response["X-Request-ID"]


def test_it_makes_a_new_one_per_request_when_none_is_given():
    (first, _), (second, _) = _serve(), _serve()
    assert NEW_ID.fullmatch(first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_after_the_request_there_is_none_again():
    _serve(**{"X-Request-ID": "abc"})
    assert current_request_id() == ""


def test_outside_a_request_there_is_none_unless_bound():
    assert current_request_id() == ""
    with request_id_bound("cli:audit_verify"):
        assert current_request_id() == "cli:audit_verify"
    assert current_request_id() == ""


def test_it_accepts_64_safe_characters_at_most():
    assert request_id_clean("a" * 64) == "a" * 64
    assert request_id_clean("a" * 65) is None
