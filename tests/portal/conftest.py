"""Fixtures shared by the portal tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Uploads and rendered documents go to the test's own directory."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path
