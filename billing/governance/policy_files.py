"""Price lists as code: a folder of YAML files, one per profile (docs/policy-as-code.md), behind
`manage.py profiles export|validate|plan|apply DIR`.

A file holds a profile document (the body of a version, as billing/pricing validates it) and a `metadata`
mapping: `code` (the profile's code, also the document's `profile`), `name`, and optionally `description`
and `effective_from` (when an applied change takes effect). `export` writes the body in force of each
profile; `validate` reports every error addressed to its file and field (`acme.yaml:
prices[2].tiers[1].up_to: must be greater than 1000`); `plan` compares each file with the version in force
(per price and as text) and backtests the would-be draft (an unsaved version: nothing is written);
`apply` creates a draft and its approval request (billing.governance.approvals) for each changed profile,
never activates anything, and leaves alone a profile whose body is in force, scheduled, or already
drafted or pending."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import User
from django.utils import timezone

from billing.catalog.models import Sku
from billing.governance.backtest import Backtest, backtest_run
from billing.pricing import DocumentError, canonical_json, document_sha256, validate_document
from billing.profiles.diff import BodyDiff, body_yaml, profile_body_diff
from billing.profiles.models import BillingProfile, ProfileVersion
from billing.profiles.selectors import profile_version_in_force
from billing.profiles.services import _jurisdiction_conflicts, profile_create, profile_version_create
from common.errors import FieldIssue, ValidationFailed

SUFFIXES = (".yaml", ".yml")
_METADATA_KEYS = {"code", "name", "description", "effective_from"}


@dataclass(frozen=True)
class FileIssue:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


@dataclass(frozen=True)
class ProfileFile:
    file: str  # the file's name within the folder
    code: str
    name: str
    description: str
    effective_from: datetime | None
    body: dict[str, Any]  # canonical (as stored): sorted keys, amounts as strings

    @property
    def body_sha256(self) -> str:
        return document_sha256(self.body)


def _metadata(name: str, raw: Any) -> tuple[dict[str, Any], list[FileIssue]]:
    issues: list[FileIssue] = []
    if not isinstance(raw, dict):
        return {}, [FileIssue(name, "metadata", "is required: a mapping with code and name")]
    for key in sorted(set(raw) - _METADATA_KEYS):
        issues.append(FileIssue(name, f"metadata.{key}", "unknown key"))
    for key in ("code", "name"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            issues.append(FileIssue(name, f"metadata.{key}", "is required: a non-empty string"))
    if "description" in raw and not isinstance(raw["description"], str):
        issues.append(FileIssue(name, "metadata.description", "must be a string"))
    when = raw.get("effective_from")
    if when is not None:
        parsed = when if isinstance(when, datetime) else None
        if isinstance(when, str):
            try:
                parsed = datetime.fromisoformat(when)
            except ValueError:
                parsed = None
        if parsed is None or timezone.is_naive(parsed):
            message = "must be an ISO 8601 instant with its offset, such as 2027-01-01T00:00:00+00:00"
            issues.append(FileIssue(name, "metadata.effective_from", message))
        else:
            raw = {**raw, "effective_from": parsed}
    return raw, issues


def file_read(path: Path, *, known_skus: set[str]) -> tuple[ProfileFile | None, list[FileIssue]]:
    """One profile file, validated (schema and semantics), or its issues."""
    name = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        return None, [FileIssue(name, "$", f"cannot be read: {err.strerror}")]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        return None, [FileIssue(name, where, f"is not valid YAML: {getattr(err, 'problem', err)}")]
    if not isinstance(data, dict):
        return None, [FileIssue(name, "$", "must be a mapping (metadata and the profile document)")]
    meta, issues = _metadata(name, data.get("metadata"))
    body = {k: v for k, v in data.items() if k != "metadata"}
    try:
        validate_document(body, known_skus=known_skus)
    except DocumentError as err:
        issues += [FileIssue(name, e.path, e.message) for e in err.errors]
    code = meta.get("code")
    if isinstance(code, str) and isinstance(body.get("profile"), str) and body["profile"] != code:
        issues.append(FileIssue(name, "profile", f"must be the metadata's code {code!r}"))
    if issues:
        return None, issues
    canonical: dict[str, Any] = json.loads(canonical_json(body))
    profile = BillingProfile.objects.filter(code=meta["code"]).first()
    if profile is not None:
        conflicts = _jurisdiction_conflicts(profile_id=profile.pk, body=canonical)
        if conflicts:
            return None, [FileIssue(name, "tax.jurisdiction", c) for c in conflicts]
    return ProfileFile(
        file=name,
        code=meta["code"],
        name=meta["name"],
        description=meta.get("description", ""),
        effective_from=meta.get("effective_from"),
        body=canonical,
    ), []


def folder_read(directory: Path) -> tuple[list[ProfileFile], list[FileIssue]]:
    """Every `*.yaml` / `*.yml` file of the folder (by name), validated; a code in two files is an error."""
    if not directory.is_dir():
        return [], [FileIssue(str(directory), "$", "is not a folder")]
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not paths:
        return [], [FileIssue(str(directory), "$", "holds no .yaml file")]
    known = set(Sku.objects.filter(active=True).values_list("code", flat=True))
    files: list[ProfileFile] = []
    issues: list[FileIssue] = []
    seen: dict[str, str] = {}
    for path in paths:
        item, found = file_read(path, known_skus=known)
        issues += found
        if item is None:
            continue
        if item.code in seen:
            issues.append(
                FileIssue(item.file, "metadata.code", f"{item.code!r} is also in {seen[item.code]}")
            )
            continue
        seen[item.code] = item.file
        files.append(item)
    return files, issues


def in_force(profile: BillingProfile, at: datetime) -> ProfileVersion | None:
    """The version in force for a tenant in no canary cohort (the one rule: profile_version_in_force)."""
    return profile_version_in_force(profile=profile, at=at)


def folder_export(directory: Path, *, now: datetime | None = None) -> tuple[list[Path], list[str]]:
    """One `<code>.yaml` per profile with a version in force at `now`: metadata and that body. Returns the
    files written and the codes of the profiles skipped (no version in force)."""
    now = now or timezone.now()
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[str] = []
    for profile in BillingProfile.objects.order_by("code"):
        version = in_force(profile, now)
        if version is None:
            skipped.append(profile.code)
            continue
        meta: dict[str, Any] = {"code": profile.code, "name": profile.name}
        if profile.description:
            meta["description"] = profile.description
        header = (
            f"# {profile.code} v{version.number}, in force since {version.effective_from.isoformat()}\n"
            f"# body sha256 {version.body_sha256}\n"
        )
        text = header + yaml.safe_dump({"metadata": meta}, sort_keys=False, allow_unicode=True)
        path = directory / f"{profile.code}.yaml"
        path.write_text(text + body_yaml(version.body), encoding="utf-8")
        written.append(path)
    return written, skipped


@dataclass(frozen=True)
class ProfilePlan:
    """What applying one file would do: `status` new | unchanged | already (the body is scheduled,
    drafted or pending as `existing`) | changed."""

    file: ProfileFile
    status: str
    profile: BillingProfile | None = None
    current: ProfileVersion | None = None  # in force now
    existing: ProfileVersion | None = None
    diff: BodyDiff | None = None
    backtest: Backtest | None = None
    notes: list[str] = field(default_factory=list)


def _same_body_elsewhere(profile: BillingProfile, sha: str, now: datetime) -> ProfileVersion | None:
    """A version of the profile with that body that is a draft, pending, or approved for later."""
    waiting = ProfileVersion.objects.filter(profile=profile, body_sha256=sha).exclude(
        status__in=[ProfileVersion.Status.REJECTED, ProfileVersion.Status.SUPERSEDED]
    )
    return (
        waiting.exclude(status=ProfileVersion.Status.APPROVED, effective_from__lte=now)
        .order_by("-number")
        .first()
    )


def file_plan(item: ProfileFile, *, periods: int, now: datetime, with_backtest: bool = True) -> ProfilePlan:
    """What applying `item` would do; a changed profile's would-be draft is backtested (an unsaved
    version) unless `with_backtest` is False (apply: the approval request runs it)."""
    profile = BillingProfile.objects.filter(code=item.code).first()
    if profile is None:
        return ProfilePlan(item, "new", diff=profile_body_diff(old={}, new=item.body))
    current = in_force(profile, now)
    if current is not None and current.body_sha256 == item.body_sha256:
        return ProfilePlan(item, "unchanged", profile=profile, current=current)
    existing = _same_body_elsewhere(profile, item.body_sha256, now)
    diff = profile_body_diff(old=dict(current.body) if current else {}, new=item.body)
    if existing is not None:
        return ProfilePlan(item, "already", profile=profile, current=current, existing=existing, diff=diff)
    backtest = None
    if with_backtest:
        unsaved = ProfileVersion(profile=profile, number=0, body=item.body, body_sha256=item.body_sha256)
        backtest = backtest_run(version=unsaved, periods=periods, now=now)
    return ProfilePlan(item, "changed", profile=profile, current=current, diff=diff, backtest=backtest)


def folder_plan(
    files: Iterable[ProfileFile], *, periods: int = 1, now: datetime | None = None
) -> list[ProfilePlan]:
    """Each file's plan (see `ProfilePlan`); the backtests run on unsaved versions: nothing is written."""
    now = now or timezone.now()
    return [file_plan(item, periods=periods, now=now) for item in files]


def _backtest_lines(summary: dict[str, Any]) -> list[str]:
    keys = ", ".join(summary["period_keys"]) or "none"
    lines = [
        f"  backtest: {summary['tenants']} tenants, {summary['rows']} closed periods ({keys}), "
        f"{summary['blocked']} blocked",
        f"    revenue {summary['revenue_old']} -> {summary['revenue_new']} {summary['currency']} "
        f"(delta {summary['revenue_delta']}, {summary['revenue_delta_pct']} %)",
        f"    change per tenant: p50 {summary['p50_pct']} %, p95 {summary['p95_pct']} %, max {summary['max_pct']} %"
        f"; {summary['tenants_affected']} affected",
    ]
    for t in summary["top10"]:
        lines.append(f"    {t['tenant_slug']}: {t['old_total']} -> {t['new_total']} ({t['pct']} %)")
    return lines


def _diff_lines(diff: BodyDiff) -> list[str]:
    lines: list[str] = []
    for label, entries in (("price", diff.prices), ("discount", diff.discounts)):
        for entry in entries:
            lines.append(f"  {label} {entry.key}: {entry.change}")
            lines += [f"    {f.path}: {f.old} -> {f.new}" for f in entry.fields]
    lines += [f"  setting {f.path}: {f.old} -> {f.new}" for f in diff.settings]
    return lines


def plan_text(plan: ProfilePlan) -> str:
    """The plan of one file as text: status line, per-price changes, backtest summary, text diff."""
    head = f"{plan.file.file} ({plan.file.code}): "
    if plan.status == "unchanged":
        return head + f"unchanged (v{plan.current.number} in force)" if plan.current else head + "unchanged"
    if plan.status == "new":
        return head + f"new profile, {len(plan.file.body['prices'])} prices (no tenant yet: no backtest)"
    since = f"v{plan.current.number} in force" if plan.current else "no version in force"
    if plan.existing is not None:  # status "already"
        return head + f"already {plan.existing.status} as v{plan.existing.number} ({since})"
    if plan.diff is None or plan.backtest is None:  # pragma: no cover - a changed plan has both
        return head + "changes"
    lines = [head + f"changes ({since})", *_diff_lines(plan.diff), *_backtest_lines(plan.backtest.summary)]
    lines.append(plan.diff.text.rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class Applied:
    file: str
    code: str
    outcome: str  # created | requested | unchanged | already
    version: ProfileVersion | None = None
    request_id: int | None = None


def file_apply(
    plan: ProfilePlan, *, actor: User, effective_from: datetime | None, periods: int, now: datetime
) -> Applied:
    """A draft and its approval request for a changed or new profile (see the module docstring)."""
    from billing.governance.approvals import approval_request_create, open_request_of

    item = plan.file
    if plan.status == "unchanged":
        return Applied(item.file, item.code, "unchanged", plan.current)
    if plan.existing is not None:  # status "already"
        version = plan.existing
        if version.status == ProfileVersion.Status.DRAFT or (
            version.status == ProfileVersion.Status.PENDING_APPROVAL and open_request_of(version) is None
        ):
            request = approval_request_create(version=version, actor=actor, periods=periods, now=now)
            return Applied(item.file, item.code, "requested", request.version, request.pk)
        return Applied(item.file, item.code, "already", version)
    when = item.effective_from or effective_from
    if when is None:
        raise ValidationFailed(
            "no instant to take effect",
            issues=[FieldIssue(f"{item.file}: metadata.effective_from", "is required")],
        )
    profile = plan.profile or profile_create(code=item.code, name=item.name, description=item.description)
    version = profile_version_create(profile=profile, body=item.body, effective_from=when, author=actor)
    request = approval_request_create(version=version, actor=actor, periods=periods, now=now)
    return Applied(item.file, item.code, "created", request.version, request.pk)


def apply_issues(
    plans: Iterable[ProfilePlan], *, effective_from: datetime | None, now: datetime
) -> list[FileIssue]:
    """What keeps `folder_apply` from starting: a change without an instant to take effect, or one in the
    past (an approval would refuse it)."""
    issues: list[FileIssue] = []
    for plan in plans:
        if plan.status not in ("new", "changed"):
            continue
        when = plan.file.effective_from or effective_from
        if when is None:
            issues.append(
                FileIssue(plan.file.file, "metadata.effective_from", "is required to apply a change")
            )
        elif when <= now:
            issues.append(
                FileIssue(
                    plan.file.file, "metadata.effective_from", f"{when.isoformat()} is not in the future"
                )
            )
    return issues


def folder_apply(
    plans: list[ProfilePlan],
    *,
    actor: User,
    effective_from: datetime | None = None,
    periods: int = 1,
    now: datetime | None = None,
) -> list[Applied]:
    """`file_apply` for every plan, once `apply_issues` finds nothing (ValidationFailed otherwise)."""
    now = now or timezone.now()
    issues = apply_issues(plans, effective_from=effective_from, now=now)
    if issues:
        raise ValidationFailed(
            "nothing applied", issues=[FieldIssue(f"{i.file}: {i.path}", i.message) for i in issues]
        )
    return [
        file_apply(plan, actor=actor, effective_from=effective_from, periods=periods, now=now)
        for plan in plans
    ]
