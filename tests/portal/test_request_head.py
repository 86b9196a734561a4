"""HeadGuard (portal/request_head.py): the bounds on a request head, byte by byte."""
from http import HTTPStatus

import pytest

from portal.request_head import MAX_HEAD_BYTES, MAX_HEADERS, MAX_LINE_BYTES, HeadGuard, refusal_response

GOOD = b"GET /ocpp/acme/CP1 HTTP/1.1\r\nHost: csms\r\nAuthorization: Basic QUJD\r\n\r\n"


def feed(data: bytes, chunk: int | None = None) -> tuple[HeadGuard, HTTPStatus | None]:
    guard = HeadGuard()
    step = chunk or len(data) or 1
    for start in range(0, len(data), step):
        status = guard.feed(data[start:start + step])
        if status is not None:
            return guard, status
    return guard, None


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_a_normal_head_completes_in_any_chunking(chunk):
    guard, status = feed(GOOD + b"body bytes are not looked at: " + b"x" * 100_000, chunk)
    assert status is None and guard.done


def test_bare_lf_line_ends_and_leading_blank_lines_are_accepted():
    guard, status = feed(b"\r\n\nGET / HTTP/1.1\nHost: x\n\n")
    assert status is None and guard.done


def test_an_unfinished_head_is_not_done():
    guard, status = feed(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert status is None and not guard.done


@pytest.mark.parametrize("chunk", [None, 1000])
def test_a_request_line_at_the_bound_passes_and_one_byte_more_is_414(chunk):
    line = b"GET /" + b"a" * (MAX_LINE_BYTES - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == MAX_LINE_BYTES
    assert feed(line + b"\r\nHost: x\r\n\r\n", chunk)[1] is None
    assert feed(line + b"a\r\nHost: x\r\n\r\n", chunk)[1] is HTTPStatus.REQUEST_URI_TOO_LONG


def test_an_overlong_request_line_is_refused_before_it_ends():
    assert feed(b"GET /" + b"a" * MAX_LINE_BYTES)[1] is HTTPStatus.REQUEST_URI_TOO_LONG


def test_an_overlong_header_field_is_431():
    field = b"X: " + b"a" * MAX_LINE_BYTES
    assert feed(b"GET / HTTP/1.1\r\n" + field)[1] is HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_too_many_header_fields_is_431_and_the_bound_itself_passes():
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS))
    assert feed(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")[1] is None
    assert feed(b"GET / HTTP/1.1\r\n" + fields + b"X-More: 1\r\n\r\n")[1] is \
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_a_head_too_large_in_sum_is_431():
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000) for i in range(MAX_HEAD_BYTES // 4000 + 1))
    assert feed(b"GET / HTTP/1.1\r\n" + fields)[1] is HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_reset_starts_the_next_head():
    guard, _ = feed(GOOD)
    guard.reset()
    assert not guard.done
    assert guard.feed(b"GET /" + b"a" * MAX_LINE_BYTES) is HTTPStatus.REQUEST_URI_TOO_LONG


def test_the_refusal_is_a_complete_response_that_closes():
    response = refusal_response(HTTPStatus.SERVICE_UNAVAILABLE, retry_after=10)
    head, body = response.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nconnection: close" in head and b"\r\nretry-after: 10" in head
    assert f"content-length: {len(body)}".encode() in head
