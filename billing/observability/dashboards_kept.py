"""The finance dashboards' figures, computed ahead of the pages.

A beat task (`billing.dashboards_refresh`, every DASHBOARD_REFRESH_SECONDS) computes each dashboard and keeps
it in the cache with the instant it was computed; a page shows the kept figures, so no request pays for the
aggregate queries over every tenant. A page computes the figures itself only when none are kept or the kept
ones are older than DASHBOARD_MAX_AGE_SECONDS (the beat is not running, as in the demo with eager Celery, or
the cache is down: fail open), and keeps what it computed. Freshness: at most the refresh interval plus one
computation while the beat runs, DASHBOARD_MAX_AGE_SECONDS otherwise; the pages print the instant."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache as django_cache
from django.utils import timezone

from billing.observability.dashboards_debug import debug_dashboard
from billing.observability.dashboards_executive import executive_dashboard
from billing.observability.dashboards_oncall import oncall_dashboard
from common.breaker import redis_breaker

logger = logging.getLogger(__name__)

_VERSION = "v2"  # bump when a dashboard's dataclasses change
DASHBOARDS: dict[str, Callable[..., Any]] = {
    "executive": executive_dashboard,
    "oncall": oncall_dashboard,
    "debug": debug_dashboard,
}


def refresh_seconds() -> int:
    return int(getattr(settings, "DASHBOARD_REFRESH_SECONDS", 20))


def max_age() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "DASHBOARD_MAX_AGE_SECONDS", 60)))


def _key(name: str) -> str:
    return f"billing:dashboards:{_VERSION}:{name}"


def _keep(name: str, figures: Any, computed_at: datetime) -> None:
    # kept a little longer than they are served, so a late refresh never leaves the page with nothing
    seconds = int(max_age().total_seconds()) * 2
    redis_breaker.fail_open(
        lambda: django_cache.set(_key(name), (computed_at, figures), timeout=seconds),
        default=None,
        what="dashboard",
    )


def dashboard_compute(*, name: str, now: datetime | None = None) -> Any:
    """Compute one dashboard now and keep it (the refresh task's and a page's road)."""
    now = now or timezone.now()
    figures = DASHBOARDS[name](now=now)
    _keep(name, figures, now)
    return figures


def dashboard_figures(*, name: str, now: datetime | None = None) -> Any:
    """The dashboard's kept figures when they are recent enough, else computed now (and kept)."""
    if name not in DASHBOARDS:
        raise KeyError(name)
    now = now or timezone.now()
    if max_age() <= timedelta(0):
        return DASHBOARDS[name](now=now)
    kept = redis_breaker.fail_open(lambda: django_cache.get(_key(name)), default=None, what="dashboard")
    if isinstance(kept, tuple) and len(kept) == 2 and now - kept[0] <= max_age():
        return kept[1]
    return dashboard_compute(name=name, now=now)


def dashboards_refresh(*, now: datetime | None = None) -> dict[str, str]:
    """Compute and keep every dashboard; one that fails is logged and left as kept (the others go on)."""
    done: dict[str, str] = {}
    for name in DASHBOARDS:
        try:
            dashboard_compute(name=name, now=now)
            done[name] = "ok"
        except Exception:  # one dashboard's failure must not stop the others; logged with its traceback
            logger.exception("dashboard %s could not be computed", name)
            done[name] = "failed"
    return done
