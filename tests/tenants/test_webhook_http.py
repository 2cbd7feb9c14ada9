"""One webhook POST (tenants.webhooks.http; docs/webhooks.md "Targets"): the host is resolved once and the
connection goes to the address that was checked (no DNS rebinding), no proxy from the environment, and
what the customer reads of a refused or failed target is generic (the detail is the operators' log)."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from tenants.webhooks import http

PUBLIC = "93.184.216.34"


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """A TTL-0 name: public at the first lookup, loopback at every later one. Connections are recorded
    (and refused) instead of made."""
    lookups = {"n": 0}

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        lookups["n"] += 1
        address = PUBLIC if lookups["n"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    connected: list[tuple[Any, ...]] = []

    def connect(self: socket.socket, address: tuple[Any, ...]) -> None:
        connected.append(tuple(address))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return connected


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_it_connects_to_the_address_it_checked_never_to_a_rebound_one(
    rebinding: list[tuple[Any, ...]],
) -> None:
    response = http.post("https://hooks.example.com/x", b"{}", {}, timeout=1)
    assert rebinding == [(PUBLIC, 443)]
    assert (response.status_code, response.error) == (None, "could not connect")


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_it_ignores_proxies_from_the_environment(
    rebinding: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://{PUBLIC}:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http.post("https://hooks.example.com/x", b"{}", {}, timeout=1)
    assert rebinding == [(PUBLIC, 443)]


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize("answer", ["10.0.0.5", "169.254.169.254", None])
def test_a_refused_target_is_generic_for_the_customer_and_detailed_for_operators(
    answer: str | None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # an internal record or a name that does not resolve: the customer cannot tell which
    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with caplog.at_level(logging.WARNING, logger="tenants.webhooks.http"):
        response = http.post("https://db.internal.example.com/x", b"{}", {}, timeout=1)
    assert (response.status_code, response.error) == (None, http.REFUSED)
    assert str(answer or "Name or service not known") in caplog.text


def test_a_connection_error_is_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    response = http.post("http://127.0.0.1:9/closed", b"{}", {}, timeout=1)
    assert (response.status_code, response.error) == (None, "could not connect")


@pytest.fixture
def slow_drip() -> Iterator[str]:
    """A target that answers one header byte every 0.1 s for 3 s: each read is fast, the whole is not."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(30):
                if stop.is_set():
                    return
                try:
                    conn.sendall(b"X")
                except OSError:
                    return
                time.sleep(0.1)
            conn.sendall(b": y\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/drip"
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_an_attempt_has_a_total_deadline_not_only_a_timeout_per_read(slow_drip: str) -> None:
    started = time.monotonic()
    response = http.post(slow_drip, b"{}", {}, timeout=0.5)
    elapsed = time.monotonic() - started
    assert (response.status_code, response.error) == (None, "timed out")
    assert elapsed < 1.5


@pytest.fixture
def tls_target(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[str]]]:
    """An https target on 127.0.0.1 with a self-signed certificate for hooks.example.com (trusted by the
    client's context here); every name resolves to 127.0.0.1. Yields its port and the Host headers seen."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.example.com",
            "-addext", "subjectAltName=DNS:hooks.example.com",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hosts.append(self.headers["Host"])
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_resolve = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, *a, **k: real_resolve("127.0.0.1", port, *a, **k)
    )
    monkeypatch.setattr(http, "tls_context", lambda: ssl.create_default_context(cafile=cert))
    yield server.server_address[1], hosts
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_host_name_for_sni_and_host(
    tls_target: tuple[int, list[str]],
) -> None:
    port, hosts = tls_target
    response = http.post(f"https://hooks.example.com:{port}/x", b"{}", {}, timeout=5)
    assert (response.status_code, response.error) == (204, "")
    assert hosts == [f"hooks.example.com:{port}"]


def test_a_certificate_for_another_name_is_refused(tls_target: tuple[int, list[str]]) -> None:
    port, hosts = tls_target
    response = http.post(f"https://other.example.com:{port}/x", b"{}", {}, timeout=5)
    assert (response.status_code, response.error) == (None, http.TLS_FAILED)
    assert hosts == []
