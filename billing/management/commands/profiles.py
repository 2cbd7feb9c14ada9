"""`manage.py profiles ...`: profiles as code (YAML on disk).

profiles validate FILE|DIR        check a document, or a folder of profile files; prints OK or every
                                  field error, addressed to its file and field (exit 2)
profiles draft FILE --author U [--effective-from ISO] [--submit]
                                  create a draft version (the profile is created if new)
profiles submit CODE N --actor U  send version N for approval
profiles approve CODE N --approver U [--allow-backdated]
profiles approve --request ID --as U [--note TEXT]
                                  sign one approval of an approval request (the version is approved once
                                  the request holds the approvals its policy asks for)
profiles request --version CODE:N --as U [--periods N]
                                  an approval request for a draft (submits it, with its backtest)
profiles reject CODE N --approver U --reason TEXT
profiles export CODE [--version N]  print a version as YAML
profiles export DIR               one YAML file per profile (its body in force, metadata code and name)
profiles plan DIR [--periods N]   per file: the diff against the version in force and the backtest of the
                                  would-be draft (writes nothing)
profiles apply DIR --as U [--effective-from ISO] [--periods N]
                                  a draft and an approval request per changed profile; never activates
profiles list                     one line per version

Folders of profile files: billing/profiles/policy_files.py, docs/policy-as-code.md.

Every action done in someone's name (draft, submit, approve, reject) proves who that is: the user's own
password, asked at the terminal, or read as one line from standard input with --password-stdin (for
scripts). A bare user name is never enough, so four-eyes approval cannot be signed for somebody else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing.catalog.models import Sku
from billing.governance import policy_files
from billing.governance.approvals import approval_grant, approval_request_create
from billing.governance.versions import (
    profile_version_approve,
    profile_version_reject,
    profile_version_submit,
)
from billing.management.operator import operator_user
from billing.pricing import DocumentError, validate_document
from billing.profiles.models import ApprovalRequest, BillingProfile, ProfileVersion
from billing.profiles.services import profile_create, profile_version_create
from common.errors import ApplicationError


def _load(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return yaml.safe_load(text)
    except OSError as err:
        raise CommandError(f"cannot read {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise CommandError(f"{path} is not valid YAML: {err}") from err


def _user(username: str, *, password_stdin: bool) -> Any:
    """The user, authenticated by their own password (billing.management.operator); never a bare name."""
    return operator_user(username, password_stdin=password_stdin)


class Command(BaseCommand):
    help = "Billing profiles as code: validate, draft, submit, approve, reject, export, list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("validate")
        p.add_argument("file", help="a profile document, or a folder of profile files")
        p = sub.add_parser("draft")
        p.add_argument("file")
        p.add_argument("--author", required=True)
        p.add_argument("--effective-from", default=None, help="ISO 8601 with offset; default now")
        p.add_argument("--name", default=None)
        p.add_argument("--submit", action="store_true")
        p.add_argument("--password-stdin", action="store_true", help="read the author's password from stdin")
        for name in ("submit", "approve", "reject"):
            p = sub.add_parser(name)
            p.add_argument("code", nargs="?" if name == "approve" else None)
            p.add_argument("number", type=int, nargs="?" if name == "approve" else None)
            p.add_argument("--actor" if name == "submit" else "--approver", required=name != "approve")
            p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
            if name == "approve":
                p.add_argument("--allow-backdated", action="store_true")
                p.add_argument("--request", type=int, default=None, help="an approval request's id")
                p.add_argument("--as", dest="as_user", default=None, help="the approver (with --request)")
                p.add_argument("--note", default="")
            if name == "reject":
                p.add_argument("--reason", required=True)
        p = sub.add_parser("export")
        p.add_argument("code", help="a profile code (printed), or a folder (a path with '/', or existing)")
        p.add_argument("--version", type=int, default=None)
        p = sub.add_parser("plan")
        p.add_argument("dir")
        p.add_argument("--periods", type=int, default=1, help="closed periods to backtest (1 to 12)")
        p = sub.add_parser("apply")
        p.add_argument("dir")
        p.add_argument("--as", dest="as_user", required=True, help="the editor the drafts are written by")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        p.add_argument("--effective-from", default=None, help="ISO 8601 with offset, for files without one")
        p.add_argument("--periods", type=int, default=1, help="closed periods to backtest (1 to 12)")
        sub.add_parser("list")
        p = sub.add_parser("request")
        p.add_argument("--version", required=True, help="CODE:N (profile code and version number)")
        p.add_argument("--as", dest="as_user", required=True, help="the editor asking for approval")
        p.add_argument("--periods", type=int, default=1, help="closed periods to backtest (1 to 12)")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApplicationError as err:
            for issue in err.issues:
                self.stderr.write(f"{issue.field}: {issue.message}")
            raise CommandError(err.message) from err

    def _version(self, code: str, number: int) -> ProfileVersion:
        version = ProfileVersion.objects.filter(profile__code=code, number=number).first()
        if version is None:
            raise CommandError(f"no version {number} of profile {code!r}")
        return version

    def _progress(self, items: Iterable[Any], what: str) -> Iterator[Any]:
        """Items with a progress bar on stderr (at a terminal)."""
        yield from tqdm(list(items), desc=what, unit="profile", file=sys.stderr, disable=None, leave=False)

    def _folder(self, directory: str) -> list[policy_files.ProfileFile]:
        files, issues = policy_files.folder_read(Path(directory))
        for issue in issues:
            self.stderr.write(str(issue))
        if issues:
            raise SystemExit(2)
        return files

    def _validate(self, options: dict[str, Any]) -> None:
        if Path(options["file"]).is_dir():
            files = self._folder(options["file"])
            self.stdout.write(f"OK: {len(files)} profiles")
            return
        doc = _load(options["file"])
        try:
            validate_document(doc, known_skus=set(Sku.objects.values_list("code", flat=True)))
        except DocumentError as err:
            self.stdout.write(str(err))
            raise SystemExit(2) from err
        self.stdout.write("OK")

    def _draft(self, options: dict[str, Any]) -> None:
        doc = _load(options["file"])
        author = _user(options["author"], password_stdin=options["password_stdin"])
        code = doc.get("profile") if isinstance(doc, dict) else None
        if not isinstance(code, str):
            raise CommandError("the document has no `profile` code")
        profile = BillingProfile.objects.filter(code=code).first() or profile_create(
            code=code, name=options["name"] or code
        )
        effective_from = timezone.now()
        if options["effective_from"]:
            try:
                effective_from = datetime.fromisoformat(options["effective_from"])
            except ValueError as err:
                raise CommandError(f"--effective-from: {err}") from err
        version = profile_version_create(
            profile=profile, body=doc, effective_from=effective_from, author=author
        )
        if options["submit"]:
            version = profile_version_submit(version=version, actor=author)
        self.stdout.write(f"{profile.code} v{version.number} {version.status} {version.body_sha256}")

    def _submit(self, options: dict[str, Any]) -> None:
        v = profile_version_submit(
            version=self._version(options["code"], options["number"]),
            actor=_user(options["actor"], password_stdin=options["password_stdin"]),
        )
        self.stdout.write(f"{options['code']} v{v.number} {v.status}")

    def _approve(self, options: dict[str, Any]) -> None:
        if options["request"] is not None:
            self._approve_request(options)
            return
        if options["code"] is None or options["number"] is None or not options["approver"]:
            raise CommandError("approve CODE N --approver U, or approve --request ID --as U")
        v = profile_version_approve(
            version=self._version(options["code"], options["number"]),
            approver=_user(options["approver"], password_stdin=options["password_stdin"]),
            allow_backdated=options["allow_backdated"],
        )
        self.stdout.write(f"{options['code']} v{v.number} {v.status}")

    def _reject(self, options: dict[str, Any]) -> None:
        v = profile_version_reject(
            version=self._version(options["code"], options["number"]),
            approver=_user(options["approver"], password_stdin=options["password_stdin"]),
            reason=options["reason"],
        )
        self.stdout.write(f"{options['code']} v{v.number} {v.status}")

    def _approve_request(self, options: dict[str, Any]) -> None:
        if not options["as_user"]:
            raise CommandError("approve --request ID needs --as U (the approver)")
        found = ApprovalRequest.objects.filter(pk=options["request"]).first()
        if found is None:
            raise CommandError(f"no approval request {options['request']}")
        request = approval_grant(
            request=found,
            approver=_user(options["as_user"], password_stdin=options["password_stdin"]),
            note=options["note"],
            allow_backdated=options["allow_backdated"],
        )
        v = ProfileVersion.objects.select_related("profile").get(pk=request.version_id)
        self.stdout.write(
            f"request {request.pk} {request.status} ({request.approvals.count()}/{request.required_approvals} "
            f"approvals): {v.profile.code} v{v.number} {v.status}"
        )

    def _request(self, options: dict[str, Any]) -> None:
        code, _, number = options["version"].rpartition(":")
        if not code or not number.isdigit():
            raise CommandError("--version takes CODE:N, e.g. cloud-standard-eur:3")
        version = self._version(code, int(number))
        actor = _user(options["as_user"], password_stdin=options["password_stdin"])
        request = approval_request_create(version=version, actor=actor, periods=options["periods"])
        self.stdout.write(
            f"request {request.pk} for {code} v{version.number}: {request.status}, "
            f"{request.required_approvals} approval(s) needed, backtest {request.backtest_hash[:12]}, "
            f"expires {request.expires_at.isoformat()}"
        )

    def _export(self, options: dict[str, Any]) -> None:
        target = options["code"]
        if options["version"] is None and ("/" in target or Path(target).is_dir()):
            written, skipped = policy_files.folder_export(Path(target))
            for path in written:
                self.stdout.write(str(path))
            for code in skipped:
                self.stderr.write(f"{code}: skipped (no version in force)")
            return
        qs = ProfileVersion.objects.filter(profile__code=options["code"])
        version = (
            qs.filter(number=options["version"]).first()
            if options["version"]
            else qs.order_by("-number").first()
        )
        if version is None:
            raise CommandError(f"no such version of profile {options['code']!r}")
        self.stdout.write(yaml.safe_dump(version.body, sort_keys=False, allow_unicode=True).rstrip())

    def _list(self, options: dict[str, Any]) -> None:
        for v in ProfileVersion.objects.select_related("profile").order_by("profile__code", "number"):
            self.stdout.write(
                f"{v.profile.code}\tv{v.number}\t{v.status}\t{v.effective_from.isoformat()}\t{v.body_sha256[:12]}"
            )

    def _plan(self, options: dict[str, Any]) -> None:
        files = self._folder(options["dir"])
        now = timezone.now()
        for item in self._progress(files, "plan"):
            plan = policy_files.file_plan(item, periods=options["periods"], now=now)
            self.stdout.write(policy_files.plan_text(plan))

    def _apply(self, options: dict[str, Any]) -> None:
        files = self._folder(options["dir"])
        actor = _user(options["as_user"], password_stdin=options["password_stdin"])
        effective_from = None
        if options["effective_from"]:
            try:
                effective_from = datetime.fromisoformat(options["effective_from"])
            except ValueError as err:
                raise CommandError(f"--effective-from: {err}") from err
        now = timezone.now()
        plans = [
            policy_files.file_plan(item, periods=options["periods"], now=now, with_backtest=False)
            for item in files
        ]
        issues = policy_files.apply_issues(plans, effective_from=effective_from, now=now)
        for issue in issues:
            self.stderr.write(str(issue))
        if issues:
            raise SystemExit(2)
        for plan in self._progress(plans, "apply"):
            result = policy_files.file_apply(
                plan, actor=actor, effective_from=effective_from, periods=options["periods"], now=now
            )
            version = f" v{result.version.number} {result.version.status}" if result.version else ""
            request = f", approval request #{result.request_id}" if result.request_id else ""
            self.stdout.write(f"{result.file} ({result.code}): {result.outcome}{version}{request}")
