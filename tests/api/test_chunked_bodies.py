"""A usage batch sent chunked (`Transfer-Encoding: chunked`, no Content-Length) is read to its end under
gunicorn, the production server, and still bounded by USAGE_MAX_BODY_BYTES (billing.api.parsers.
unsized_body_read).

pytest-django's `live_server` cannot show it: Django's development server (django.core.servers.basehttp)
cuts the input at CONTENT_LENGTH (0 when absent) and neither de-chunks the body nor sets
`wsgi.input_terminated`. So these tests start a real gunicorn on a free loopback port, against this test
run's database (its data committed: `transaction=True`), and send the body with `http.client`."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from billing.usage.models import UsageEvent
from tests.factories.usage import event, usage_world

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
LIMIT = 50_000  # USAGE_MAX_BODY_BYTES of the server under test

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict  # the test database (test_<name>, per xdist worker)
    credentials = quote(db["USER"] or "", safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    )
    host = quote(db["HOST"] or "127.0.0.1", safe="")  # a socket directory (embedded PostgreSQL) is quoted
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


@dataclass(frozen=True)
class Server:
    port: int
    log: Path  # gunicorn's and the application's log (a failing test shows its tail)

    def tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-40:])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """gunicorn (one sync worker) on 127.0.0.1 and a port the kernel picks. One per test: the server's
    per-process caches (the SKU catalog, 5 s) would outlive the flush that ends each test."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "DB_CONN_MAX_AGE": "0",
        "USAGE_MAX_BODY_BYTES": str(LIMIT),
        "USAGE_RATE_LIMIT_REQUESTS": "0",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(GUNICORN), "config.wsgi", "-b", "127.0.0.1:0", "-w", "1", "--log-level", "info"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        yield Server(port=_listening_port(process, log), log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening_port(process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError("gunicorn did not start:\n" + log.read_text())


def post_chunked(server: Server, secret: str, body: bytes, chunk: int = 4096) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/v1/usage",
            body=(body[i : i + chunk] for i in range(0, len(body), chunk)),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {secret}",
                "Transfer-Encoding": "chunked",
            },
            encode_chunked=True,
        )
        response = conn.getresponse()
        status, answer = response.status, json.loads(response.read())
    finally:
        conn.close()
    assert status < 500, server.tail()
    return status, answer


def recent_event(event_id: str, **extra: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=1)  # the server's clock is the real one
    return event(event_id, timestamp=at.strftime("%Y-%m-%dT%H:%M:%SZ"), **extra)


def padded(body: bytes, size: int) -> bytes:
    """`body` (a JSON object) grown to `size` bytes with whitespace before its closing brace."""
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_chunked_batch_is_read_to_its_end_and_accepted(server):
    world = usage_world()
    small = json.dumps({"events": [recent_event("e-1", tags={"pad": "x" * 200})]}).encode()
    at_the_limit = padded(json.dumps({"events": [recent_event("e-2")]}).encode(), LIMIT)

    first = post_chunked(server, world.secret, small, chunk=64)  # several chunks
    second = post_chunked(server, world.secret, at_the_limit)

    assert first == (200, {"results": [{"event_id": "e-1", "status": "accepted"}], "counts": {"accepted": 1}})
    assert (second[0], second[1]["counts"]) == (200, {"accepted": 1})
    assert sorted(UsageEvent.objects.values_list("event_id", "tenant_id")) == [
        ("e-1", world.tenant.pk),
        ("e-2", world.tenant.pk),
    ]


def test_a_chunked_body_over_the_limit_is_413(server):
    world = usage_world()
    one_byte_over = padded(json.dumps({"events": [recent_event("e-1")]}).encode(), LIMIT + 1)
    far_over = padded(
        json.dumps({"events": [recent_event("e-2")]}).encode(), 40 * LIMIT
    )  # not read to its end

    refused = [post_chunked(server, world.secret, body, chunk=65_536) for body in (one_byte_over, far_over)]

    too_large = {
        "error": "batch_too_large",
        "message": f"the request body is limited to {LIMIT} bytes",
        "limit_bytes": LIMIT,
    }
    assert refused == [(413, too_large), (413, too_large)]
    assert not UsageEvent.objects.exists()
