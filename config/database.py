"""The two PostgreSQL roles a process connects as (docs/operations.md, "Database roles").

- `app`, the default: every process that serves or works (runserver, gunicorn, Celery, the operator
  commands). It reads and writes rows and nothing else: it owns no object, so it cannot alter, disable or
  drop the guard triggers, and it is no superuser, so it cannot silence them with
  `session_replication_role`. `manage.py db_roles` gives it its privileges.
- `owner`: `manage.py migrate`, `manage.py db_roles` and the test suite (which creates its database; the
  test settings always connect as the owner). It owns the database and every object in it, and is no
  superuser either.

`DB_ROLE=app|owner` picks one. With DATABASE_URL set, the app connects with DATABASE_URL and the owner
with DATABASE_OWNER_URL (or DATABASE_URL when that is unset: one role for both, as on a developer's own
server). Without DATABASE_URL, the embedded PostgreSQL hands out its own two roles (config.embedded_db)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import embedded_db

if TYPE_CHECKING:
    from dj_database_url import DBConfig
    from django.db.backends.base.base import BaseDatabaseWrapper

ROLES = ("app", "owner")


def role_from_environment(default: str = "app") -> str:
    """DB_ROLE, checked."""
    role = os.environ.get("DB_ROLE", "").strip() or default
    if role not in ROLES:
        raise ImproperlyConfigured(f"DB_ROLE must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def database_settings(*, role: str, conn_max_age: int) -> DBConfig:
    """The DATABASES entry a process of `role` connects with."""
    if role not in ROLES:
        raise ImproperlyConfigured(f"unknown database role {role!r}")
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        if os.environ.get("DATABASE_OWNER_URL"):
            raise ImproperlyConfigured("DATABASE_OWNER_URL is set without DATABASE_URL (the app role's URL)")
        # Started on the first connection (or by manage.py), stopped when the last process using it exits.
        entry = embedded_db.database_settings(role=role, conn_max_age=conn_max_age)
    else:
        if role == "owner":
            url = os.environ.get("DATABASE_OWNER_URL", "") or url
        entry = dj_database_url.parse(url, conn_max_age=conn_max_age)
    entry["ATOMIC_REQUESTS"] = False  # transaction boundaries are explicit in services
    return entry


def refuse_superuser(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """A `connection_created` receiver (config.settings.production): a superuser passes every privilege
    check and can switch the ledger's triggers off, so a connection as one is closed and refused, every
    time one opens. PostgreSQL reports `is_superuser` when a connection opens: this costs no query."""
    raw = connection.connection
    if raw is None or raw.info.parameter_status("is_superuser") != "on":
        return
    user = raw.info.user
    connection.close()
    raise ImproperlyConfigured(
        f"the database role {user!r} is a superuser: connect as the app role (DATABASE_URL) or the owner "
        "role (DATABASE_OWNER_URL), neither a superuser (docs/operations.md)"
    )
