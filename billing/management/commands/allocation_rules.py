"""`manage.py allocation_rules ...`: allocation rules for operators (docs/showback.md).

allocation_rules list [--tenant SLUG]    one line per version: tenant/rule, rule id, vN, version id, status,
                                         first month, approvals, author; `in force` marks the version in
                                         force in the tenant's current month
allocation_rules show --rule ID          a rule with every version and its body as a table of targets
allocation_rules show --version ID       one version
allocation_rules submit --version ID --as U
allocation_rules approve --version ID --as U [--note TEXT]
                                         one approval (the version is approved once it holds the
                                         approvals ALLOCATION_REQUIRED_APPROVALS asks for)
allocation_rules reject --version ID --as U --reason TEXT

Every move is made through billing.allocation.services (roles, four eyes: the author never decides) in the
name of a user proven by their own password, asked at the terminal or read as one line from standard
input with --password-stdin (billing.management.operator). A refusal exits non-zero with its message."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.allocation.models import AllocationRule, AllocationRuleVersion
from billing.allocation.overview import body_table, rule_with_versions, rules_overview, tenant_projects
from billing.allocation.services import (
    allocation_version_approve,
    allocation_version_reject,
    allocation_version_submit,
)
from billing.management.operator import operator_user
from common.errors import ApplicationError
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Allocation rules: list, show, submit, approve, reject (four eyes, by password)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("list")
        p.add_argument("--tenant", default=None, help="a tenant's slug (default: every tenant)")
        p = sub.add_parser("show")
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--rule", type=int, help="a rule's id (see list)")
        which.add_argument("--version", type=int, help="a version's id (see list)")
        for name in ("submit", "approve", "reject"):
            p = sub.add_parser(name)
            p.add_argument("--version", type=int, required=True, help="the version's id (see list)")
            p.add_argument("--as", dest="as_user", required=True, help="the user acting")
            p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
            if name == "approve":
                p.add_argument("--note", default="")
            if name == "reject":
                p.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApplicationError as err:
            for issue in err.issues:
                self.stderr.write(f"{issue.field}: {issue.message}")
            raise CommandError(err.message) from err

    def _version(self, version_id: int) -> AllocationRuleVersion:
        version = AllocationRuleVersion.objects.select_related("rule__tenant").filter(pk=version_id).first()
        if version is None:
            raise CommandError(f"no allocation rule version {version_id}")
        return version

    def _list(self, options: dict[str, Any]) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {options['tenant']!r}")
        for row in rules_overview(tenant=tenant):
            rule = row.rule
            for v in sorted(rule.versions.all(), key=lambda v: v.number):
                in_force = "\tin force" if row.in_force is not None and row.in_force.pk == v.pk else ""
                self.stdout.write(
                    f"{rule.tenant.slug}/{rule.code}\trule {rule.pk}\tv{v.number}\tversion {v.pk}\t{v.status}"
                    f"\tfrom {v.effective_from}\t{len(v.approvals.all())}/{v.required_approvals} approvals"
                    f"\tby {v.author.get_username()}{in_force}"
                )

    def _show(self, options: dict[str, Any]) -> None:
        if options["rule"] is not None:
            rule = rule_with_versions(rule_id=options["rule"])
            if rule is None:
                raise CommandError(f"no allocation rule {options['rule']}")
            versions = list(rule.versions.all())
        else:
            found = self._version(options["version"])
            rule = rule_with_versions(rule_id=found.rule_id)
            assert rule is not None  # the version's rule exists (PROTECT)
            versions = [v for v in rule.versions.all() if v.pk == found.pk]
        self.stdout.write(f"{rule.tenant.slug}/{rule.code} (rule {rule.pk}): {rule.name}")
        projects = tenant_projects(tenant=rule.tenant)
        for v in versions:
            self._show_version(rule, v, projects)

    def _show_version(self, rule: AllocationRule, v: AllocationRuleVersion, projects: list[Any]) -> None:
        table = body_table(body=v.body, projects=projects)
        approvals = list(v.approvals.all())
        lines = [
            f"v{v.number} (version {v.pk}): {v.status}, from {v.effective_from}, by {v.author.get_username()}",
            f"  approvals {len(approvals)}/{v.required_approvals}: "
            + (
                ", ".join(f"{a.approver.get_username()} {a.approved_at:%Y-%m-%d %H:%M}Z" for a in approvals)
                or "-"
            ),
        ]
        if v.decided_by is not None:
            lines.append(f"  decided by {v.decided_by.get_username()}: {v.decision_note or '-'}")
        if table.error:
            lines.append(f"  body unreadable: {table.error}")
        else:
            amount = f" {table.amount:f} {table.currency}" if table.amount is not None else ""
            sku = f" {table.source_sku}" if table.source_sku else ""
            lines.append(f"  cost: {table.source}{amount}{sku}; split: {table.method}")
            for t in table.rows:
                pct = f"\t{t.percentage:f} %" if t.percentage is not None else ""
                known = "" if t.known else "\t(unknown)"
                lines.append(f"  {t.target}\tteam {t.team or '-'}\t{t.weight}{pct}{known}")
        self.stdout.write("\n".join(lines))

    def _done(self, v: AllocationRuleVersion) -> None:
        self.stdout.write(
            f"{v.rule.tenant.slug}/{v.rule.code} v{v.number} (version {v.pk}): {v.status}, "
            f"{v.approvals.count()}/{v.required_approvals} approvals, from {v.effective_from}"
        )

    def _submit(self, options: dict[str, Any]) -> None:
        version = self._version(options["version"])
        actor = operator_user(options["as_user"], password_stdin=options["password_stdin"])
        self._done(allocation_version_submit(version=version, actor=actor))

    def _approve(self, options: dict[str, Any]) -> None:
        version = self._version(options["version"])
        approver = operator_user(options["as_user"], password_stdin=options["password_stdin"])
        self._done(allocation_version_approve(version=version, approver=approver, note=options["note"]))

    def _reject(self, options: dict[str, Any]) -> None:
        version = self._version(options["version"])
        approver = operator_user(options["as_user"], password_stdin=options["password_stdin"])
        self._done(allocation_version_reject(version=version, approver=approver, reason=options["reason"]))
