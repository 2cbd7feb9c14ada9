"""Test settings: the PostgreSQL the environment names (DATABASE_URL; the embedded server when unset; the
test database is test_<name> on it), fast hashing, eager Celery unless a test opts into a real broker.

The suite creates its database, so it connects as the owner role: DATABASE_URL is the owner's URL here
(the embedded server's billing_owner without it), and APP_DATABASE_URL the app role's, which
tests/test_least_privilege.py connects as. DATABASE_OWNER_URL is refused: a test that hands DATABASE_URL
to a process of its own must not see that process connect elsewhere."""

import os

from django.core.exceptions import ImproperlyConfigured

from config import database

from .base import *  # noqa: F403

if os.environ.get("DATABASE_OWNER_URL"):
    raise ImproperlyConfigured(
        "the test suite connects as the owner with DATABASE_URL: unset DATABASE_OWNER_URL and give the app "
        "role's URL as APP_DATABASE_URL"
    )
DB_ROLE = "owner"
DATABASES = {"default": database.database_settings(role=DB_ROLE, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# The suite's fixtures approve a version once (profile_version_approve); the approval policy's own tests
# (tests/billing/test_approval_policy.py, test_approvals.py) set the policy they check.
APPROVAL_POLICY = {"default_approvals": 1, "rules": []}
# Tests post webhooks to servers of their own on 127.0.0.1 (tests/tenants/test_webhook_*.py).
WEBHOOK_ALLOW_HTTP = True
WEBHOOK_ALLOW_PRIVATE = True
ALERT_EMAILS = []
# Cached values (history parts, drill-downs, ...) are keyed by row ids, and a test database made anew
# reuses them: each test process gets a key prefix of its own, so nothing one run (or one xdist worker)
# cached is ever read by another against other rows.
# Its clear() deletes that prefix's keys only (tests.prefixed_cache), not the whole Redis database.
for _cache in CACHES.values():  # noqa: F405
    _cache["KEY_PREFIX"] = f"test-{os.getpid()}-{os.urandom(4).hex()}"
    if _cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        _cache["BACKEND"] = "tests.prefixed_cache.PrefixedRedisCache"
