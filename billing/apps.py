"""The billing app. `ready` connects rating's nudge to `usage_stored`, so usage never imports rating."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.rating.tasks import on_usage_stored
        from billing.usage.signals import usage_stored

        usage_stored.connect(on_usage_stored, dispatch_uid="billing.rating.nudge")
