"""`manage.py quote` and `POST /api/v1/quotes`: the pricing engine from the outside (DESIGN "Quotes")."""

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tenants.services import api_key_create
from tests.factories import TenantFactory
from tests.pricing.helpers import GRADUATED_QUOTE as GRADUATED
from tests.pricing.test_docs_examples import load_doc_examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = load_doc_examples(ROOT / "docs" / "pricing.md")


def run_quote(monkeypatch, capsys, payload: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(payload))
    code = 0
    try:
        call_command("quote")
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    return code, json.loads(last_line)


@pytest.mark.parametrize(("name", "payload", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_command_reproduces_every_example_of_the_pricing_doc(
    monkeypatch, capsys, name, payload, expected
):
    code, result = run_quote(monkeypatch, capsys, json.dumps(payload))

    assert code == 0
    assert (result["amount"], result["amount_rounded"]) == (expected["amount"], expected["amount_rounded"])


def test_the_command_prices_the_design_example(monkeypatch, capsys):
    code, result = run_quote(monkeypatch, capsys, json.dumps(GRADUATED))

    # 9000 x 0.002 + 2500 x 0.001 + 5 = 18 + 2.5 + 5
    assert code == 0
    assert result["amount_rounded"] == "25.50"
    assert result["currency"] == "EUR"


def test_a_bad_tier_exits_2_naming_the_field(monkeypatch, capsys):
    bad = json.loads(json.dumps(GRADUATED))
    bad["price"]["tiers"][1]["up_to"] = "500"

    code, result = run_quote(monkeypatch, capsys, json.dumps(bad))

    assert code == 2
    assert result["error"] == "invalid"
    assert result["errors"][0]["field"] == "price.tiers[1].up_to"


def test_malformed_json_exits_2_with_a_json_error(monkeypatch, capsys):
    code, result = run_quote(monkeypatch, capsys, "{not json")

    assert code == 2
    assert result["errors"][0]["field"] == "$"


def test_a_real_process_exits_2_without_a_traceback():
    proc = subprocess.run(
        [sys.executable, "manage.py", "quote"],
        input='{"price": {"model": "per_unit", "unit_amount": "x"}, "quantity": "1", "currency": "EUR"}',
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )

    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["errors"][0]["field"] == "price.unit_amount"


@pytest.mark.django_db
def test_the_api_returns_the_same_quote(api_client):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=TenantFactory.create()).secret}"
    )

    response = api_client.post("/api/v1/quotes", GRADUATED, format="json")

    assert response.status_code == 200
    assert response.json()["amount_rounded"] == "25.50"


@pytest.mark.django_db
def test_the_api_answers_400_naming_the_field(api_client):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=TenantFactory.create()).secret}"
    )

    response = api_client.post("/api/v1/quotes", {**GRADUATED, "currency": "XXX1"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "currency"


@pytest.mark.django_db
def test_the_api_answers_400_to_malformed_json(api_client):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=TenantFactory.create()).secret}"
    )

    response = api_client.post("/api/v1/quotes", "{oops", content_type="application/json")

    assert response.status_code == 400


@pytest.mark.django_db
def test_the_api_needs_a_key(api_client):
    response = api_client.post("/api/v1/quotes", GRADUATED, format="json")

    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_the_api_refuses_a_revoked_key(api_client):
    from tenants.services import api_key_revoke

    issued = api_key_create(tenant=TenantFactory.create())
    api_key_revoke(api_key=issued.api_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")

    assert api_client.post("/api/v1/quotes", GRADUATED, format="json").status_code == 401
