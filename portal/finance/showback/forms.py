"""Forms of the allocation rule pages: a new rule, a new draft version (the shared cost, the method, the
targets as rows of kind / code / percentage, the month it takes effect) and the decisions.

The draft form checks only the shape of what was sent (text, a row's percentage needs its target); the
rule's body is validated by billing.allocation.spec through the service, whose field errors `place_issues`
puts back beside the field each names."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory

from billing.allocation.overview import METHOD_LABELS, SOURCE_LABELS
from billing.allocation.spec import body_build
from common.errors import FieldIssue
from tenants.models import Tenant

TARGET_ROWS_MIN = 5  # rows offered on a new draft (blank ones are ignored)
TARGET_ROWS_BLANK = 2  # blank rows offered after the previous version's targets


class RuleForm(forms.Form):
    tenant = forms.ModelChoiceField(
        label="Tenant", queryset=Tenant.objects.order_by("slug"), to_field_name="slug"
    )
    code = forms.SlugField(label="Code (letters, digits, - and _)", max_length=64)
    name = forms.CharField(label="Name", max_length=200)


class DraftForm(forms.Form):
    # Text with a select widget, not a ChoiceField: the body's validation names a bad value, not the form.
    source_kind = forms.CharField(
        label="Shared cost", widget=forms.Select(choices=list(SOURCE_LABELS.items()))
    )
    amount = forms.CharField(label="Amount per period (fixed amount)", required=False, max_length=40)
    currency = forms.CharField(label="Currency (fixed amount)", required=False, max_length=3)
    source_sku = forms.CharField(label="SKU (a SKU's cost)", required=False, max_length=64)
    method = forms.CharField(label="Split", widget=forms.Select(choices=list(METHOD_LABELS.items())))
    metric_sku = forms.CharField(label="Usage metric SKU (by a usage metric)", required=False, max_length=64)
    effective_from = forms.CharField(
        label="Takes effect from (month)",
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-11"}),
    )


class TargetForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=[("project", "Project"), ("team", "Team")])
    code = forms.CharField(label="Project code or team", required=False, max_length=64)
    percentage = forms.CharField(label="Percentage (fixed percentages)", required=False, max_length=20)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("percentage") and not data.get("code"):
            self.add_error("code", "Name the project or team this percentage is for.")
        return data


TargetFormSet: type[BaseFormSet[TargetForm]] = formset_factory(
    TargetForm, extra=0, max_num=50, validate_max=True
)
TARGETS_PREFIX = "targets"


def target_rows(body: dict[str, Any] | None) -> list[dict[str, str]]:
    """Initial rows of the targets' formset: the given body's targets, then blank rows."""
    rows = []
    if isinstance(body, dict) and isinstance(body.get("targets"), list):
        raw = body.get("percentages")
        percentages: dict[str, Any] = raw if isinstance(raw, dict) else {}
        for target in body["targets"]:
            kind, _, code = str(target).partition(":")
            rows.append({"kind": kind, "code": code, "percentage": str(percentages.get(target, ""))})
    blank = max(TARGET_ROWS_BLANK, TARGET_ROWS_MIN - len(rows))
    return rows + [{"kind": "project", "code": "", "percentage": ""} for _ in range(blank)]


def draft_initial(body: dict[str, Any] | None, *, currency: str, effective_from: str) -> dict[str, str]:
    """Initial fields of a draft: the given body's (a new version starts from the last one), else empty."""
    source = body.get("source", {}) if isinstance(body, dict) else {}
    return {
        "source_kind": str(source.get("kind", "amount")),
        "amount": str(source.get("amount", "")),
        "currency": str(source.get("currency", currency)),
        "source_sku": str(source.get("sku", "")),
        "method": str(body.get("method", "even")) if isinstance(body, dict) else "even",
        "metric_sku": str(body.get("metric_sku", "")) if isinstance(body, dict) else "",
        "effective_from": effective_from,
    }


class Draft:
    """A bound draft form and its targets' rows; `body()` is what they describe, and `place_issues` puts
    the body validation's field errors back on the fields (or the rows) they name."""

    FIELD_OF = {
        "source.kind": "source_kind",
        "source.amount": "amount",
        "source.currency": "currency",
        "source.sku": "source_sku",
        "method": "method",
        "metric_sku": "metric_sku",
        "effective_from": "effective_from",
    }

    def __init__(self, data: Any = None, *, initial: dict[str, str] | None = None, rows: Any = None) -> None:
        self.form = DraftForm(data, initial=initial)
        self.targets = TargetFormSet(data, initial=rows, prefix=TARGETS_PREFIX)
        self.general: list[str] = []  # errors of the targets as a whole, or of no field of the form
        self._rows: list[int] = []  # formset row of each target in the body, in order

    def is_valid(self) -> bool:
        return self.form.is_valid() & self.targets.is_valid()

    def body(self) -> dict[str, Any]:
        data = self.form.cleaned_data
        targets: list[str] = []
        percentages: dict[str, str] = {}
        self._rows = []
        for i, row in enumerate(self.targets.cleaned_data):
            code = str(row.get("code", "")).strip()
            if not code:
                continue
            target = f"{row['kind']}:{code}"
            targets.append(target)
            self._rows.append(i)
            if row.get("percentage", "").strip():
                percentages[target] = row["percentage"].strip()
        return body_build(
            source_kind=data["source_kind"],
            amount=data["amount"].strip(),
            currency=data["currency"].strip().upper(),
            source_sku=data["source_sku"].strip(),
            method=data["method"],
            targets=targets,
            percentages=percentages,
            metric_sku=data["metric_sku"].strip(),
        )

    def place_issues(self, issues: list[FieldIssue], targets: list[str]) -> None:
        for issue in issues:
            row = re.fullmatch(r"targets\[(\d+)\]", issue.field)
            _, _, pct_target = issue.field.partition("percentages.")
            if issue.field in self.FIELD_OF:
                self.form.add_error(self.FIELD_OF[issue.field], issue.message)
            elif row and int(row.group(1)) < len(self._rows):
                self.targets.forms[self._rows[int(row.group(1))]].add_error("code", issue.message)
            elif issue.field.startswith("percentages.") and pct_target in targets:
                form = self.targets.forms[self._rows[targets.index(pct_target)]]
                form.add_error("percentage", issue.message)
            else:
                self.general.append(f"{issue.field}: {issue.message}")

    def errors_count(self) -> int:
        rows = sum(len(f.errors) for f in self.targets.forms)
        return len(self.form.errors) + rows + len(self.targets.non_form_errors()) + len(self.general)


class ApproveForm(forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, max_length=2000)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Why is it rejected?", max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
