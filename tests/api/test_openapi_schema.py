"""The checked-in OpenAPI schema (docs/openapi.yaml) is the one the code generates: regenerate it with
`make schema` whenever an endpoint changes."""

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_the_checked_in_schema_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"

    call_command("spectacular", "--file", str(generated), "--validate", "--fail-on-warn")

    assert yaml.safe_load(generated.read_text()) == yaml.safe_load(SCHEMA.read_text()), "run `make schema`"


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/usage/summary", "/api/v1/quotes"])
def test_every_public_endpoint_is_documented(path):
    assert path in yaml.safe_load(SCHEMA.read_text())["paths"]
