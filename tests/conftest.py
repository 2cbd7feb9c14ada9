from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

pytest_plugins = ["tests.personas"]


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


def pytest_configure(config: Any) -> None:
    """SIGTERM (a CI timeout, a supervisor) stops the run as Ctrl-C does, where it would otherwise kill
    it outright: the session's teardown drops the test database and the embedded PostgreSQL (DATABASE_URL
    unset) stops at exit. Left alone, config.embedded_db would turn it into SystemExit, which pytest takes
    for one failing test and carries on.

    The embedded server starts here, for the whole run, as the machine's server runs before it: a test
    that connects on its own with the settings' HOST (psycopg) finds it even before any Django connection."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    from django.conf import settings

    from config import embedded_db

    if settings.DATABASES["default"]["ENGINE"] == embedded_db.ENGINE:
        embedded_db.start()


def _interrupt(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the run at once
    raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def _flushable_guarded_tables(request: Any) -> Any:
    """Tests with `transaction=True` end with a flush (a TRUNCATE), which the append-only
    triggers of the ledger and of profile versions refuse. Just before that flush, switch this session
    to `replica` mode so user triggers stay silent; Django closes the connection right after the flush,
    so the next test starts with every trigger active again. The suite runs as the owner role, which
    .ci/run and the embedded server allow to set that parameter (docs/operations.md, "Test-only
    privileges"); the app role may not (tests/test_least_privilege.py)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so this teardown runs before its flush
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")


@pytest.fixture(autouse=True)
def _celery_join_flag() -> None:
    """Eager Celery marks "inside a task" in one process-wide flag (`denied_join_result`) that is not
    thread-local: two eager tasks finishing in different threads (the concurrency tests) can leave it set,
    and a later test's `result.get()` then refuses to run. Each test starts with it clear."""
    from celery import _state

    _state._set_task_join_will_block(False)  # type: ignore[attr-defined]  # not in celery-types' stubs


@pytest.fixture(autouse=True)
def _fresh_sku_catalog() -> None:
    """Ingest keeps the SKU catalog 5 s per process; each test seeds its own SKUs (new ids, the earlier
    test's rolled back or flushed), so a test that ingests soon after another would resolve codes to gone
    rows (seen in tests/billing/test_demo_finops.py and the browser tests)."""
    from billing.usage.ingest import catalog_cache_clear

    catalog_cache_clear()


@pytest.fixture
def local_cache(settings: Any) -> Any:
    """A local-memory cache of the test's own, empty before and after it: for tests that count what is
    computed and what is taken from the cache (the suite's Redis cache is shared with other processes)."""
    from django.core.cache import cache

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test"}
    }
    cache.clear()
    yield cache
    cache.clear()
