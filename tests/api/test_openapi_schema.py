"""The checked-in OpenAPI schema (docs/openapi.yaml) is the one the code generates: regenerate it with
`make schema` whenever an endpoint changes."""

from pathlib import Path
from typing import Any

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


def _operation(path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = yaml.safe_load(SCHEMA.read_text())["paths"][path][method]
    return operation


def test_the_idempotency_key_is_documented_with_the_views_bounds():
    from billing.api.usage import MAX_IDEMPOTENCY_KEY_LENGTH

    (header,) = [
        p for p in _operation("/api/v1/usage", "post")["parameters"] if p["name"] == "Idempotency-Key"
    ]

    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH}
    assert MAX_IDEMPOTENCY_KEY_LENGTH == 255


def test_the_usage_endpoint_takes_json_only():
    assert list(_operation("/api/v1/usage", "post")["requestBody"]["content"]) == ["application/json"]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/usage", "post", ["400", "401", "403", "409", "411", "413", "415", "429", "503"]),
        ("/api/v1/usage/summary", "get", ["400", "401", "404"]),
        ("/api/v1/quotes", "post", ["400", "401", "403", "404", "409", "413", "415", "429"]),
    ],
)
def test_every_error_answer_is_documented_with_the_error_shape(path, method, statuses):
    responses = _operation(path, method)["responses"]

    assert sorted(code for code in responses if code != "200") == statuses
    for code in statuses:
        assert responses[code]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
        }, code


def test_the_error_shape_requires_a_code_and_a_message():
    error = yaml.safe_load(SCHEMA.read_text())["components"]["schemas"]["ErrorOut"]

    assert error["required"] == ["error", "message"]
    assert set(error["properties"]) == {"error", "message", "errors", "retry_after", "limit", "limit_bytes"}


@pytest.mark.parametrize(
    ("path", "code"), [("/api/v1/usage", "429"), ("/api/v1/usage", "503"), ("/api/v1/quotes", "429")]
)
def test_a_429_and_a_503_document_their_retry_after_header(path, code):
    header = _operation(path, "post")["responses"][code]["headers"]["Retry-After"]

    assert (header["required"], header["schema"]) == (True, {"type": "integer"})


@pytest.mark.parametrize("name", ["UsageBatchInRequest", "UsageEventInRequest", "QuoteRequestRequest"])
def test_inputs_that_refuse_other_keys_say_so(name):
    assert yaml.safe_load(SCHEMA.read_text())["components"]["schemas"][name]["additionalProperties"] is False


def test_the_quote_request_lists_every_key_the_engine_takes():
    from billing.api.quotes import STORED_PRICE_KEYS
    from billing.pricing.quote import _KEYS

    properties = yaml.safe_load(SCHEMA.read_text())["components"]["schemas"]["QuoteRequestRequest"][
        "properties"
    ]

    assert sorted(properties) == sorted(_KEYS + STORED_PRICE_KEYS)
