from __future__ import annotations

from typing import Any

import pytest


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
