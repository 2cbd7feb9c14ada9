"""Production: everything secret or machine-specific must come from the environment."""

import os

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ["SECRET_KEY"]
FX_SIGNING_KEY = os.environ["FX_SIGNING_KEY"]
LEDGER_ANCHOR_KEY = os.environ["LEDGER_ANCHOR_KEY"]
if not os.environ.get("DATABASE_URL"):
    raise RuntimeError("DATABASE_URL must point at PostgreSQL in production")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31536000
SECURE_CONTENT_TYPE_NOSNIFF = True
