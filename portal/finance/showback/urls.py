"""URLs of portal/finance/showback: the report page and its CSV, and the allocation rules (rules.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.finance.showback import rules, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.showback_page, name="showback"),
    path("export.csv", views.showback_csv, name="showback-csv"),
    path("rules/", rules.rule_list, name="showback-rules"),
    path("rules/new/", rules.rule_new, name="showback-rule-new"),
    path("rules/<int:rule_id>/", rules.rule_detail, name="showback-rule"),
    path("rules/<int:rule_id>/draft/", rules.version_new, name="showback-rule-draft"),
    path(
        "rules/versions/<int:rule_version_id>/submit/",
        rules.version_submit,
        name="showback-rule-version-submit",
    ),
    path(
        "rules/versions/<int:rule_version_id>/approve/",
        rules.version_approve,
        name="showback-rule-version-approve",
    ),
    path(
        "rules/versions/<int:rule_version_id>/reject/",
        rules.version_reject,
        name="showback-rule-version-reject",
    ),
]
