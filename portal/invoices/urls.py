"""URLs of the portal's invoices pages (included by portal/urls.py at invoices/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.invoices import views

urlpatterns: list[URLPattern] = [
    path("", views.invoice_list, name="invoices"),
    path("<int:invoice_id>/", views.invoice_detail, name="invoice"),
    path("<int:invoice_id>/document/<str:kind>/", views.invoice_document_download, name="invoice-document"),
    path(
        "credit-notes/<int:credit_note_id>/document/<str:kind>/",
        views.credit_note_document_download,
        name="credit-note-document",
    ),
    path("<int:invoice_id>/lines/<int:line_id>/", views.invoice_line, name="invoice-line"),
    path("<int:invoice_id>/lines/<int:line_id>/csv/", views.invoice_line_csv, name="invoice-line-csv"),
    path("<int:invoice_id>/share/", views.invoice_share, name="invoice-share"),
    path(
        "<int:invoice_id>/share/<int:share_id>/revoke/",
        views.invoice_share_revoke,
        name="invoice-share-revoke",
    ),
    path("shared/<str:token>/", views.shared_invoice, name="shared-invoice"),
    path("shared/<str:token>/document/", views.shared_invoice_document, name="shared-invoice-document"),
]
