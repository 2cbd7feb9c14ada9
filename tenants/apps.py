"""The tenants app's config. `ready` imports the OpenAPI extension for API-key authentication, because
drf-spectacular registers an extension when its module is imported, and keeps the finance role groups of
the admin in step with the code after every `migrate` (tenants.services.role_groups_sync)."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _role_groups_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from tenants.services import role_groups_sync

    if using == "default":
        role_groups_sync()


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.api import schema  # noqa: F401  (registers the OpenAPI auth extension)

        post_migrate.connect(_role_groups_after_migrate, sender=self, dispatch_uid="tenants.role_groups")
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from tenants.sessions import user_session_ended, user_session_record

        user_logged_in.connect(user_session_record, dispatch_uid="tenants.user_session_record")
        user_logged_out.connect(user_session_ended, dispatch_uid="tenants.user_session_ended")
