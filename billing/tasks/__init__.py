"""Celery tasks of the billing app, one module per domain. Tasks are thin: load by id, call a service."""

from billing.tasks import close, rating

__all__ = ["close", "rating"]
