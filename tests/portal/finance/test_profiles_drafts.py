"""Drafting in the browser: a new draft and a draft's edit as YAML, `effective_from` in UTC, validation
errors shown at their field and line; viewers may not draft; only drafts can be edited."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
import time_machine
from django.test import Client

from billing.profiles.diff import body_yaml
from billing.profiles.models import ProfileVersion
from tenants.models import Role
from tests.factories import ProfileVersionFactory, finance_user
from tests.factories.ledger import document, world

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def client_for(role: Role) -> Client:
    client = Client()
    client.force_login(finance_user(role=role))
    return client


def yaml_of(unit_amount: str = "0.12", code: str = "acme-profile") -> str:
    return body_yaml(
        document(code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": unit_amount}])
    )


@time_machine.travel(NOW, tick=False)
def test_the_new_draft_form_starts_from_the_version_in_force_and_next_month():
    w = world()

    html = (
        client_for(Role.FINANCE_EDITOR).get(f"/portal/finance/profiles/{w.profile.pk}/new/").content.decode()
    )

    assert "unit_amount: &#x27;0.10&#x27;" in html
    assert 'type="datetime-local" name="effective_from" value="2026-12-01T00:00"' in html
    assert "Takes effect from (UTC)" in html


@time_machine.travel(NOW, tick=False)
def test_an_editor_saves_a_new_draft_effective_at_the_utc_instant_given():
    w = world()
    editor = finance_user(role=Role.FINANCE_EDITOR)
    client = Client()
    client.force_login(editor)

    response = client.post(
        f"/portal/finance/profiles/{w.profile.pk}/new/",
        {"document": yaml_of("0.12"), "effective_from": "2026-12-01T06:30"},
    )

    draft = ProfileVersion.objects.get(profile=w.profile, number=2)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/finance/profiles/versions/{draft.pk}/"
    assert (draft.status, draft.author, draft.effective_from) == (
        "draft",
        editor,
        datetime(2026, 12, 1, 6, 30, tzinfo=UTC),
    )
    assert draft.body["prices"][0]["unit_amount"] == "0.12"


@time_machine.travel(NOW, tick=False)
def test_an_approver_may_draft_too():
    w = world()

    response = client_for(Role.FINANCE_APPROVER).post(
        f"/portal/finance/profiles/{w.profile.pk}/new/",
        {"document": yaml_of("0.12"), "effective_from": "2026-12-01T00:00"},
    )

    assert response.status_code == 302


@time_machine.travel(NOW, tick=False)
def test_a_viewer_can_neither_open_nor_post_the_editor():
    w = world()
    draft = ProfileVersionFactory.create(profile=w.profile, number=2, body=w.version.body)
    viewer = client_for(Role.FINANCE_VIEWER)
    form = {"document": yaml_of("0.12"), "effective_from": "2026-12-01T00:00"}

    assert viewer.get(f"/portal/finance/profiles/{w.profile.pk}/new/").status_code == 403
    assert viewer.post(f"/portal/finance/profiles/{w.profile.pk}/new/", form).status_code == 403
    assert viewer.get(f"/portal/finance/profiles/versions/{draft.pk}/edit/").status_code == 403
    assert viewer.post(f"/portal/finance/profiles/versions/{draft.pk}/edit/", form).status_code == 403
    assert ProfileVersion.objects.filter(profile=w.profile).count() == 2


@time_machine.travel(NOW, tick=False)
def test_an_editor_edits_a_draft():
    w = world()
    editor = finance_user(role=Role.FINANCE_EDITOR)
    draft = ProfileVersionFactory.create(profile=w.profile, number=2, body=w.version.body, author=editor)
    client = Client()
    client.force_login(editor)

    response = client.post(
        f"/portal/finance/profiles/versions/{draft.pk}/edit/",
        {"document": yaml_of("0.13"), "effective_from": "2027-01-01T00:00"},
    )

    draft.refresh_from_db()
    assert response.status_code == 302
    assert (draft.body["prices"][0]["unit_amount"], draft.effective_from) == (
        "0.13",
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def problems(html: str) -> list[str]:
    section = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    return [
        unescape(re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li>(.*?)</li>", section, re.S)
    ]


def marked_lines(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="line-(\d+)" class="marked">', html)]


@time_machine.travel(NOW, tick=False)
def test_a_validation_error_is_shown_at_its_field_and_line():
    w = world()
    editor = finance_user(role=Role.FINANCE_EDITOR)
    draft = ProfileVersionFactory.create(profile=w.profile, number=2, body=w.version.body, author=editor)
    text = body_yaml(
        document(
            w.profile.code,
            prices=[
                {
                    "sku": "api_calls",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": 100, "unit_amount": "0.10"},
                        {"up_to": 50, "unit_amount": "0.05"},
                        {"up_to": None, "unit_amount": "0.01"},
                    ],
                }
            ],
        )
    )
    line = text.splitlines().index("  - up_to: 50") + 1
    client = Client()
    client.force_login(editor)

    response = client.post(
        f"/portal/finance/profiles/versions/{draft.pk}/edit/",
        {"document": text, "effective_from": "2027-01-01T00:00"},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert [p.split(":", 1)[0] for p in problems(html)] == [f"prices[0].tiers[1].up_to (line {line})"]
    assert marked_lines(html) == [line]
    assert 'aria-invalid="true" aria-describedby="problems"' in html
    draft.refresh_from_db()
    assert draft.body == w.version.body


@time_machine.travel(NOW, tick=False)
def test_a_yaml_syntax_error_names_its_line():
    w = world()
    text = yaml_of("0.12").replace("currency: EUR", "currency: [EUR")

    response = client_for(Role.FINANCE_EDITOR).post(
        f"/portal/finance/profiles/{w.profile.pk}/new/",
        {"document": text, "effective_from": "2026-12-01T00:00"},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert problems(html)[0].startswith("document (line ")
    assert "not valid YAML" in problems(html)[0]
    assert ProfileVersion.objects.filter(profile=w.profile).count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_document_naming_another_profile_is_refused_at_the_profile_field():
    w = world()

    response = client_for(Role.FINANCE_EDITOR).post(
        f"/portal/finance/profiles/{w.profile.pk}/new/",
        {"document": yaml_of("0.12", code="other"), "effective_from": "2026-12-01T00:00"},
    )

    assert problems(response.content.decode()) == ["profile (line 1): must be 'acme-profile'"]


@time_machine.travel(NOW, tick=False)
def test_a_missing_effective_from_is_shown_at_its_field():
    w = world()

    response = client_for(Role.FINANCE_EDITOR).post(
        f"/portal/finance/profiles/{w.profile.pk}/new/", {"document": yaml_of("0.12"), "effective_from": ""}
    )

    assert problems(response.content.decode()) == ["effective_from: This field is required."]


@time_machine.travel(NOW, tick=False)
def test_a_version_out_of_draft_is_not_edited():
    w = world()

    client = client_for(Role.FINANCE_EDITOR)
    response = client.post(
        f"/portal/finance/profiles/versions/{w.version.pk}/edit/",
        {"document": yaml_of("0.99"), "effective_from": "2027-01-01T00:00"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/portal/finance/profiles/versions/{w.version.pk}/"
    followed = client.get(response["Location"]).content.decode()
    assert "only drafts can be edited" in followed
    w.version.refresh_from_db()
    assert w.version.body["prices"][0]["unit_amount"] == "0.10"


@time_machine.travel(NOW, tick=False)
def test_someone_elses_draft_is_not_edited_and_the_refusal_is_shown():
    w = world()
    draft = ProfileVersionFactory.create(profile=w.profile, number=2, body=w.version.body)
    client = client_for(Role.FINANCE_EDITOR)

    response = client.post(
        f"/portal/finance/profiles/versions/{draft.pk}/edit/",
        {"document": yaml_of("0.99"), "effective_from": "2027-01-01T00:00"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/portal/finance/profiles/versions/{draft.pk}/"
    followed = unescape(client.get(response["Location"]).content.decode())
    assert (
        "Only the author of version 2 can edit its draft: copy it into a new draft of your own instead."
        in (followed)
    )
    draft.refresh_from_db()
    assert draft.body == w.version.body
