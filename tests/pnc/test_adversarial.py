"""What an adversarial review of the Plug & Charge endpoints found: each request here
once got a 500 or a wrong answer. An outsider, a malicious EV or another tenant's eMSP
gets a clear refusal: problem+json, or an OCSP error status, never a server error."""
import base64
import socket

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from django.test import Client as DjangoClient

from csms.models import AuditEvent
from pnc.models import Contract, IssuedCertificate
from tests.oauth.conftest import DRIVER_PASSWORD, FormClient
from tests.pnc.api_client import Backend, api, call
from tests.pnc.conftest import access_token, approve, near_detail
from tests.pnc.test_csr import assert_problem, csr_for, p256, post
from tests.pnc.test_ocsp import ask_post, certificate, request_der
from tests.pnc.test_renewal import live_backend_token


def _der_tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    wide = size.to_bytes((size.bit_length() + 7) // 8, "big")
    length = bytes([size]) if size < 128 else bytes([0x80 | len(wide)]) + wide
    return bytes([tag]) + length + content


def _der_parse(data: bytes, at: int = 0) -> tuple[bytes, int]:
    """The content of the TLV at `at`, and where the next one starts."""
    size, start = data[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, start = int.from_bytes(data[start:start + count], "big"), start + count
    return data[start:start + size], start + size


def _request_for_many(cert, issuer, count: int) -> bytes:
    """An OCSPRequest whose requestList holds the same Request `count` times (RFC 6960
    allows a list; RFC 5019 clients send one)."""
    der = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build().public_bytes(
        serialization.Encoding.DER)
    tbs, _ = _der_parse(_der_parse(der)[0])
    request_list, after_list = _der_parse(tbs)
    single = request_list[:_der_parse(request_list)[1]]
    return _der_tlv(0x30, _der_tlv(0x30, _der_tlv(0x30, single * count) + tbs[after_list:]))


@pytest.mark.parametrize("count", [2, 20])
def test_an_ocsp_request_about_several_certificates_is_malformed_not_a_server_error(pki, count):
    answer = ask_post(_request_for_many(certificate(pki[2]), certificate(pki[1]), count))
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


# --- the eMSP REST API's query parameters -------------------------------------------------

@pytest.fixture
def api_token(emsp, pki):
    return Backend(emsp).token()


@pytest.mark.parametrize("path, query", [
    ("contracts/", {"created_after": "9999-12-31T23:59:59-23:59"}),  # past year 9999 in UTC
    ("contracts/", {"created_before": "0001-01-01T00:00:00+23:59"}),  # before year 1 in UTC
    ("contracts/", {"ends_before": "9999-12-31T23:59:59-01:00"}),
    ("certificates/", {"expires_after": "9999-12-31T23:59:59-23:59"}),
    ("certificates/", {"expires_before": "0001-01-01T00:00:00+01:00"}),
    ("certificates/", {"revoked": "maybe"}),  # was read as "no filter": every certificate
])
def test_a_filter_value_out_of_range_or_unreadable_is_400_naming_it(api_token, path, query):
    body = assert_problem(call("GET", api(path), api_token, query), 400)
    assert set(query) <= set(body["errors"])


@pytest.mark.parametrize("path", ["contracts/", "certificates/"])
def test_an_offset_beyond_postgresqls_but_within_iso_8601_is_read_in_utc(api_token, path):
    """PostgreSQL takes offsets up to ±15:59; ISO 8601 (and Python) up to ±23:59. A filter
    or cursor at -23:00 is an ordinary instant: answered, not a database error."""
    assert call("GET", api(path), api_token, {"created_after": "2026-01-01T00:00:00-23:00"}).status_code == 200
    cursor = base64.b64encode(b"p=2026-12-03T00:00:00-23:00").decode()
    assert call("GET", api(path), api_token, {"cursor": cursor}).status_code == 200


@pytest.mark.parametrize("position", [b"p=2026-12-03' OR 1=1--", b"p=x", b"p=9999-12-31T23:59:59-23:59"])
@pytest.mark.parametrize("path", ["contracts/", "certificates/"])
def test_a_forged_cursor_is_404_invalid_cursor(api_token, path, position):
    cursor = base64.b64encode(position).decode()
    body = assert_problem(call("GET", api(path), api_token, {"cursor": cursor}), 404)
    assert body["detail"] == "Invalid cursor"


# --- the API's request bodies -------------------------------------------------------------

@pytest.fixture
def contract(browser, ev_client, pki):
    approve(browser, ev_client, near_detail())
    return Contract.objects.get()


def _revoke(token, contract, body: bytes, **headers):
    return DjangoClient().post(api(f"contracts/{contract.emaid}/revoke"), body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_json_nested_too_deeply_is_400_not_a_server_error(api_token, contract):
    assert_problem(_revoke(api_token, contract, b"[" * 100_000 + b"]" * 100_000), 400)
    contract.refresh_from_db()
    assert contract.state == Contract.State.AUTHORIZED


def test_a_json_body_over_the_upload_limit_is_413_problem(api_token, contract, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    assert_problem(_revoke(api_token, contract, b'{"reason": "' + b"x" * 2000 + b'"}'), 413)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_without_a_length_is_read_not_taken_for_empty(csms, emsp, driver, ev_client, pki):
    """uvicorn passes a chunked body with no Content-Length; DRF then read it as empty, so
    a revocation for keyCompromise was recorded as `unspecified`, and a bad reason passed."""
    browser = FormClient()
    browser.login(username="driver", password=DRIVER_PASSWORD)
    approve(browser, ev_client, near_detail())
    contract = Contract.objects.get()
    token = live_backend_token(csms, Backend(emsp))

    def send(body: bytes):
        return httpx.post(f"{csms.http}{api(f'contracts/{contract.emaid}/revoke')}", content=iter([body]),
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                          timeout=10)

    too_large = send(b'{"reason": "' + b"x" * 3_000_000 + b'"}')  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    assert too_large.status_code == 413 and too_large.headers["content-type"] == "application/problem+json"
    refused = send(b'{"reason": "nope"}')
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
    assert send(b'{"reason": "keyCompromise"}').status_code == 200
    contract.refresh_from_db()
    assert contract.state == Contract.State.REVOKED
    assert AuditEvent.objects.filter(action="contract.revoked").get().detail["reason"] == "keyCompromise"


@pytest.mark.parametrize("size, answered", [(0, False), (1, True), (32, True), (128, True), (129, False), (4000, False)])
def test_an_ocsp_nonce_must_be_1_to_128_octets(pki, size, answered):
    """RFC 9654 §2.1. We echo the nonce, so one of 4,000 octets came back whole."""
    der = (request_der(certificate(pki[2]), certificate(pki[1]), nonce=b"\x01" * size) if size
           else _request_with_empty_nonce(pki))
    answer = ask_post(der)
    expected = ocsp.OCSPResponseStatus.SUCCESSFUL if answered else ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert answer.response_status == expected


def _request_with_empty_nonce(pki) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate(pki[2]), certificate(pki[1]), hashes.SHA1())
    return builder.add_extension(x509.OCSPNonce(b""), critical=False).build().public_bytes(serialization.Encoding.DER)


# --- /csr ------------------------------------------------------------------------------

@pytest.fixture
def ev_token(browser, ev_client, pki):
    return access_token(browser, ev_client, near_detail())


@pytest.mark.parametrize("extra", ["second CSR", "trailing bytes", "leading bytes"])
def test_a_body_with_more_than_one_certificate_request_is_400(ev_token, extra):
    """cryptography reads the first PEM block and ignores the rest; a body is one request."""
    one, other = csr_for(p256()), csr_for(p256())
    body = {"second CSR": one + other, "trailing bytes": one + b"\x00junk", "leading bytes": b"junk\n" + one}[extra]
    assert_problem(post(body, ev_token), 400, "Certificate request refused")
    assert not IssuedCertificate.objects.exists()


# --- CRL and OCSP GET addresses ---------------------------------------------------------

def test_another_method_on_the_crl_or_ocsp_get_address_is_a_405_problem(pki):
    for url in (f"/pnc/emsp/crl/{pki[2].key_id}.crl", "/pnc/emsp/ocsp/MAA%3D"):
        response = DjangoClient().post(url, b"x", content_type="application/octet-stream")
        assert_problem(response, 405)
        assert response["Allow"] == "GET, HEAD"
    assert DjangoClient().get(f"/pnc/emsp/crl/{pki[2].key_id}.crl").status_code == 200


# --- bodies on the machine path (portal.machine_http) ------------------------------------

def _first_line_of_the_answer(port: int, head: bytes, body_part: bytes) -> bytes:
    """Send the head and the start of a body that is never finished; the answer's status
    line (b"" if none came within 5 s: the server waited for the rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + body_part)
        try:
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except TimeoutError:
            return b""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("framing", ["declared 15 MiB", "chunked"])
def test_an_ocsp_body_over_its_bound_is_refused_without_waiting_for_the_rest(csms, emsp, pki, framing):
    """The machine path read a body whole, up to the server's 16 MiB, before the view's
    8 KiB bound refused it: an outsider could make it take in and hold 16 MiB a request."""
    head = b"POST /pnc/emsp/ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
    if framing == "chunked":
        head += b"Transfer-Encoding: chunked\r\n\r\n"
        part = b"".join(b"1000\r\n" + b"A" * 4096 + b"\r\n" for _ in range(4))  # 16 KiB of an endless body
    else:
        head += f"Content-Length: {15 * 1024 * 1024}\r\n\r\n".encode()
        part = b"A" * 1024
    assert _first_line_of_the_answer(csms.port, head, part) == b"HTTP/1.1 413 Request Entity Too Large"
