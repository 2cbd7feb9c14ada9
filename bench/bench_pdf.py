"""PDF rendering: seconds per invoice through the app's render task (`invoice_render_pdf`: load the
invoice, build the HTML from the template, WeasyPrint, store through Django storage, record SHA-256)
against raw WeasyPrint rendering of the same HTML, in the same run. The task runs through Celery's
tracer (`Task.apply`), as a worker runs it: the tracer calls the task's `run`, never `Task.__call__`,
so timing `__call__` would measure a path no worker takes. Goal: at most 1.1x the raw time.
Both paths are warmed up on an extra invoice that is not measured; then each invoice is timed on both
paths back to back, alternating which goes first. Also printed: the ratio of medians and the app's
extra time per invoice (app minus raw), which is what the app controls.

Runs on a fresh database (bench_pdf) on the embedded PostgreSQL (config/embedded_db; DATABASE_URL is
ignored: the render path does not depend on the database server), media in a temporary directory.
Environment: BENCH_PDF_INVOICES (default 100: WeasyPrint's own run-to-run spread is several ms per
invoice, so at 40 invoices the ratio of means is uncertain by about +-0.05)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BENCH_PDF_INVOICES", "100"))
DB_NAME = "bench_pdf"


def setup() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_OWNER_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DB_ROLE="owner",  # it migrates its database (config.database)
        MEDIA_ROOT=str(tmp / "media"),
        INVOICE_PDF_ON_FINALIZE="0",
        LOG_LEVEL="WARNING",
        DEBUG="0",
    )
    sys.path.insert(0, str(ROOT))
    import django
    import psycopg
    from django.conf import settings

    from config import embedded_db

    with psycopg.connect(embedded_db.start().conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}" OWNER {embedded_db.OWNER}')
    settings.DATABASES["default"]["NAME"] = DB_NAME  # before the first connection reads it
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int) -> list[int]:
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from billing.catalog.models import Meter, Sku
    from billing.close.services import close_period
    from billing.demo_finance import seed_finance_reference_data
    from billing.governance.versions import profile_version_approve, profile_version_submit
    from billing.profiles.models import BillingProfile, ProfileAssignment
    from billing.profiles.services import profile_version_create
    from billing.rating.models import UsageAggregate
    from tenants.models import Role, Tenant
    from tenants.services import membership_grant

    seed_finance_reference_data(today=date(2026, 12, 5))
    user_model = get_user_model()
    author, approver = user_model.objects.create(username="a"), user_model.objects.create(username="b")
    membership_grant(user=author, role=Role.FINANCE_EDITOR)
    membership_grant(user=approver, role=Role.FINANCE_APPROVER)
    skus = []
    for i in range(10):
        meter = Meter.objects.create(code=f"m{i}", name=f"m{i}", unit="unit")
        skus.append(Sku.objects.create(code=f"sku_{i}", name=f"Service {i}", meter=meter, unit_label="unit"))
    profile = BillingProfile.objects.create(code="pdf", name="PDF")
    body = {
        "profile": "pdf",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "tax": {"mode": "exclusive"},
        "prices": [{"sku": s.code, "model": "per_unit", "unit_amount": "0.0125"} for s in skus],
        "discounts": [{"code": "welcome", "percent": "10", "priority": 1}],
    }
    # through the workflow: the database takes a version only as a draft, approved by a finance approver
    draft = profile_version_create(
        profile=profile, body=body, effective_from=datetime(2026, 1, 1, tzinfo=UTC), author=author
    )
    version = profile_version_approve(
        version=profile_version_submit(version=draft, actor=author), approver=approver, allow_backdated=True
    )
    ids = []
    for t in range(n):
        tenant = Tenant.objects.create(
            slug=f"pdf-{t}", name=f"PDF Customer {t}", country="DE", tax_jurisdiction="DE", currency="EUR"
        )
        ProfileAssignment.objects.create(
            tenant=tenant, profile=profile, effective_from=datetime(2026, 1, 1, tzinfo=UTC)
        )
        for j, sku in enumerate(skus):
            hour = datetime(2026, 11, 3 + j, tzinfo=UTC)
            UsageAggregate.objects.create(
                tenant=tenant,
                sku=sku,
                profile_version=version,
                hour=hour,
                quantity=Decimal(1000 + 37 * t + j),
                event_count=1,
                first_event_at=hour,
                last_event_at=hour,
                updated_at=hour,
            )
        result = close_period(tenant=tenant, period_key="2026-11", now=datetime(2026, 12, 10, tzinfo=UTC))
        assert result.invoice_id is not None
        ids.append(result.invoice_id)
    return ids


def main() -> int:
    setup()
    warm_up_id, *ids = seed(N + 1)
    from weasyprint import HTML

    from ledger.models import Invoice
    from ledger.pdf import invoice_html
    from ledger.tasks import invoice_render_pdf

    # Warm-up of both paths on an invoice that is not measured: fonts and WeasyPrint's first-use costs,
    # the template cache, and the app task's own first call (storage, task and query set-up).
    HTML(string=invoice_html(Invoice.objects.get(pk=warm_up_id))).write_pdf()
    invoice_render_pdf.apply(args=[warm_up_id], throw=True)
    htmls = {pk: invoice_html(Invoice.objects.get(pk=pk)) for pk in ids}
    app: list[float] = []
    raw: list[float] = []

    def time_raw(pk: int) -> None:
        started = time.perf_counter()
        HTML(string=htmls[pk]).write_pdf()
        raw.append(time.perf_counter() - started)

    def time_app(pk: int) -> None:
        started = time.perf_counter()
        invoice_render_pdf.apply(args=[pk], throw=True)  # through Celery's tracer, as a worker runs it
        app.append(time.perf_counter() - started)

    # Interleaved, so both see the same machine load, and which goes first alternates.
    for i, pk in enumerate(ids):
        for step in (time_raw, time_app) if i % 2 == 0 else (time_app, time_raw):
            step(pk)
    rendered = Invoice.objects.filter(pk__in=ids, pdf_rendered_version=1).exclude(pdf_sha256="").count()
    app_mean, raw_mean = statistics.mean(app), statistics.mean(raw)
    ratio = app_mean / raw_mean
    extra = [a - r for a, r in zip(app, raw, strict=True)]
    print(
        f"pdf: {len(ids)} invoices (10 lines + discount each); app task {app_mean:.3f} s/invoice "
        f"(median {statistics.median(app):.3f}), raw WeasyPrint {raw_mean:.3f} s/invoice "
        f"(median {statistics.median(raw):.3f}); ratio {ratio:.3f}x "
        f"(goal <= 1.1x: {'MET' if ratio <= 1.1 else 'MISSED'}); "
        f"ratio of medians {statistics.median(app) / statistics.median(raw):.3f}x"
    )
    print(
        f"pdf: app minus raw per invoice {statistics.mean(extra) * 1000:.1f} ms mean, "
        f"{statistics.median(extra) * 1000:.1f} ms median (the goal allows {raw_mean * 100:.1f} ms)"
    )
    print(f"pdf: {rendered} of {len(ids)} invoices have a stored PDF and SHA-256")
    return 0 if rendered == len(ids) else 1


if __name__ == "__main__":
    raise SystemExit(main())
