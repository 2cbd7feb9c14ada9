from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def on_postgres(db: Any) -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
