"""Production: everything secret or machine-specific must come from the environment, and a weak or
missing value stops the process at import (ImproperlyConfigured naming the variable) instead of running
with a development default: SECRET_KEY (50+ characters, not a development key), FX_SIGNING_KEY (32+
characters, not SECRET_KEY), LEDGER_ANCHOR_KEY and PROFILE_SIGNING_KEY (32+ characters, secrets of their
own), DATABASE_URL
(PostgreSQL), REDIS_URL. HTTPS only (HSTS, secure cookies), except the plain-HTTP health check of a load
balancer at /healthz; the API schema and docs need a staff login unless API_DOCS_PUBLIC is set. A database
connection as a superuser is refused when it opens (config.database.refuse_superuser; docs/operations.md)."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created

from config.database import refuse_superuser

from .base import *  # noqa: F403
from .base import DEV_SECRET_KEY, env_bool, env_int

MIN_SECRET_KEY_LENGTH = 50  # Django's own deployment check (security.W009) asks for 50
MIN_FX_SIGNING_KEY_LENGTH = 32  # an HMAC-SHA256 key of 256 bits
POSTGRESQL_ENGINES = {"django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"}


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production")
    return value


def _secret_key() -> str:
    key = _required("SECRET_KEY")
    if key == DEV_SECRET_KEY or key.startswith("django-insecure") or "change-me" in key:
        raise ImproperlyConfigured("SECRET_KEY is a development key: generate a random one for production")
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    return key


def _fx_signing_key(secret_key: str) -> str:
    key = _required("FX_SIGNING_KEY")
    if len(key) < MIN_FX_SIGNING_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"FX_SIGNING_KEY is too short: use at least {MIN_FX_SIGNING_KEY_LENGTH} characters"
        )
    if key == secret_key:
        raise ImproperlyConfigured("FX_SIGNING_KEY must be a secret of its own, not SECRET_KEY")
    return key


def _ledger_anchor_key(*others: str) -> str:
    """The HMAC key of the ledger's chain anchors: 32+ characters, a secret of its own (never in the
    database, and not a key that signs anything else)."""
    key = _required("LEDGER_ANCHOR_KEY")
    if len(key) < MIN_FX_SIGNING_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"LEDGER_ANCHOR_KEY is too short: use at least {MIN_FX_SIGNING_KEY_LENGTH} characters"
        )
    if key in others:
        raise ImproperlyConfigured(
            "LEDGER_ANCHOR_KEY must be a secret of its own, not SECRET_KEY or FX_SIGNING_KEY"
        )
    return key


def _profile_signing_key(*others: str) -> str:
    """The HMAC key of profile approval signatures (billing.profiles.signatures): 32+ characters, a secret
    of its own."""
    key = _required("PROFILE_SIGNING_KEY")
    if len(key) < MIN_FX_SIGNING_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"PROFILE_SIGNING_KEY is too short: use at least {MIN_FX_SIGNING_KEY_LENGTH} characters"
        )
    if key in others:
        raise ImproperlyConfigured(
            "PROFILE_SIGNING_KEY must be a secret of its own, not SECRET_KEY, FX_SIGNING_KEY or LEDGER_ANCHOR_KEY"
        )
    return key


def _database_url() -> str:
    url = _required("DATABASE_URL")
    try:
        engine = dj_database_url.parse(url)["ENGINE"]
    except ValueError as err:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {err}") from err
    if engine not in POSTGRESQL_ENGINES:
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...) in production")
    return url


DEBUG = False
# Outbound webhooks: https only and no private or loopback targets unless the deployment says otherwise.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
SECRET_KEY = _secret_key()
FX_SIGNING_KEY = _fx_signing_key(SECRET_KEY)
LEDGER_ANCHOR_KEY = _ledger_anchor_key(SECRET_KEY, FX_SIGNING_KEY)
PROFILE_SIGNING_KEY = _profile_signing_key(SECRET_KEY, FX_SIGNING_KEY, LEDGER_ANCHOR_KEY)
_database_url()  # base.py has parsed it into DATABASES already
# The app role and the owner are no superusers: checked as each connection opens, at no cost (no query).
connection_created.connect(refuse_superuser, dispatch_uid="config.database.refuse_superuser")
_required("REDIS_URL")  # without it Celery would run tasks inside requests and the cache be per process

# The application runs behind a TLS-terminating proxy (load balancer, ingress) that speaks plain HTTP to
# gunicorn and sets X-Forwarded-Proto: https on requests that came in over TLS. The proxy must set (or
# overwrite) that header on every request: a client-supplied value passed through would let plain HTTP
# pass for HTTPS. Without such a proxy (TLS at gunicorn), drop this line.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's health check over plain HTTP
SECURE_HSTS_SECONDS = 31_536_000  # one year
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True  # the admin and the Swagger UI take the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"  # no page is ever framed (the CSP's frame-ancestors 'none' says the same)
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)

# Behind the TLS-terminating proxy (see SECURE_PROXY_SSL_HEADER) every request comes from the proxy's
# address: django-axes must read the client's from X-Forwarded-For, trusting exactly the proxies in front
# of the app (TRUSTED_PROXY_COUNT, default 1), or one failed-login lockout would lock everyone out.
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
