"""The portal app's config. The portal has no models of its own: its pages read and write through the
other apps' selectors and services."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"
