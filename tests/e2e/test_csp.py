"""The Content-Security-Policy (config.settings.base: no 'unsafe-inline', no 'unsafe-eval') in a real
browser, on the pages that are not the portal's: the Django admin and the Swagger UI at /api/docs/ (staff
only, as in production) load and work without a single violation. The portal's pages are checked the same
way in test_customer_flow."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from tests.e2e.conftest import Pages
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__cspViolations"))


def test_the_admin_and_the_api_docs_run_under_the_policy_without_a_violation(pages: Pages):
    UserFactory.create(username="operator", is_staff=True, is_superuser=True)
    page = pages.context().new_page()
    seen: dict[str, list[str]] = {}

    # the admin: sign in, the index, a list, an add form (its widgets' scripts)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Site administration").wait_for()
    seen["admin index"] = violations(page)
    for path in ["/admin/tenants/tenant/", "/admin/tenants/tenant/add/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        seen[path] = violations(page)

    # the API docs, staff only as in production: Swagger UI renders the schema
    with override_settings(API_DOCS_PUBLIC=False):
        page.goto("/api/docs/")
        page.locator(".swagger-ui .info .title").get_by_text("Billing platform API").wait_for()
        page.locator(".opblock").first.wait_for()
        seen["/api/docs/"] = violations(page)

    assert seen == {name: [] for name in seen}
