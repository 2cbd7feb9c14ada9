"""URLs of portal/notifications: the tenant's alerts and webhook endpoints (docs/webhooks.md)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.notifications import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.notifications, name="notifications"),
    path("endpoints/new/", views.endpoint_create, name="notifications-endpoint-create"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_detail, name="notifications-endpoint"),
    path(
        "endpoints/<int:endpoint_id>/disable/", views.endpoint_disable, name="notifications-endpoint-disable"
    ),
    path("endpoints/<int:endpoint_id>/enable/", views.endpoint_enable, name="notifications-endpoint-enable"),
    path("endpoints/<int:endpoint_id>/rotate/", views.endpoint_rotate, name="notifications-endpoint-rotate"),
    path("endpoints/<int:endpoint_id>/delete/", views.endpoint_delete, name="notifications-endpoint-delete"),
    path("deliveries/<int:delivery_id>/replay/", views.delivery_replay, name="notifications-delivery-replay"),
]
