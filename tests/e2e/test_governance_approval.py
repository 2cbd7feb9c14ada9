"""Maker-checker in a real browser, on a small seeded demo (seed_demo, a few events a day, the demo story
and the close, as `make demo` builds it): a finance approver drafts a price increase of Cloud Standard (EUR)
in the YAML editor (a wrong amount first: the error is shown at its field and line), reads the diff against
the version in force, submits it with the backtest of the last closed period, and cannot approve it
(the page offers no form and a forged POST is refused with the four-eyes message and a 403); a second
approver approves it (signed); it is scheduled as a canary for acme, watched once in force, and promoted
to everyone. Every finance page visited is screenshotted to var/screenshots/ and checked with axe-core
under the real Content-Security-Policy."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from billing.demo import DEMO_PASSWORD
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.rollout_models import Rollout
from tests.e2e.conftest import Pages, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUTHOR = "finance"  # the demo's finance approver: drafts here, so four eyes are what stops them
SECOND = "controller"  # the demo's second finance approver
PROFILE = "Cloud Standard (EUR)"


def seed_demo() -> None:
    with override_settings(INVOICE_PDF_ON_FINALIZE=False):
        call_command("seed_demo", stdout=StringIO())
        call_command("demo_usage", "--events-per-day", "3", stdout=StringIO(), stderr=StringIO())
        call_command("demo_story", stdout=StringIO())
        try:
            call_command("close_period", "--no-progress", stdout=StringIO())
        except CommandError as err:  # exit 1 only flags a blocked invoice, as `make demo` allows
            if err.returncode != 1:
                raise


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def test_a_draft_is_backtested_refused_to_its_author_approved_by_another_and_rolled_out(pages: Pages):
    seed_demo()
    starts = (timezone.now() + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    author = pages.context().new_page()
    sign_in(author, AUTHOR, DEMO_PASSWORD)

    # the workspace, the price lists, the EUR price list's timeline
    author.goto("/portal/finance/")
    pages.check(author, "finance-home")
    author.get_by_role("link", name="Price lists").click()
    assert heading(author) == "Price lists"
    pages.check(author, "finance-profiles")
    author.get_by_role("link", name=PROFILE).click()
    assert heading(author) == PROFILE
    assert "In force" in author.get_by_role("row", name="Version 2").inner_text()
    pages.check(author, "finance-profile")

    # a new draft: a wrong amount first, shown at its field and line
    author.get_by_role("link", name="Draft a new version").click()
    assert heading(author) == f"New draft of {PROFILE}"
    pages.check(author, "finance-version-new")
    editor = author.get_by_label("Profile document (YAML)")
    text = editor.input_value()
    assert text.count("unit_amount: '0.040'") == 1
    editor.fill(text.replace("unit_amount: '0.040'", "unit_amount: 'cheap'"))
    author.get_by_label("Takes effect from (UTC)").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    author.get_by_role("button", name="Save the draft").click()
    problems = author.locator("#problems")
    problems.wait_for()
    assert "prices[0].tiers[0].unit_amount (line" in problems.inner_text()
    assert author.locator("ol.yaml-lines li.marked").count() == 1
    assert "unit_amount: 'cheap'" in author.locator("ol.yaml-lines li.marked").inner_text()
    pages.check(author, "finance-version-errors")

    # corrected: 0.040 -> 0.042 EUR for each of the first 1,000 vCPU-hours
    editor.fill(text.replace("unit_amount: '0.040'", "unit_amount: '0.042'"))
    author.get_by_role("button", name="Save the draft").click()
    author.get_by_text("Draft version 3 saved.").wait_for()
    assert heading(author) == f"{PROFILE}, version 3"
    pages.check(author, "finance-version-draft")
    draft = ProfileVersion.objects.get(profile__code="cloud-standard-eur", number=3)
    assert (draft.status, draft.effective_from) == ("draft", starts)

    # the diff against the version in force, per price and as text
    author.get_by_role("link", name="Compare with version 2").click()
    assert heading(author) == "Version 3 against version 2"
    row = author.get_by_role("row", name="compute_vcpu_hours").inner_text()
    assert "tiers[0].unit_amount 0.040 0.042" in " ".join(row.split())
    assert "+    unit_amount: '0.042'" in author.locator("pre.diff").inner_text()
    pages.check(author, "finance-version-diff")

    # submitted with the backtest of the last closed period
    author.get_by_role("link", name="Back to version 3").click()
    author.get_by_label("Backtest over the last closed periods").select_option("1")
    author.get_by_role("button", name="Run the backtest and submit").click()
    author.get_by_text("Version 3 is submitted for approval with its backtest.").wait_for()
    request = ApprovalRequest.objects.get(version=draft, status="open")
    assert heading(author) == f"Approval request #{request.pk}: {PROFILE}, version 3"
    assert request.backtest["tenants"] >= 1
    assert author.get_by_role("heading", name="The 10 most affected tenants").is_visible()
    assert "acme" in author.locator("table", has_text="Largest change in percent first").inner_text()
    pages.check(author, "finance-approval-pending")
    author.get_by_role("button", name="Run the backtest again and list every tenant and period").click()
    assert "Run again just now: the same result" in author.locator("#rerun-result").inner_text()
    assert author.get_by_role("row", name="acme").count() >= 1
    pages.check(author, "finance-approval-rerun")

    # the author cannot approve: no form, the four-eyes rule said; a forged POST is refused (403)
    assert author.get_by_role("button", name="Approve and sign").count() == 0
    assert "You wrote this version" in author.locator("main").inner_text()
    token = author.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    forged = author.request.post(
        f"/portal/finance/approvals/{request.pk}/approve/",
        form={"csrfmiddlewaretoken": token, "note": "mine"},
    )
    assert forged.status == 403
    assert "<strong>Refused:</strong> the author of a version cannot approve it" in forged.text()
    assert not Approval.objects.filter(request=request).exists()

    # a second approver approves: signed, the version approved
    second = pages.context().new_page()
    sign_in(second, SECOND, DEMO_PASSWORD)
    second.goto("/portal/finance/approvals/")
    assert heading(second) == "Approval requests"
    assert "in 6 days 23 hours" in second.get_by_role("row", name=f"Request #{request.pk}").inner_text()
    pages.check(second, "finance-approvals")
    second.get_by_role("link", name=f"Request #{request.pk}", exact=True).click()
    second.get_by_label("Note (optional)").fill("checked the backtest")
    second.get_by_role("button", name="Approve and sign").click()
    second.get_by_text("Your approval is signed and recorded.").wait_for()
    assert "verifies" in second.get_by_role("row", name=SECOND).inner_text()
    pages.check(second, "finance-approval-approved")
    draft.refresh_from_db()
    assert draft.status == "approved"

    # scheduled as a canary for acme before it takes effect
    second.goto("/portal/finance/rollouts/")
    second.get_by_role("link", name="schedule a canary").click()
    assert heading(second) == f"Schedule a canary: {PROFILE}, version 3"
    second.get_by_label("These tenants").check()
    second.get_by_label("Tenants (for a list)").select_option(label="acme")
    second.get_by_label("Guardrail: largest change of a tenant's estimated bill (%)").fill("50")
    second.get_by_label("Guardrail: disputes the cohort may open").fill("3")
    pages.check(second, "finance-rollout-new")
    second.get_by_role("button", name="Schedule the canary").click()
    second.get_by_text("The canary is scheduled.").wait_for()
    rollout = Rollout.objects.get(version=draft)
    assert second.locator("#rollout-status").inner_text() == "Canary"

    # once in force for the cohort: watched, then promoted to everyone
    with time_machine.travel(starts + timedelta(hours=6), tick=True):
        sign_in(second, SECOND, DEMO_PASSWORD)  # days later: the idle session has ended
        second.goto(f"/portal/finance/rollouts/{rollout.pk}/")
        assert second.locator("#rollout-status").inner_text() == "Canary"
        pages.check(second, "finance-rollout-canary-in-force")
        second.locator("#promote-reason").fill("acme's bills moved as the backtest said")
        second.get_by_role("button", name="Promote to everyone").click()
        second.locator("#rollout-status").filter(has_text="Promoted").wait_for()
        pages.check(second, "finance-rollout-promoted")
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.PROMOTED

    # back to today: the timeline shows version 3 scheduled and version 2 still in force
    second.goto(f"/portal/finance/profiles/{draft.profile_id}/")
    assert "Approved, scheduled" in second.get_by_role("row", name="Version 3").inner_text()
    assert "In force" in second.get_by_role("row", name="Version 2").inner_text()
    pages.check(second, "finance-profile-after")
    assert pages.problems == [], "\n".join(pages.problems)
