"""URLs of the portal's disputes pages (included by portal/urls.py at disputes/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal.disputes import views

urlpatterns: list[URLPattern] = [
    path("", views.dispute_list, name="disputes"),
    path("<int:dispute_id>/", views.dispute_detail, name="dispute"),
    path("open/<int:invoice_id>/", views.dispute_open_view, name="dispute-open"),
    path("open/<int:invoice_id>/<int:line_id>/", views.dispute_open_view, name="dispute-open-line"),
    path("<int:dispute_id>/comment/", views.dispute_comment_view, name="dispute-comment"),
    path("<int:dispute_id>/withdraw/", views.dispute_withdraw_view, name="dispute-withdraw"),
    path("<int:dispute_id>/decide/", views.dispute_decide_view, name="dispute-decide"),
    path("<int:dispute_id>/attachment/", views.dispute_attachment_download, name="dispute-attachment"),
]
