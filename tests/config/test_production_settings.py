"""config.settings.production refuses weak settings at import (ImproperlyConfigured naming the variable),
passes Django's deployment checks with a strong environment, and serves the API schema to staff only."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(64)
STRONG = {
    "SECRET_KEY": SECRET,
    "FX_SIGNING_KEY": secrets.token_urlsafe(48),
    "LEDGER_ANCHOR_KEY": secrets.token_urlsafe(48),
    "PROFILE_SIGNING_KEY": secrets.token_urlsafe(48),
    "DATABASE_URL": "postgres://billing@db.internal:5432/billing",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "billing.example.com",
}
UNSET = None


def run(code: list[str], **changes: str | None) -> subprocess.CompletedProcess[str]:
    """`python <code>` in the repository with the strong environment changed by `changes` (None unsets),
    and nothing else of this process's environment (no DATABASE_URL or REDIS_URL of the test run)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **STRONG}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, *code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


# Imports config.settings.production once per case, each in the environment of that case, in one process
# (a Python start per case would cost seconds): prints {case: "ok" or "<exception class>: <message>"}.
IMPORT_EACH = """
import json, os, sys
base = dict(os.environ)
outcomes = {}
for name, changes in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update(base)
    for key, value in changes.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for module in ("config.settings.production", "config.settings.base"):
        sys.modules.pop(module, None)
    try:
        import config.settings.production
    except Exception as err:
        outcomes[name] = f"{type(err).__module__}.{type(err).__name__}: {err}"
    else:
        outcomes[name] = "ok"
print(json.dumps(outcomes))
"""


WEAK = {
    "missing SECRET_KEY": ("SECRET_KEY", {"SECRET_KEY": UNSET}),
    "empty SECRET_KEY": ("SECRET_KEY", {"SECRET_KEY": ""}),
    "short SECRET_KEY": ("SECRET_KEY", {"SECRET_KEY": secrets.token_urlsafe(30)[:40]}),
    "the development SECRET_KEY": ("SECRET_KEY", {"SECRET_KEY": "dev-only-insecure-key-change-me"}),
    "a startproject SECRET_KEY": (
        "SECRET_KEY",
        {"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(48)},
    ),
    "a SECRET_KEY of one repeated character": ("SECRET_KEY", {"SECRET_KEY": "a" * 60}),
    "missing FX_SIGNING_KEY": ("FX_SIGNING_KEY", {"FX_SIGNING_KEY": UNSET}),
    "short FX_SIGNING_KEY": ("FX_SIGNING_KEY", {"FX_SIGNING_KEY": "0123456789abcdef"}),
    "FX_SIGNING_KEY equal to SECRET_KEY": ("FX_SIGNING_KEY", {"FX_SIGNING_KEY": SECRET}),
    "missing PROFILE_SIGNING_KEY": ("PROFILE_SIGNING_KEY", {"PROFILE_SIGNING_KEY": UNSET}),
    "short PROFILE_SIGNING_KEY": ("PROFILE_SIGNING_KEY", {"PROFILE_SIGNING_KEY": "0123456789abcdef"}),
    "PROFILE_SIGNING_KEY equal to SECRET_KEY": ("PROFILE_SIGNING_KEY", {"PROFILE_SIGNING_KEY": SECRET}),
    "missing DATABASE_URL": ("DATABASE_URL", {"DATABASE_URL": UNSET}),
    "SQLite DATABASE_URL": ("DATABASE_URL", {"DATABASE_URL": "sqlite:///var/db.sqlite3"}),
    "MySQL DATABASE_URL": ("DATABASE_URL", {"DATABASE_URL": "mysql://billing@db.internal/billing"}),
    "missing REDIS_URL": ("REDIS_URL", {"REDIS_URL": UNSET}),
}


@pytest.fixture(scope="module")
def import_outcomes() -> dict[str, str]:
    cases = {name: changes for name, (_, changes) in WEAK.items()} | {"strong": {}}
    result = run(["-c", IMPORT_EACH, json.dumps(cases)])
    assert result.returncode == 0, result.stderr
    outcomes: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcomes


@pytest.mark.parametrize("case", WEAK)
def test_a_weak_setting_stops_the_import_naming_it(import_outcomes, case):
    variable = WEAK[case][0]
    outcome = import_outcomes[case]

    assert outcome.startswith("django.core.exceptions.ImproperlyConfigured: "), outcome
    assert variable in outcome


def test_a_strong_environment_imports(import_outcomes):
    assert import_outcomes["strong"] == "ok"


def test_a_weak_setting_stops_a_fresh_process_too():
    result = run(["-c", "import config.settings.production"], SECRET_KEY=UNSET)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set in production"
    )


def test_a_strong_environment_passes_the_deployment_checks_without_a_warning():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SETTINGS_MODULE="config.settings.production",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


PRODUCTION_VALUES = (
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "API_DOCS_PUBLIC",
    "DEBUG",
)


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    """The HTTP-facing settings of config.settings.production under the strong environment."""
    code = (
        "import json, config.settings.production as p; "
        f"print(json.dumps({{k: getattr(p, k) for k in {list(PRODUCTION_VALUES)!r}}}))"
    )
    result = run(["-c", code])
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def test_production_is_https_only_with_a_year_of_hsts(production):
    assert production == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "API_DOCS_PUBLIC": False,
        "DEBUG": False,
    }


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_except_the_health_check(client, production):
    with override_settings(**production):
        admin = client.get("/admin/")
        health = client.get("/healthz")
        behind_tls = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")

    assert (admin.status_code, admin["Location"]) == (301, "https://testserver/admin/")
    assert health.status_code == 200
    assert behind_tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_in_production_anonymous_cannot_read_the_api_docs(anonymous, path):
    with override_settings(API_DOCS_PUBLIC=False):
        response = anonymous.client.get(path)

    assert response.status_code in {401, 403}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_in_production_a_customer_cannot_read_the_api_docs(alice, path):
    with override_settings(API_DOCS_PUBLIC=False):
        assert alice.client.get(path).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_in_production_staff_reads_the_api_docs(staff, path):
    with override_settings(API_DOCS_PUBLIC=False):
        assert staff.client.get(path).status_code == 200


@pytest.mark.django_db
def test_in_development_the_api_docs_are_public(anonymous):
    with override_settings(API_DOCS_PUBLIC=True):
        assert anonymous.client.get("/api/schema/").status_code == 200
