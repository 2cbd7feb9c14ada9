"""The tenants app's config. `ready` imports the OpenAPI extension for API-key authentication, because
drf-spectacular registers an extension when its module is imported."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
