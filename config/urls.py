from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.metrics import metrics_view


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("billing.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file of its own (?script), and our template has
    # no inline style: the Content-Security-Policy stays without 'unsafe-inline' here too.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="common/swagger_ui.html"),
        name="api-docs",
    ),
    path("healthz", healthz, name="healthz"),
    # Prometheus metrics: a bearer token or an allowed internal address (config.metrics), never public.
    path("metrics", metrics_view, name="metrics"),
    path("portal/", include("portal.urls")),
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
]

# Under /api/ Django's own error answers are JSON in the API's error shape; HTML elsewhere.
handler400 = "common.api.bad_request"
handler403 = "common.api.permission_denied"
handler404 = "common.api.page_not_found"
handler500 = "common.api.server_error"
