"""Allocation rules in a real browser, on a small closed demo and its FinOps story (seed_demo, a few events
a day, the close, demo_finops: acme's rules approved by four eyes, its support contract of 499.00 split
50/30 in the demo month): finance's editor ("pricing") opens acme's rules, the support contract and a new
draft version of it, which starts from version 1; a bad split is refused (a percentage that is no number
beside its row, percentages over 100 above the form; nothing saved), a good one (60 % / 25 %, 15 %
unallocated, from the demo month) is saved and submitted; the page tells the editor why they cannot
approve it (the role, four eyes) and offers no form, and a forged POST is refused (403); the approver
("finance") approves it, the rule page shows it approved and version 1 superseded, and the showback of
the demo month splits the contract the new way. Every page is screenshotted to var/screenshots/ and
checked with axe-core under the real Content-Security-Policy."""

from __future__ import annotations

import re
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from billing.allocation.models import AllocationRule, AllocationRuleVersion
from billing.allocation.selectors import showback
from billing.allocation.shares import UNALLOCATED, allocate
from billing.demo import DEMO_PASSWORD
from common.money_format import format_money
from tenants.models import Tenant
from tests.e2e.conftest import Pages, sign_in
from tests.e2e.test_focus_exports import closed_demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EDITOR = "pricing"  # the demo's finance editor: drafts and submits, may not decide
APPROVER = "finance"  # the demo's finance approver
RULE = "support-contract"  # demo_finops: 499.00 split 50 / 30 across acme's first two teams, 20 % left
NEW = ("60", "25")  # the new split of the same two teams: 15 % unallocated


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency, "en")


def test_an_editor_drafts_and_submits_a_split_an_approver_approves_it_and_the_showback_uses_it(
    pages: Pages,
):
    period = closed_demo()
    call_command("demo_finops", stdout=StringIO())
    acme = Tenant.objects.get(slug="acme")
    rule = AllocationRule.objects.get(tenant=acme, code=RULE)
    first = rule.versions.get()
    assert (first.number, first.status, first.effective_from) == (1, "approved", period)
    teams = [t.removeprefix("team:") for t in first.body["targets"]]
    assert len(teams) == 2
    before = [(r.target, r.version) for r in showback(tenant=acme, period_key=period).rows if r.rule == RULE]
    assert before == [(f"team:{teams[0]}", 1), (f"team:{teams[1]}", 1), (UNALLOCATED, 1)]

    editor: Any = pages.context().new_page()
    sign_in(editor, EDITOR, DEMO_PASSWORD)

    # the rules of acme, from the showback page
    editor.goto("/portal/finance/")
    editor.get_by_role("link", name="Showback").click()
    assert heading(editor) == "Showback"
    editor.get_by_role("link", name="Allocation rules: draft, submit and approve versions").click()
    assert heading(editor) == "Allocation rules"
    editor.get_by_label("Tenant").select_option("acme")
    editor.get_by_role("button", name="Show").click()
    listed = editor.get_by_role("row", name=re.compile(rf"\b{RULE}\b"))
    assert listed.locator("td").all_inner_texts()[:3] == [
        "acme",
        "Support contract",
        f"version 1 (from {period})",
    ]
    pages.check(editor, "finance-allocation-rules")

    # the rule: version 1 approved, its body as a table
    listed.get_by_role("link", name=RULE).click()
    assert heading(editor) == f"Support contract (acme/{RULE})"
    targets = editor.get_by_role("table", name="Targets and weights of version 1")
    assert targets.locator("tbody tr").all_inner_texts() == [
        f"team:{teams[0]}\t{teams[0]}\tfixed percentage\t50%",
        f"team:{teams[1]}\t{teams[1]}\tfixed percentage\t30%",
        "unallocated\t\u2013\twhat the percentages leave\t20%",
    ]
    pages.check(editor, "finance-allocation-rule")

    # a new draft starts from version 1
    editor.get_by_role("link", name="New draft version").click()
    assert heading(editor) == "New draft version of Support contract (acme)"
    assert editor.get_by_label("Amount per period (fixed amount)").input_value() == "499.00"
    assert editor.get_by_label("Split").input_value() == "fixed"
    assert editor.get_by_label("Project code or team of target 1").input_value() == teams[0]
    assert editor.get_by_label("Percentage of target 1").input_value() == "50"
    assert editor.get_by_label("Percentage of target 2").input_value() == "30"
    pages.check(editor, "finance-allocation-draft")

    # a bad split: a percentage that is no number, shown beside its row; nothing saved
    editor.get_by_label("Takes effect from (month)").fill(period)
    editor.get_by_label("Percentage of target 1").fill(NEW[0])
    editor.get_by_label("Percentage of target 2").fill("twenty-five")
    editor.get_by_role("button", name="Save the draft").click()
    assert heading(editor) == "New draft version of Support contract (acme)"
    problems = editor.locator("#draft-problems")
    assert problems.inner_text().strip() == "1 problem: nothing was saved."
    row2 = editor.get_by_role("table", name="Targets of the split").locator("tbody tr").nth(1)
    assert row2.get_by_role("alert").inner_text() == "'twenty-five' is not a decimal"
    percentage = editor.get_by_label("Percentage of target 2")
    assert percentage.get_attribute("aria-invalid") == "true"
    described = editor.locator(f"#{percentage.get_attribute('aria-describedby')}")
    assert described.inner_text() == "'twenty-five' is not a decimal"  # the error is the field's description
    assert rule.versions.count() == 1
    pages.check(editor, "finance-allocation-draft-bad-percentage")

    # a bad split: percentages over 100, shown above the form; nothing saved
    editor.get_by_label("Percentage of target 2").fill("50")
    editor.get_by_role("button", name="Save the draft").click()
    assert heading(editor) == "New draft version of Support contract (acme)"
    assert [line for line in problems.inner_text().split("\n") if line] == [
        "1 problem: nothing was saved.",
        "percentages: add up to at most 100",
    ]
    assert rule.versions.count() == 1
    pages.check(editor, "finance-allocation-draft-over-100")

    # the good split: saved as version 2, a draft
    editor.get_by_label("Percentage of target 2").fill(NEW[1])
    editor.get_by_role("button", name="Save the draft").click()
    assert heading(editor) == f"Support contract (acme/{RULE})"
    assert editor.get_by_role("status").first.inner_text() == "Draft version 2 saved: submit it for approval."
    draft = rule.versions.get(number=2)
    assert (draft.status, draft.effective_from, draft.author.username) == ("draft", period, EDITOR)
    assert draft.body == {
        "source": {"kind": "amount", "amount": "499.00", "currency": acme.currency},
        "method": "fixed",
        "targets": [f"team:{teams[0]}", f"team:{teams[1]}"],
        "percentages": {f"team:{teams[0]}": NEW[0], f"team:{teams[1]}": NEW[1]},
    }
    assert editor.get_by_role("table", name="Targets and weights of version 2").locator(
        "tbody tr"
    ).all_inner_texts() == [
        f"team:{teams[0]}\t{teams[0]}\tfixed percentage\t60%",
        f"team:{teams[1]}\t{teams[1]}\tfixed percentage\t25%",
        "unallocated\t\u2013\twhat the percentages leave\t15%",
    ]
    pages.check(editor, "finance-allocation-rule-draft")

    # submitted; the editor is told why they cannot decide it, and is offered no form
    editor.get_by_role("button", name="Submit version 2 for approval").click()
    assert heading(editor) == f"Support contract (acme/{RULE})"
    draft.refresh_from_db()
    assert draft.status == "pending_approval"
    version2 = editor.locator("#v2")
    assert version2.get_by_role("heading", level=3).inner_text() == "Version 2: Pending approval"
    assert version2.locator(f"#why-not-{draft.pk}").inner_text() == (
        "You cannot decide version 2: deciding an allocation rule version needs the finance approver's role"
        " (four eyes: another finance approver must decide it)."
    )
    assert version2.get_by_role("button", name="Approve version 2").count() == 0
    assert version2.get_by_role("button", name="Reject version 2").count() == 0
    # a forged POST is refused by the service: the page again with its reason, 403, still pending
    token = editor.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    forged = editor.request.post(
        f"/portal/finance/showback/rules/versions/{draft.pk}/approve/",
        form={"csrfmiddlewaretoken": token, "note": "mine"},
    )
    assert forged.status == 403
    assert (
        "<strong>Refused:</strong> approving an allocation rule needs one of the roles: finance_approver"
        in forged.text()
    )
    draft.refresh_from_db()
    assert (draft.status, draft.approvals.count()) == ("pending_approval", 0)
    pages.check(editor, "finance-allocation-rule-pending")

    # the approver approves it
    approver: Any = pages.context().new_page()
    sign_in(approver, APPROVER, DEMO_PASSWORD)
    approver.goto(f"/portal/finance/showback/rules/?tenant={acme.slug}")
    approver.get_by_role("row", name=re.compile(rf"\b{RULE}\b")).get_by_role("link", name=RULE).click()
    assert heading(approver) == f"Support contract (acme/{RULE})"
    pages.check(approver, "finance-allocation-rule-to-approve")
    approver.get_by_label("Note (optional)").fill("60/25 from the browser test")
    approver.get_by_role("button", name="Approve version 2").click()
    assert heading(approver) == f"Support contract (acme/{RULE})"
    assert (
        approver.get_by_role("status").first.inner_text() == f"Version 2 is approved: in force from {period}."
    )
    draft.refresh_from_db()
    first.refresh_from_db()
    assert (draft.status, draft.decided_by.username if draft.decided_by else None) == ("approved", APPROVER)
    assert first.status == AllocationRuleVersion.Status.SUPERSEDED
    assert (
        approver.locator("#v2").get_by_role("heading", level=3).inner_text().startswith("Version 2: Approved")
    )
    assert approver.locator("#v1").get_by_role("heading", level=3).inner_text() == "Version 1: Superseded"
    approvals = approver.get_by_role("table", name="Approvals of version 2").locator("tbody tr td")
    assert approvals.nth(1).inner_text() == "60/25 from the browser test"
    pages.check(approver, "finance-allocation-rule-approved")

    # the showback of the demo month splits the contract 60/25 now
    report = showback(tenant=acme, period_key=period)
    expected = allocate(
        method="fixed",
        total=Decimal("499.00"),
        targets=[f"team:{t}" for t in teams],
        currency=acme.currency,
        percentages={f"team:{t}": Decimal(p) for t, p in zip(teams, NEW, strict=True)},
    )
    contract = [(r.target, r.version, r.amount) for r in report.rows if r.rule == RULE]
    assert contract == [(s.target, 2, s.amount) for s in expected]
    # by hand: 499.00 x 60 %, x 25 %, and the 15 % left
    assert [a for _, _, a in contract] == [Decimal("299.40"), Decimal("124.75"), Decimal("74.85")]
    approver.get_by_role("link", name="Showback report").click()
    assert heading(approver) == "Showback"
    approver.get_by_label("Period").fill(period)
    approver.get_by_role("button", name="Show").click()
    approver.get_by_role("heading", name=f"Per team, {period}").wait_for()
    per_team = approver.get_by_role("table", name="Allocated cost per team").locator("tbody tr")
    assert per_team.all_inner_texts() == [f"{t}\t{money(a, c)}" for t, c, a in report.teams()]
    per_rule = approver.get_by_role("table", name="Per rule and target").locator("tbody tr")
    shown = [r.split("\t") for r in per_rule.all_inner_texts()]
    assert [(r[0], r[1], r[4], r[6]) for r in shown if r[0] == RULE] == [
        (RULE, "2", s.target, money(s.amount, acme.currency)) for s in expected
    ]
    assert [r[6] for r in shown] == [money(r.amount, r.currency) for r in report.rows]
    pages.check(approver, "finance-allocation-showback")

    assert pages.problems == [], "\n\n".join(pages.problems)
