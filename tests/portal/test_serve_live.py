"""Half-sent and oversized requests against the server the README starts (issue 8,
item 5): raw sockets against `python -m portal.serve`, with a short head deadline and a
small socket cap so the limits show quickly."""
import socket
import time

import pytest
from django.db import connection

from portal import request_head
from tests.factories import make_tenant
from tests.live import LiveServer

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
MAX_BODY_BYTES = 64 * 1024
MAX_CONNECTIONS = 25
UPGRADE = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Protocol: ocpp1.6\r\n")
LONG = request_head.MAX_LINE_BYTES + 1200  # the 9 KiB of the finding


@pytest.fixture(scope="module")
def guarded(django_db_setup, django_db_blocker, live_log_dir):
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    server = LiveServer(db_name, live_log_dir, name="guarded", extra_env={
        "WEB_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "WEB_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), "WEB_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "WEB_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}).start()
    yield server
    server.stop()


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=15)


def answer(sock, timeout=15) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"connection still open after {timeout}s; got {received[:200]!r}")


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
    b"GET /ocpp/acme/CP1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + UPGRADE,
    b"GET /healthz HT",
    b"",  # connected, sent nothing
])
def test_a_head_not_finished_in_time_gets_408_and_the_socket_is_closed(guarded, head):
    with connect(guarded) as sock:
        sock.sendall(head)
        assert status_of(answer(sock, timeout=HEADER_TIMEOUT + 10)) == 408


def test_trickling_the_head_a_byte_at_a_time_does_not_extend_the_deadline(guarded):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    started = time.monotonic()
    with connect(guarded) as sock:
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # closed on us mid-trickle: that is the point
        assert status_of(answer(sock, timeout=HEADER_TIMEOUT + 10)) == 408
    assert time.monotonic() - started < HEADER_TIMEOUT + 10


@pytest.mark.parametrize("upgrade", [b"", UPGRADE], ids=["http", "websocket"])
def test_an_overlong_request_line_gets_414(guarded, upgrade):
    with connect(guarded) as sock:
        sock.sendall(b"GET /ocpp/acme/" + b"a" * LONG + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade + b"\r\n")
        assert status_of(answer(sock)) == 414


@pytest.mark.parametrize("upgrade", [b"", UPGRADE], ids=["http", "websocket"])
@pytest.mark.parametrize("fields", [
    b"X-Big: " + b"a" * LONG + b"\r\n",
    b"".join(b"X-Many-%d: 1\r\n" % i for i in range(request_head.MAX_HEADERS + 1)),
    b"".join(b"X-Sum-%d: %s\r\n" % (i, b"a" * 4000) for i in range(9)),
], ids=["one-long-field", "too-many-fields", "too-large-in-sum"])
def test_oversized_header_fields_get_431(guarded, upgrade, fields):
    with connect(guarded) as sock:
        sock.sendall(b"GET /ocpp/acme/CP1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade + fields + b"\r\n")
        assert status_of(answer(sock)) == 431


def test_sockets_beyond_the_cap_get_503_and_service_returns_when_they_go(guarded):
    held = [connect(guarded) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never finish
        time.sleep(0.5)
        with connect(guarded) as extra:
            response = answer(extra)
        assert status_of(response) == 503
        assert b"retry-after: " in response.lower()
        for _ in range(10):  # a client that sends its request at once gets the 503 too, not a reset
            with connect(guarded) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert status_of(answer(extra)) == 503
        for sock in held:  # the deadline frees every held socket
            assert status_of(answer(sock, timeout=HEADER_TIMEOUT + 10)) == 408
    finally:
        for sock in held:
            sock.close()
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert status_of(answer(sock)) == 200


def whole_response(sock) -> bytes:
    """One HTTP response, head and Content-Length body, however the bytes arrive."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_kept_alive_connection_serves_several_requests_and_its_next_head_has_a_deadline(guarded):
    with connect(guarded) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(10)
            assert whole_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the third head never ends
        tail = answer(sock, timeout=HEADER_TIMEOUT + 10)
        assert status_of(tail) == 408


def post_head(length: int | None, path=b"/oauth/demo/token") -> bytes:
    framing = b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n" + framing + b"\r\n")


def test_a_body_not_finished_in_time_gets_408_and_the_socket_is_closed(guarded):
    """A trickled body held its socket (and the request's task) forever."""
    started = time.monotonic()
    with connect(guarded) as sock:
        sock.sendall(post_head(1000) + b"grant_type=")
        try:
            for _ in range(BODY_TIMEOUT * 4):
                time.sleep(0.5)
                sock.sendall(b"x")
        except OSError:
            pass  # closed on us mid-trickle
        assert status_of(answer(sock, timeout=BODY_TIMEOUT + 10)) == 408
    assert time.monotonic() - started < BODY_TIMEOUT + 10


def test_a_body_declared_larger_than_the_cap_gets_413_before_it_is_sent(guarded):
    with connect(guarded) as sock:
        sock.sendall(post_head(MAX_BODY_BYTES + 1))
        assert status_of(answer(sock)) == 413


def test_a_chunked_body_growing_past_the_cap_gets_413(guarded):
    chunk = b"a" * 16384
    with connect(guarded) as sock:
        sock.sendall(post_head(None))
        try:
            for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass  # refused and closed while we were still sending
        assert status_of(answer(sock)) == 413


def test_a_body_within_the_bounds_reaches_the_application(guarded, transactional_db):
    """Sent slowly but in time, and over a kept-alive connection twice: the token
    endpoint answers it (its own 400 for a bad grant), not the guard."""
    make_tenant("demo", is_emsp=True)
    body = b"grant_type=nonsense"
    with connect(guarded) as sock:
        for _ in range(2):
            sock.sendall(post_head(len(body)))
            for part in (body[:5], body[5:]):
                time.sleep(0.5)
                sock.sendall(part)
            sock.settimeout(15)
            response = whole_response(sock)
            assert status_of(response) == 400 and b"unsupported_grant_type" in response, response[:300]
