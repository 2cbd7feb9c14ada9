"""Finance's price-list pages: the list with the tenants on each, a profile's version timeline, a version.
Viewers read them; drafting is in test_profiles_drafts.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from billing.governance.rollouts import rollout_schedule
from billing.profiles.models import ProfileVersion
from tenants.models import Role
from tests.factories import ProfileAssignmentFactory, ProfileVersionFactory, TenantFactory, finance_user
from tests.factories.ledger import JAN_1, approved_version, document, world

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def client_for(role: Role) -> Client:
    client = Client()
    client.force_login(finance_user(role=role))
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def timeline():
    """acme's profile: v1 (superseded), v2 in force since June, v3 approved for December, v4 pending,
    v5 a draft, v6 rejected; a second tenant joins in December."""
    w = world()
    profile = w.profile
    body = document(profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.12"}])
    approved_version(profile, body, datetime(2026, 6, 1, tzinfo=UTC), 2)
    approved_version(profile, body, datetime(2026, 12, 1, tzinfo=UTC), 3)
    for number, status in ((4, "pending_approval"), (5, "draft"), (6, "rejected")):
        ProfileVersionFactory(profile=profile, number=number, body=body, status=status)
    ProfileVersion.objects.filter(profile=profile, number=1).update(status="superseded")
    later = TenantFactory(slug="zeta")
    ProfileAssignmentFactory(tenant=later, profile=profile, effective_from=datetime(2026, 12, 1, tzinfo=UTC))
    return w


@time_machine.travel(NOW, tick=False)
def test_the_list_shows_each_price_list_with_its_version_in_force_and_its_tenants(timeline):
    response = client_for(Role.FINANCE_VIEWER).get("/portal/finance/profiles/")

    assert response.status_code == 200
    row = text_of(response.content.decode()).split("Tenants ", 1)[1]
    assert row.startswith(
        "Acme-Profile acme-profile Version 2 since 2026-06-01 00:00 1 pending approval, 1 draft "
        "acme, zeta (from 2026-12-01)"
    )


@time_machine.travel(NOW, tick=False)
def test_the_profile_page_shows_the_timeline_with_in_force_derived(timeline):
    response = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/{timeline.profile.pk}/")

    states = re.findall(r'<span class="badge state-([a-z_]+)">([^<]+)</span>', response.content.decode())
    assert states == [
        ("rejected", "Rejected"),
        ("draft", "Draft"),
        ("pending_approval", "Pending approval"),
        ("scheduled", "Approved, scheduled"),
        ("in_force", "In force"),
        ("superseded", "Superseded"),
    ]


@time_machine.travel(NOW, tick=False)
def test_the_profile_page_lists_its_tenants_now_and_upcoming(timeline):
    html = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/{timeline.profile.pk}/").content

    text = text_of(html.decode()).split("Tenants on this price list", 1)[1]
    assert "Acme acme 2026-01-01 00:00 open-ended" in text
    assert "Zeta zeta 2026-12-01 00:00 (upcoming) open-ended" in text


@time_machine.travel(NOW, tick=False)
def test_a_viewer_is_offered_no_drafting(timeline):
    html = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/{timeline.profile.pk}/").content

    assert b"Draft a new version" not in html


@time_machine.travel(NOW, tick=False)
def test_an_editor_is_offered_a_new_draft(timeline):
    html = client_for(Role.FINANCE_EDITOR).get(f"/portal/finance/profiles/{timeline.profile.pk}/").content

    assert f'href="/portal/finance/profiles/{timeline.profile.pk}/new/"'.encode() in html


@time_machine.travel(NOW, tick=False)
def test_the_version_page_shows_its_state_facts_and_document(timeline):
    version = timeline.profile.versions.get(number=2)

    response = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/versions/{version.pk}/")

    text = text_of(response.content.decode())
    assert "State In force Takes effect 2026-06-01 00:00 UTC" in text
    assert f"Document SHA-256 {version.body_sha256}" in text
    assert "unit_amount: &#x27;0.12&#x27;" in response.content.decode()
    assert "Compare with version 1" in text
    assert "Edit this draft" not in text


@time_machine.travel(NOW, tick=False)
def test_a_draft_offers_an_editor_the_editor_and_the_submission(timeline):
    draft = timeline.profile.versions.get(number=5)

    text = text_of(
        client_for(Role.FINANCE_EDITOR).get(f"/portal/finance/profiles/versions/{draft.pk}/").content.decode()
    )

    assert "Edit this draft" in text
    assert "Backtest over the last closed periods" in text
    assert "Compare with version 2" in text


@time_machine.travel(NOW, tick=False)
def test_a_draft_offers_a_viewer_neither(timeline):
    draft = timeline.profile.versions.get(number=5)

    text = text_of(
        client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/versions/{draft.pk}/").content.decode()
    )

    assert "Edit this draft" not in text
    assert "Run the backtest and submit" not in text


def test_an_unknown_profile_or_version_is_a_404():
    client = client_for(Role.FINANCE_VIEWER)

    assert client.get("/portal/finance/profiles/999999/").status_code == 404
    assert client.get("/portal/finance/profiles/versions/999999/").status_code == 404


@time_machine.travel(NOW, tick=False)
def test_the_diff_shows_each_changed_price_and_the_text(timeline):
    draft = timeline.profile.versions.get(number=5)

    response = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/versions/{draft.pk}/diff/")

    assert response.status_code == 200
    text = text_of(response.content.decode())
    assert "Version 5 against version 2" in text
    assert "Version 5 changes nothing against version 2." in text


@time_machine.travel(NOW, tick=False)
def test_the_diff_of_a_price_increase_per_price_and_as_text():
    w = world()
    body = document(w.profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.15"}])
    draft = ProfileVersionFactory.create(profile=w.profile, number=2, body=body)

    response = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/versions/{draft.pk}/diff/")

    text = text_of(response.content.decode())
    assert "Prices rise." in text
    assert "api_calls changed unit_amount 0.10 0.15" in text
    assert (
        '<span class="diff-del">-  unit_amount: &#x27;0.10&#x27;</span>\n'
        '<span class="diff-add">+  unit_amount: &#x27;0.15&#x27;</span>'
    ) in response.content.decode()


def test_the_first_version_has_nothing_to_compare_with():
    w = world(effective_from=JAN_1)

    response = client_for(Role.FINANCE_VIEWER).get(f"/portal/finance/profiles/versions/{w.version.pk}/diff/")

    assert "No version priced before this one" in response.content.decode()


def test_a_canary_prices_its_cohort_only_and_the_previous_version_stays_in_force():
    start, canary_at = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 3, 10, tzinfo=UTC)
    w = world(effective_from=start)
    body = document(w.profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.20"}])
    v2 = approved_version(w.profile, body, canary_at, 2)
    rollout = rollout_schedule(
        version=v2,
        actor=finance_user(role=Role.FINANCE_APPROVER),
        tenants=[w.tenant],
        max_bill_change_pct="50",
        max_disputes=3,
        now=canary_at - timedelta(days=1),
    )
    with time_machine.travel(datetime(2031, 3, 15, tzinfo=UTC), tick=False):
        client = client_for(Role.FINANCE_APPROVER)
        profile_html = client.get(f"/portal/finance/profiles/{w.profile.pk}/").content.decode()
        version_html = client.get(f"/portal/finance/profiles/versions/{v2.pk}/").content.decode()

    states = re.findall(r'<span class="badge state-([a-z_]+)">([^<]+)</span>', profile_html)
    assert states == [("canary", "Canary (its cohort only)"), ("in_force", "In force")]
    assert f'href="/portal/finance/rollouts/{rollout.pk}/">Its canary rollout (canary)</a>' in version_html


@time_machine.travel(NOW, tick=False)
def test_an_approver_may_schedule_a_canary_for_a_version_that_starts_later(timeline):
    v3 = timeline.profile.versions.get(number=3)

    approver = client_for(Role.FINANCE_APPROVER).get(f"/portal/finance/profiles/versions/{v3.pk}/").content
    editor = client_for(Role.FINANCE_EDITOR).get(f"/portal/finance/profiles/versions/{v3.pk}/").content

    assert f'href="/portal/finance/rollouts/new/{v3.pk}/">Schedule a canary</a>'.encode() in approver
    assert b"Schedule a canary" not in editor
