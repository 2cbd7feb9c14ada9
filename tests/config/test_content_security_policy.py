"""Every response carries the Content-Security-Policy of config.settings.base (django-csp): no
'unsafe-inline' or 'unsafe-eval' anywhere, the API docs included, whose page holds no inline script or
style. That a real browser runs the pages under it without a violation is tests/e2e/test_csp.py's job."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

POLICY = (
    "base-uri 'self'; default-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "img-src 'self' data:; object-src 'none'"
)


def directives(header: str) -> str:
    """The policy with its directives in name order (django-csp's order is its own)."""
    return "; ".join(sorted(part.strip() for part in header.split(";") if part.strip()))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/portal/login/", "/admin/login/", "/healthz", "/api/v1/usage"])
def test_it_sends_the_policy_on_every_kind_of_response(anonymous, path):
    response = anonymous.client.get(path)

    assert directives(response["Content-Security-Policy"]) == POLICY


@pytest.mark.django_db
def test_the_api_docs_page_runs_under_the_same_policy_without_inline_code(staff):
    with override_settings(API_DOCS_PUBLIC=False):
        page = staff.client.get("/api/docs/")
        script = staff.client.get("/api/docs/?script=")

    html = page.content.decode()
    assert page.status_code == 200
    assert directives(page["Content-Security-Policy"]) == POLICY
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"<style\b|\sstyle=", html) == []
    assert re.findall(r'<script src="([^"]+)"', html)[-1] == "/api/docs/?script="
    assert (script.status_code, script["Content-Type"]) == (200, "application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
def test_the_api_docs_stay_staff_only(alice):
    with override_settings(API_DOCS_PUBLIC=False):
        page = alice.client.get("/api/docs/")
        script = alice.client.get("/api/docs/?script=")

    assert (page.status_code, script.status_code) == (403, 403)
