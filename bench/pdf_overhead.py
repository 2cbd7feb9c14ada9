"""The PDF task's fixed work per invoice, without WeasyPrint: `ledger.tasks.invoice_render_pdf` run as
a worker runs it (through Celery's tracer, `Task.apply`), except that `html_to_pdf` returns bytes
rendered beforehand (so the HTML is still built, the bytes stored through Django's default storage,
hashed and recorded). Less noisy on a shared machine than the ratio in bench_pdf.py, whose goal
(<= 1.1x) allows 10 % of a raw WeasyPrint render for this work.

Same setup and data as bench_pdf.py (`bench_pdf.setup` and `seed`). Each invoice is rendered
BENCH_PDF_ROUNDS times (default 5; its rendered version is reset between rounds) after one warm-up
round. Prints wall and CPU medians; BENCH_PDF_PROFILE=1 adds a cProfile of one round.
Environment: BENCH_PDF_INVOICES (default 100, as bench_pdf.py)."""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pdf

ROUNDS = int(os.environ.get("BENCH_PDF_ROUNDS", "5"))


def main() -> int:
    bench_pdf.setup()
    ids = bench_pdf.seed(bench_pdf.N)
    import ledger.services.documents as documents
    from ledger.models import Invoice
    from ledger.pdf import html_to_pdf, invoice_html
    from ledger.tasks import invoice_render_pdf

    pdfs = {pk: html_to_pdf(invoice_html(Invoice.objects.get(pk=pk))) for pk in ids}
    current = {"pk": 0}
    documents.html_to_pdf = lambda html: pdfs[current["pk"]]  # type: ignore[assignment]
    wall: list[float] = []
    cpu: list[float] = []

    def one_round(record: bool) -> None:
        Invoice.objects.filter(pk__in=ids).update(pdf_rendered_version=0)
        for pk in ids:
            current["pk"] = pk
            cpu_started, started = time.process_time(), time.perf_counter()
            invoice_render_pdf.apply(args=[pk], throw=True)
            if record:
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)

    one_round(record=False)  # warm-up
    for _ in range(ROUNDS):
        one_round(record=True)
    print(
        f"pdf overhead: {len(ids)} invoices x {ROUNDS} rounds; task without WeasyPrint "
        f"{statistics.median(wall) * 1000:.2f} ms wall median ({statistics.mean(wall) * 1000:.2f} mean), "
        f"{statistics.median(cpu) * 1000:.2f} ms CPU median per invoice"
    )
    if os.environ.get("BENCH_PDF_PROFILE") == "1":
        profile = cProfile.Profile()
        profile.enable()
        one_round(record=False)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
