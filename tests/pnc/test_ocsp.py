"""The OCSP responder (RFC 6960, GET and POST) asked by an independent client:
cryptography's OCSPRequestBuilder, its answers verified against the issuing CA."""
import base64
import os
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from django.test import Client as DjangoClient
from django.utils import timezone

from pnc import authorities
from pnc.models import Contract
from tests.commands import run_cmd
from tests.factories import make_tenant
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import csr_for, post

URL = "/pnc/emsp/ocsp"


@pytest.fixture
def issued(browser, ev_client, pki):
    token = access_token(browser, ev_client, near_detail())
    response = post(csr_for(ec.generate_private_key(ec.SECP256R1())), token)
    assert response.status_code == 201
    return x509.load_pem_x509_certificate(response.content)


def certificate(row) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row.certificate_pem.encode())


def request_der(cert, issuer, algorithm=None, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def ask_post(der: bytes, tenant="emsp"):
    response = DjangoClient().post(f"/pnc/{tenant}/ocsp", der, content_type="application/ocsp-request")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.content)


def ask_get(der: bytes):
    response = DjangoClient().get(f"{URL}/{quote(base64.b64encode(der).decode(), safe='')}")
    assert response.status_code == 200 and response["Content-Type"] == "application/ocsp-response"
    assert "max-age" in response["Cache-Control"]
    return ocsp.load_der_ocsp_response(response.content)


def assert_signed_by(answer: ocsp.OCSPResponse, issuer: x509.Certificate):
    issuer.public_key().verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(answer.signature_hash_algorithm))
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert answer.responder_key_hash == ski and answer.responder_name is None


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()])
@pytest.mark.parametrize("ask", [ask_post, ask_get])
def test_an_issued_certificate_is_good(issued, pki, algorithm, ask):
    sub2 = certificate(pki[2])
    answer = ask(request_der(issued, sub2, algorithm))
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert answer.serial_number == issued.serial_number
    assert answer.hash_algorithm.name == algorithm.name
    assert_signed_by(answer, sub2)
    assert answer.this_update_utc <= timezone.now() < answer.next_update_utc
    assert answer.next_update_utc - answer.this_update_utc == timedelta(hours=12)


@pytest.mark.parametrize("ask", [ask_post, ask_get])
def test_a_revoked_contracts_certificate_is_revoked_with_time_and_reason(issued, pki, ask):
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get().emaid, "--reason", "privilegeWithdrawn")
    answer = ask(request_der(issued, certificate(pki[2])))
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.privilege_withdrawn
    assert abs(answer.revocation_time_utc - timezone.now()) < timedelta(minutes=1)
    assert_signed_by(answer, certificate(pki[2]))


def test_an_unknown_serial_of_our_ca_is_unknown(issued, pki):
    sub2 = certificate(pki[2])
    der = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_hashes(issued, sub2), serial_number=12345, algorithm=hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
    answer = ask_post(der)
    assert answer.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert_signed_by(answer, sub2)


def _hashes(cert, issuer):
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return request.issuer_name_hash, request.issuer_key_hash


def test_a_sub_ca_is_good_when_asked_of_its_issuer(pki):
    answer = ask_post(request_der(certificate(pki[2]), certificate(pki[1])))
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert_signed_by(answer, certificate(pki[1]))


def test_the_nonce_is_echoed(issued, pki):
    nonce = os.urandom(16)
    answer = ask_post(request_der(issued, certificate(pki[2]), nonce=nonce))
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def test_another_tenants_certificates_are_unauthorized_here(issued, pki):
    other = make_tenant("other", is_emsp=True)
    authorities.initialise(other, "setup")
    assert ask_post(request_der(issued, certificate(pki[2])), tenant="other").response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("body", [b"\x30\x00", b"not der at all", b"\x30\x03\x02\x01\x00"])
def test_a_malformed_request_gets_malformed_request(pki, body):
    assert ask_post(body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_get_that_is_no_base64_gets_malformed_request(pki):
    response = DjangoClient().get(f"{URL}/%%%%")
    assert ocsp.load_der_ocsp_response(response.content).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_http_errors_are_problems(pki):
    wrong_type = DjangoClient().post(URL, b"\x30\x00", content_type="application/json")
    assert wrong_type.status_code == 415 and wrong_type["Accept-Post"] == "application/ocsp-request"
    bare = DjangoClient().get(URL)
    assert bare.status_code == 400 and bare["Content-Type"] == "application/problem+json"
    large = DjangoClient().post(URL, b"\x30" * 9000, content_type="application/ocsp-request")
    assert large.status_code == 413
    assert DjangoClient().get("/pnc/nobody/ocsp/AAAA").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_over_http_with_get_and_post_good_revoked_and_unknown(csms, emsp, driver, ev_client, pki):
    """A relying party's view over real HTTP: the responder and CRL the leaf names, asked
    with cryptography's request builder, before and after the contract's revocation."""
    from tests.pnc.test_csr_live import registered_token

    token = registered_token(csms, ev_client)
    response = httpx.post(f"{csms.http}/pnc/emsp/csr", content=csr_for(ec.generate_private_key(ec.SECP256R1())),
                          headers={"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"},
                          timeout=10)
    leaf, sub2 = x509.load_pem_x509_certificate(response.content), certificate(pki[2])
    [ocsp_url] = [d.access_location.value for d in
                  leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value]
    [crl_point] = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value

    def ask_both(der: bytes) -> list[ocsp.OCSPResponse]:
        by_post = httpx.post(ocsp_url, content=der, headers={"Content-Type": "application/ocsp-request"}, timeout=10)
        by_get = httpx.get(f"{ocsp_url}/{quote(base64.b64encode(der).decode(), safe='')}", timeout=10)
        answers = []
        for answer in (by_post, by_get):
            assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/ocsp-response"
            answers.append(ocsp.load_der_ocsp_response(answer.content))
            assert_signed_by(answers[-1], sub2)
        return answers

    nonce = os.urandom(16)
    for answer in ask_both(request_der(leaf, sub2, nonce=nonce)):
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get().emaid, "--reason", "keyCompromise")
    for answer in ask_both(request_der(leaf, sub2, nonce=nonce)):
        assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason == x509.ReasonFlags.key_compromise
        assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    never_issued = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_hashes(leaf, sub2), serial_number=leaf.serial_number + 1, algorithm=hashes.SHA1()).build()
    for answer in ask_both(never_issued.public_bytes(serialization.Encoding.DER)):
        assert answer.certificate_status == ocsp.OCSPCertStatus.UNKNOWN

    crl = x509.load_der_x509_crl(httpx.get(crl_point.full_name[0].value, timeout=10).content)
    assert crl.is_signature_valid(sub2.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
