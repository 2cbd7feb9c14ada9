"""Least privilege in the database (docs/operations.md, "Database roles"): connected as the app role, with
the privileges `manage.py db_roles` gives it on the test database, the application does its whole job
(ingest through the API, rating, close, payment, anchors, verification), and none of what would let it
rewrite the ledger's history: silencing the triggers, disabling or dropping them, truncating or deleting
the journal, forging the chain head, creating objects of its own.

The suite runs as the owner role (it creates the test database); these tests connect as the app role:
APP_DATABASE_URL's role (its user and password; the server and database are the suite's), or the embedded
server's `billing_app`. Without either there is no app role to test: skipped, except in CI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dj_database_url
import psycopg
import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, connections
from psycopg import errors
from psycopg.conninfo import make_conninfo

from config import database, embedded_db

ROOT = Path(__file__).resolve().parent.parent
ZEROS = "0" * 64


def _app_settings() -> dict[str, Any]:
    """The app role's connection settings, on the test database: APP_DATABASE_URL's role, or the embedded
    server's billing_app."""
    owner = connections["default"].settings_dict
    url = os.environ.get("APP_DATABASE_URL", "")
    if url:
        app: dict[str, Any] = dict(dj_database_url.parse(url))
    elif owner["ENGINE"] == embedded_db.ENGINE:
        server = embedded_db.start()
        app = {**embedded_db.database_settings(role="app"), "HOST": server.socket_dir, "PORT": server.port}
    else:
        reason = "APP_DATABASE_URL (the app role's URL) is unset"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert app["USER"] != owner["USER"], "APP_DATABASE_URL names the role the suite runs as"
    return {**app, "NAME": owner["NAME"]}


@pytest.fixture(scope="module")
def app_settings(django_db_setup: Any, django_db_blocker: Any) -> dict[str, Any]:
    """The app role's settings on the test database, after `db_roles` granted it its privileges there
    (committed: other connections see them)."""
    app = _app_settings()
    with django_db_blocker.unblock():
        call_command("db_roles", app_role=app["USER"], stdout=io.StringIO())
    return app


@pytest.fixture
def app_sql(app_settings: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to the test database as the app role (autocommit)."""
    conninfo = make_conninfo(
        host=str(app_settings["HOST"]) or None,
        port=str(app_settings["PORT"]) or None,
        user=app_settings["USER"],
        password=app_settings.get("PASSWORD") or None,
        dbname=app_settings["NAME"],
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


def refused(conn: psycopg.Connection[Any], statement: str) -> errors.InsufficientPrivilege:
    with pytest.raises(errors.InsufficientPrivilege) as caught:
        conn.execute(statement)
    assert caught.value.sqlstate == "42501"
    return caught.value


# --- what the app role cannot do -------------------------------------------------------------------------


def test_it_cannot_silence_the_triggers_for_its_session(app_sql):
    err = refused(app_sql, "SET session_replication_role = replica")
    assert 'permission denied to set parameter "session_replication_role"' in str(err)


def test_it_cannot_disable_the_ledger_triggers(app_sql):
    err = refused(app_sql, "ALTER TABLE ledger_posting DISABLE TRIGGER ALL")
    assert "must be owner of table ledger_posting" in str(err)


def test_it_cannot_drop_a_guard_trigger(app_sql):
    err = refused(app_sql, "DROP TRIGGER ledger_transaction_append_only ON ledger_transaction")
    assert re.fullmatch("must be owner of (relation|table) ledger_transaction", str(err))


def test_it_cannot_truncate_the_journal(app_sql):
    err = refused(app_sql, "TRUNCATE ledger_transaction CASCADE")
    assert "permission denied for table ledger_transaction" in str(err)


def test_it_cannot_delete_the_journal_tail(app_sql):
    err = refused(app_sql, "DELETE FROM ledger_transaction WHERE seq > 1")
    assert "permission denied for table ledger_transaction" in str(err)


def test_it_cannot_change_a_posting(app_sql):
    err = refused(app_sql, "UPDATE ledger_posting SET amount = 0")
    assert "permission denied for table ledger_posting" in str(err)


def test_it_cannot_forge_the_chain_head(app_sql):
    with app_sql.transaction(force_rollback=True):
        # given: the head of an empty journal, as the first append creates it
        app_sql.execute("INSERT INTO ledger_chainhead (id, seq, hash) VALUES (1, 0, %s)", [ZEROS])
        # when / then: pointed at a forged hash, the guard trigger (ledger 0006) refuses
        with pytest.raises(errors.IntegrityConstraintViolation) as caught:
            app_sql.execute("UPDATE ledger_chainhead SET hash = %s", ["f" * 64])
    assert caught.value.sqlstate == "23000"
    assert "the ledger chain head moves only forward" in str(caught.value)


def test_it_creates_no_object_but_temporary_tables(app_sql):
    err = refused(app_sql, "CREATE TABLE public.mine (id int)")
    assert "permission denied for schema public" in str(err)
    err = refused(
        app_sql, "CREATE TRIGGER mine BEFORE DELETE ON ledger_posting EXECUTE FUNCTION ledger_append_only()"
    )
    assert "permission denied for table ledger_posting" in str(err)
    with app_sql.transaction(force_rollback=True):
        app_sql.execute("CREATE TEMP TABLE staging (id int)")  # ingest and rating stage rows this way


def test_it_is_no_superuser_and_owns_nothing(app_sql, app_settings):
    role = app_sql.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user"
    ).fetchone()
    owned = app_sql.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relowner = current_user::regrole"
    ).fetchone()
    assert (role, owned) == ((False, False, False, False, False), (0,))
    assert app_sql.info.user == app_settings["USER"]


def test_the_grants_leave_delete_off_every_append_only_table(app_sql):
    guarded = app_sql.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgfoid = 'ledger_append_only'::regproc AND t.tgtype & 8 = 8 ORDER BY 1"
    ).fetchall()
    deletable = [
        name
        for (name,) in guarded
        if app_sql.execute("SELECT has_table_privilege(%s, 'DELETE')", [name]).fetchone() == (True,)
    ]
    assert {"ledger_transaction", "ledger_posting", "ledger_creditnote"} <= {name for (name,) in guarded}
    assert deletable == []


ACLS = """
    SELECT c.relname, c.relacl::text, (SELECT array_agg(a.attname || '=' || a.attacl::text ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
    UNION ALL SELECT 'default ' || d.defaclobjtype::text, d.defaclacl::text, NULL FROM pg_default_acl d
    UNION ALL SELECT 'database', datacl::text, NULL FROM pg_database WHERE datname = current_database()
    ORDER BY 1
"""


@pytest.mark.django_db
def test_db_roles_is_idempotent(app_settings):
    with connection.cursor() as cursor:
        cursor.execute(ACLS)
        before = cursor.fetchall()
        out = io.StringIO()
        call_command("db_roles", app_role=app_settings["USER"], stdout=out)
        cursor.execute(ACLS)
        assert cursor.fetchall() == before
    assert out.getvalue().startswith(f"{app_settings['USER']}: rows of ")


@pytest.mark.django_db
def test_a_table_a_later_migration_creates_is_granted_at_once(app_settings):
    app = app_settings["USER"]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE later_migration (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)"
        )
        cursor.execute(
            "SELECT p, has_table_privilege(%s, 'later_migration', p)"
            " FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) p",
            [app],
        )
        privileges = dict(cursor.fetchall())
        cursor.execute(
            "SELECT has_sequence_privilege(%s, pg_get_serial_sequence('later_migration', 'id'), 'USAGE')",
            [app],
        )
        (sequence,) = cursor.fetchone()
    assert privileges == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": True,
        "DELETE": True,
        "TRUNCATE": False,
        "TRIGGER": False,
    }
    assert sequence is True


@pytest.mark.django_db
def test_db_roles_refuses_an_app_role_with_powers(app_settings):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE oid = 10")  # the bootstrap superuser
        (superuser,) = cursor.fetchone()
    with pytest.raises(CommandError, match=f"the app role {superuser} has SUPERUSER, CREATEROLE, CREATEDB"):
        call_command("db_roles", app_role=superuser, stdout=io.StringIO())
    with pytest.raises(CommandError, match="role no_such_role does not exist"):
        call_command("db_roles", app_role="no_such_role", stdout=io.StringIO())


# --- what it does: the application's work ---------------------------------------------------------------


@pytest.fixture
def as_app_role(app_settings: dict[str, Any]) -> Iterator[None]:
    """Django's default connection reconnects as the app role for the test, then as the owner again (before
    the flush of a transactional test, which needs the owner)."""
    default = connections["default"]
    saved = {key: default.settings_dict.get(key) for key in ("USER", "PASSWORD", "HOST", "PORT")}
    default.close()
    default.settings_dict.update({key: app_settings.get(key) for key in saved})
    try:
        yield
    finally:
        default.close()
        default.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_as_the_app_role_usage_is_ingested_rated_closed_paid_and_verified(as_app_role, api_client):
    from billing.close.services import close_periods
    from billing.rating.models import UsageAggregate
    from billing.rating.services import usage_rate_pending
    from billing.usage.ingest import catalog_cache_clear
    from billing.usage.models import RatingBatch
    from ledger.models import Invoice
    from ledger.services.anchors import chain_anchor_record
    from ledger.services.credits import credit_grant_create
    from ledger.services.invoicing import invoice_mark_paid
    from ledger.verify import ledger_verify
    from tests.factories.ledger import after_grace, tax_rule
    from tests.factories.usage import event, post_usage, usage_world

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (connections["default"].settings_dict["USER"],)
    catalog_cache_clear()
    # given: a tenant on a profile (0.10 per API call), German VAT, a prepaid credit of 20.00
    with time_machine.travel(datetime(2026, 11, 15, 12, tzinfo=UTC), tick=False):
        world = usage_world(slug="acme")
        tax_rule("DE", "19")
        credit_grant_create(
            tenant=world.tenant,
            amount=Decimal("20.00"),
            currency="EUR",
            granted_at=datetime(2026, 10, 1, tzinfo=UTC),
            reason="welcome",
        )
        # when: usage arrives through the API (one event twice), is rated, and the period closes
        events = [event(f"e-{i}", timestamp="2026-11-15T10:00:00Z", quantity="100") for i in range(10)]
        response = post_usage(api_client, world, [*events, events[0]])
        assert response.status_code == 200, response.content
    usage_rate_pending()  # (eager Celery rated them already, on the ingest's commit)
    assert list(RatingBatch.objects.values_list("status", flat=True)) == ["rated"]
    assert UsageAggregate.objects.get().quantity == Decimal(1000)
    (result,) = close_periods(tenants=[world.tenant], period_key="2026-11", now=after_grace())
    assert result.status == "finalized", result
    assert result.invoice_id is not None
    invoice = Invoice.objects.get(pk=result.invoice_id)
    invoice_mark_paid(invoice=invoice, paid_at=after_grace())
    anchor = chain_anchor_record(reason="manual")

    # then: 1,000 calls at 0.10 = 100.00 + 19 % = 119.00, 20.00 of it from the credit; the chain verifies
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.amount_due) == (
        "paid",
        Decimal("119.00"),
        Decimal("99.00"),
    )
    # credit grant, invoice, credit consumption, payment
    assert (anchor.seq, ledger_verify().message) == (4, "OK 4")
    catalog_cache_clear()


# --- how a process picks its role ------------------------------------------------------------------------


def test_database_url_is_the_app_and_database_owner_url_the_owner(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://billing_app:secret@db.internal:5432/billing")
    monkeypatch.setenv("DATABASE_OWNER_URL", "postgres://billing_owner@db.internal:5432/billing")
    app = database.database_settings(role="app", conn_max_age=0)
    owner = database.database_settings(role="owner", conn_max_age=0)
    assert (app["USER"], app["PASSWORD"], owner["USER"], owner["NAME"]) == (
        "billing_app",
        "secret",
        "billing_owner",
        "billing",
    )


def test_without_an_owner_url_both_roles_use_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://dev@127.0.0.1:5432/billing")
    monkeypatch.delenv("DATABASE_OWNER_URL", raising=False)
    assert database.database_settings(role="owner", conn_max_age=0)["USER"] == "dev"


def test_the_embedded_server_hands_out_its_two_roles(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_OWNER_URL", raising=False)
    users = [database.database_settings(role=role, conn_max_age=0)["USER"] for role in ("app", "owner")]
    assert users == ["billing_app", "billing_owner"]


def test_db_role_must_name_a_role(monkeypatch):
    monkeypatch.setenv("DB_ROLE", "postgres")
    with pytest.raises(ImproperlyConfigured, match="DB_ROLE must be one of app, owner, not 'postgres'"):
        database.role_from_environment()


def test_a_superuser_connection_is_closed_and_refused():
    closed = []
    info = SimpleNamespace(parameter_status=lambda name: {"is_superuser": "on"}[name], user="postgres")
    wrapper: Any = SimpleNamespace(connection=SimpleNamespace(info=info), close=lambda: closed.append(True))
    with pytest.raises(ImproperlyConfigured, match="the database role 'postgres' is a superuser"):
        database.refuse_superuser(sender=None, connection=wrapper)
    assert closed == [True]


@pytest.mark.django_db
def test_the_owner_connection_is_no_superuser_and_passes():
    connection.ensure_connection()
    database.refuse_superuser(sender=None, connection=connection)
    assert connection.connection is not None


def test_production_refuses_superuser_connections():
    code = (
        "import django; django.setup(); from django.db.backends.signals import connection_created; "
        "print(connection_created.disconnect(dispatch_uid='config.database.refuse_superuser'))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "s" * 30 + "0123456789abcdefghijklmnopqrstuvwxyz",
        "FX_SIGNING_KEY": "f" * 16 + "0123456789abcdefghijk",
        "LEDGER_ANCHOR_KEY": "l" * 16 + "klmnopqrstuvwxyz01234",
        "PROFILE_SIGNING_KEY": "p" * 16 + "qrstuvwxyz0123456789a",
        "DATABASE_URL": "postgres://billing_app@db.internal:5432/billing",
        "REDIS_URL": "redis://redis.internal:6379/0",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr
