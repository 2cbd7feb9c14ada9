"""One POST of a webhook (http.client, no redirects followed, no proxy from the environment) and the target
checks: https unless settings.WEBHOOK_ALLOW_HTTP, and no private, loopback, link-local or otherwise
non-public address unless settings.WEBHOOK_ALLOW_PRIVATE (SSRF). The address check runs at creation on the
URL and at each attempt on what the host resolves to then; the host is resolved once and the connection
goes to an address that was checked (TLS still verifies the certificate against the host name, sent as
SNI and Host), so a name that answers differently a moment later (DNS rebinding) is never followed.

The whole attempt (connect, TLS handshake, request, response head and the first KiB of the body) has one
deadline of `timeout` seconds, not a timeout per socket read: a target dripping bytes cannot hold the
attempt past its lease. What is stored for the customer (Response.error) is generic; the detail (address,
resolver or socket error) goes to this module's log for operators."""

from __future__ import annotations

import http.client
import io
import ipaddress
import logging
import select
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_ERROR = 500
READ_LIMIT = 1024
REFUSED = "target refused: the host does not resolve to a public address"
CONNECT_FAILED = "could not connect"
TIMED_OUT = "timed out"
TLS_FAILED = "TLS error (certificate or handshake)"
BAD_RESPONSE = "invalid HTTP response"


class TargetRefused(Exception):
    """The URL may not be called (scheme, host, address)."""


class _DeadlinePassed(Exception):
    pass


@dataclass(frozen=True)
class Response:
    status_code: int | None  # None: no HTTP response (refused, timeout, connection error)
    duration_ms: int
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def url_problem(url: str) -> str | None:
    """Why the URL may not be an endpoint (None: it may), without resolving its host."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if settings.WEBHOOK_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed:
        return "the URL must start with https://" if "http" not in allowed else "the URL must be http(s)"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL may not carry credentials"
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        if parts.hostname.lower() in {"localhost", "localhost.localdomain"} or parts.hostname.endswith(
            ".local"
        ):
            return "the URL's host is not public"
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return None
        if not address.is_global:
            return "the URL's address is not public"
    return None


def resolve_checked(host: str, port: int) -> list[tuple[int, str]]:
    """The (family, address) pairs to connect to, resolved once; TargetRefused (with the detail, for the
    log) when the name does not resolve or any answer is not public (unless WEBHOOK_ALLOW_PRIVATE)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:
        raise TargetRefused(f"cannot resolve {host}: {err}") from err
    found: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if not settings.WEBHOOK_ALLOW_PRIVATE and not ipaddress.ip_address(address).is_global:
            raise TargetRefused(f"{host} resolves to a non-public address ({address})")
        if (family, address) not in found:
            found.append((family, address))
    if not found:
        raise TargetRefused(f"cannot resolve {host}: no address")
    return found


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed
    return left


def _connect(addresses: list[tuple[int, str]], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first checked address that answers (never resolving again)."""
    last: OSError | None = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect((address, port))
            return sock
        except OSError as err:
            sock.close()
            last = err
    assert last is not None
    raise last


def tls_context() -> ssl.SSLContext:
    """The client's TLS context: the system's CAs, certificates and host names verified."""
    return ssl.create_default_context()


def _tls(sock: socket.socket, host: str, deadline: float) -> ssl.SSLSocket:
    """The TLS session over the connected socket, the certificate verified against `host` (SNI), the
    handshake bounded by the deadline (non-blocking, waiting on select)."""
    wrapped = tls_context().wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    wrapped.setblocking(False)
    while True:
        try:
            wrapped.do_handshake()
            break
        except ssl.SSLWantReadError:
            select.select([wrapped], [], [], _remaining(deadline))
        except ssl.SSLWantWriteError:
            select.select([], [wrapped], [], _remaining(deadline))
    return wrapped


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each bounded by what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client's response reads from: makefile() over the deadline-bounded reader."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection for the host name (Host header) over a socket connected beforehand."""

    def __init__(self, host: str, port: int, sock: socket.socket, deadline: float, *, https: bool) -> None:
        super().__init__(host, port)
        self.sock, self._deadline = sock, deadline
        self.default_port = 443 if https else 80  # the Host header names the port only when not default

    def connect(self) -> None:  # the socket is given; never resolve or connect here
        raise http.client.NotConnected("the webhook connection is made before the request")

    def getresponse(self) -> http.client.HTTPResponse:
        real = self.sock
        self.sock = _DeadlineSocket(real, self._deadline)
        try:
            return super().getresponse()
        finally:
            self.sock = real


def _exchange(url: str, body: bytes, headers: dict[str, str], deadline: float) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve_checked(host, port)
    sock = _connect(addresses, port, deadline)
    try:
        if parts.scheme == "https":
            sock = _tls(sock, host, deadline)
        sock.settimeout(_remaining(deadline))
        connection = _Connection(host, port, sock, deadline, https=parts.scheme == "https")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        sock.settimeout(_remaining(deadline))
        response = connection.getresponse()
        response.read(READ_LIMIT)
        return response
    finally:
        sock.close()


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Response:
    """POST the body, all of it within `timeout` seconds; never raises for the target's failures (they
    are the Response's generic error; the detail is logged)."""
    started = time.monotonic()

    def done(status: int | None, error: str) -> Response:
        return Response(status, int((time.monotonic() - started) * 1000), error[:MAX_ERROR])

    def failed(error: str, detail: object) -> Response:
        logger.warning("webhook POST to %s: %s (%s)", url, error, detail)
        return done(None, error)

    problem = url_problem(url)
    if problem:
        return done(None, f"refused: {problem}")
    try:
        response = _exchange(url, body, headers, started + timeout)
    except TargetRefused as err:
        return failed(REFUSED, err)
    except (_DeadlinePassed, TimeoutError) as err:
        return failed(TIMED_OUT, repr(err))
    except ssl.SSLError as err:
        return failed(TLS_FAILED, err)
    except (http.client.HTTPException, ValueError) as err:
        return failed(BAD_RESPONSE, repr(err))
    except OSError as err:
        return failed(CONNECT_FAILED, err)
    if 200 <= response.status < 300:
        return done(response.status, "")
    return done(response.status, f"HTTP {response.status} {response.reason}")
