"""Test settings: the PostgreSQL the environment names (DATABASE_URL; the embedded server when unset; the
test database is test_<name> on it), fast hashing, eager Celery unless a test opts into a real broker."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
