from __future__ import annotations

from typing import Any

import pytest

pytest_plugins = ["tests.personas"]


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def on_postgres(db: Any) -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests marked `postgres` exercise PostgreSQL-only machinery (SKIP LOCKED, COPY, exclusion
    constraints, PL/pgSQL triggers); on the embedded SQLite fallback they are skipped with the reason.
    CI always runs against PostgreSQL, so they always run there."""
    from django.conf import settings

    if not settings.configured or settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL unset: running on SQLite)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _flushable_guarded_tables(request: Any) -> Any:
    """Tests with `transaction=True` end with a flush (TRUNCATE on PostgreSQL), which the append-only
    triggers of the ledger and of profile versions refuse. Just before that flush, switch this session
    to `replica` mode so user triggers stay silent; Django closes the connection right after the flush,
    so the next test starts with every trigger active again. SQLite's flush deletes table by table,
    parents (tenants, SKUs) before the usage events that name them, which the usage events' parent
    guards refuse: the events go first."""
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

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_usageevent")
