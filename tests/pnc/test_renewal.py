"""Renewing a contract's certificate (ISO 15118 certificate update) through the eMSP
REST API: `POST contracts/<EMAID>/certificates` with the EV's new CSR. The same EMAID and
contract, no new consent; the old certificate stays good until the new one is issued,
then it is revoked as `superseded`. Checked the way relying parties see it: chains with
cryptography's verifier, the CRL and an independent OCSP client."""
from datetime import timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from django.test import Client
from django.utils import timezone

from csms.models import AuditEvent
from pnc import authorities
from pnc.models import Contract, IssuedCertificate
from tests.commands import run_cmd
from tests.pnc import test_api
from tests.pnc.api_client import Backend, api, call
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import assert_problem, csr_for, p256, post, verify_chain
from tests.pnc.test_ocsp import ask_post, certificate, request_der
from tests.pnc.test_revocation import crl_of

# The eMSP backend and its token, and a second eMSP (for isolation), as the API tests have them.
backend, token, other = test_api.backend, test_api.token, test_api.other


@pytest.fixture
def issued(browser, ev_client, pki):
    """(the EV's key, its contract certificate) through the EV's real flow."""
    key = p256()
    response = post(csr_for(key), access_token(browser, ev_client, near_detail()))
    assert response.status_code == 201
    return key, x509.load_pem_x509_certificate(response.content)


def renew_url(contract=None) -> str:
    return api(f"contracts/{(contract or Contract.objects.get()).emaid}/certificates")


def status_of(leaf, issuer) -> ocsp.OCSPResponse:
    return ask_post(request_der(leaf, issuer))


def test_after_a_rollover_the_contract_gets_a_new_certificate_and_the_old_one_is_superseded(
        token, issued, pki):
    _, old_leaf = issued
    root, sub1, old_sub2 = (certificate(row) for row in pki)
    run_cmd("pnc", "ca", "rollover", "emsp")
    assert status_of(old_leaf, old_sub2).certificate_status == ocsp.OCSPCertStatus.GOOD  # not yet replaced
    contract = Contract.objects.get()

    new_key = p256()
    response = call("POST", renew_url(), token, {"csr": csr_for(new_key).decode()})
    assert response.status_code == 201, response.content
    body = response.json()
    new_leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in body["chain_pems"]]
    assert response["Location"].endswith(api(f"certificates/{body['serial_number']}/"))
    assert body["emaid"] == contract.emaid and body["state"] == "valid"
    assert body["replaces"]["serial_number"] == format(old_leaf.serial_number, "x")
    assert body["replaces"]["state"] == "revoked" and body["replaces"]["revocation_reason"] == "superseded"

    # A relying party sees the same EMAID, a new key, from the new Sub-CA 2, chaining to the root.
    assert new_leaf.subject == old_leaf.subject
    assert new_leaf.public_key().public_numbers() == new_key.public_key().public_numbers()
    assert new_leaf.issuer != old_leaf.issuer and chain[1] == sub1
    assert verify_chain(new_leaf, chain, root).chain == [new_leaf, *chain, root]
    assert status_of(new_leaf, chain[0]).certificate_status == ocsp.OCSPCertStatus.GOOD
    answer = status_of(old_leaf, old_sub2)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.superseded
    entry = crl_of(old_leaf)[0].get_revoked_certificate_by_serial_number(old_leaf.serial_number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded

    contract.refresh_from_db()
    assert contract.state == Contract.State.CERTIFICATE_ISSUED  # the same contract, no new consent
    event = AuditEvent.objects.get(action="contract.certificate_renewed")
    assert event.actor == "client:emsp-backend" and event.outcome == "certificate_issued"
    assert event.detail == {"contract": contract.pk, "emaid": contract.emaid, "serial_number": body["serial_number"],
                            "replaces": format(old_leaf.serial_number, "x"), "replaced_reason": "superseded",
                            "why": "issuer replaced", "key": "EC secp256r1"}
    # Renewed once, the new certificate is not due again.
    assert "lasts until the contract ends" in assert_problem(call("POST", renew_url(), token, {"csr": csr_for(p256()).decode()}),
                                           409)["detail"]


def test_a_certificate_near_its_end_is_renewed_until_the_contract_ends(token, issued, pki):
    """A certificate that ends before its contract (the two-year cap, a Sub-CA's end)
    may be renewed in its last 60 days; the CSR may come as the EV sent it."""
    _, old_leaf = issued
    contract = Contract.objects.get()
    # Time has passed: the certificate in force ends in 20 days, the contract later.
    IssuedCertificate.objects.update(not_after=timezone.now() + timedelta(days=20))
    response = _post_pkcs10(renew_url(), token, csr_for(p256(), encoding=serialization.Encoding.PEM))
    assert response.status_code == 201, response.content
    new_leaf = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert new_leaf.not_valid_after_utc == contract.ends_at and new_leaf.issuer == old_leaf.issuer
    assert AuditEvent.objects.get(action="contract.certificate_renewed").detail["why"] == "expires soon"
    assert status_of(old_leaf, certificate(pki[2])).certificate_status == ocsp.OCSPCertStatus.REVOKED


def _post_pkcs10(url, token, body: bytes):
    return Client().post(url, body, content_type="application/pkcs10", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_nothing_to_renew_is_409_and_the_certificate_stays_good(token, issued, pki):
    _, leaf = issued
    detail = assert_problem(call("POST", renew_url(), token, {"csr": csr_for(p256()).decode()}), 409)["detail"]
    assert "lasts until the contract ends" in detail
    assert status_of(leaf, certificate(pki[2])).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert IssuedCertificate.objects.count() == 1
    assert not AuditEvent.objects.filter(action="contract.certificate_renewed").exists()


def test_a_revoked_contract_or_one_without_a_certificate_cannot_renew(token, issued, browser, ev_client):
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get().emaid)
    revoked = Contract.objects.get()
    assert "revoked" in assert_problem(call("POST", renew_url(revoked), token,
                                            {"csr": csr_for(p256()).decode()}), 409)["detail"]
    access_token(browser, ev_client, near_detail())  # approved, no certificate yet
    authorized = Contract.objects.get(state=Contract.State.AUTHORIZED)
    assert "authorized" in assert_problem(call("POST", renew_url(authorized), token,
                                               {"csr": csr_for(p256()).decode()}), 409)["detail"]


def test_bad_requests_are_problems(token, issued, pki):
    key, _ = issued
    run_cmd("pnc", "ca", "rollover", "emsp")
    url = renew_url()
    assert "new key pair" in assert_problem(call("POST", url, token, {"csr": csr_for(key).decode()}),
                                            400)["errors"]["csr"][0]
    assert "PKCS#10" in assert_problem(call("POST", url, token, {"csr": "hello"}), 400)["errors"]["csr"][0]
    assert "csr" in assert_problem(call("POST", url, token, {}), 400)["errors"]
    p384 = csr_for(ec.generate_private_key(ec.SECP384R1())).decode()
    assert "not accepted" in assert_problem(call("POST", url, token, {"csr": p384}), 400)["errors"]["csr"][0]
    assert_problem(_post_pkcs10(url, token, b"A" * (17 * 1024)), 413)
    assert_problem(Client().post(url, "csr", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {token}"), 415)
    assert IssuedCertificate.objects.filter(revoked_at=None).count() == 1  # the one in force, untouched


def test_renewal_needs_emsp_write_and_stays_in_the_tenant(backend, issued, other):
    run_cmd("pnc", "ca", "rollover", "emsp")
    body = {"csr": csr_for(p256()).decode()}
    own = Contract.objects.get(tenant__slug="emsp")
    assert_problem(call("POST", renew_url(own), backend.token("emsp:read"), body), 403)
    assert_problem(call("POST", renew_url(other), backend.token(), body), 404)  # another eMSP's contract
    assert_problem(call("POST", api(f"contracts/{own.emaid}/certificates", tenant="other"),
                        Backend(other.tenant, "other-backend").token(), body), 404)
    assert IssuedCertificate.objects.filter(revoked_at=None).count() == 1


@pytest.mark.django_db(transaction=True)
def test_renewal_over_http(csms, emsp, driver, ev_client, pki):
    """An eMSP backend with httpx against the live server, after a root rollover: the
    renewed chain validates for a station given the new root."""
    from tests.pnc.test_csr_live import registered_token

    token = registered_token(csms, ev_client)
    first = httpx.post(f"{csms.http}/pnc/emsp/csr", content=csr_for(p256()),
                       headers={"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"}, timeout=10)
    assert first.status_code == 201
    old_leaf = x509.load_pem_x509_certificate(first.content)
    run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root")
    backend_token = live_backend_token(csms, Backend(emsp))
    url = f"{csms.http}{renew_url()}"
    response = httpx.post(url, content=csr_for(p256()), timeout=10, headers={
        "Content-Type": "application/pkcs10", "Authorization": f"Bearer {backend_token}"})
    assert response.status_code == 201, response.text
    body = response.json()
    new_root = certificate(authorities.hierarchy(emsp)[3])
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in body["chain_pems"]]
    leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert verify_chain(leaf, chain, certificate(pki[0]), new_root).chain[-1] == new_root
    old_ocsp = httpx.post(f"{csms.http}/pnc/emsp/ocsp", content=request_der(old_leaf, certificate(pki[2])),
                          headers={"Content-Type": "application/ocsp-request"}, timeout=10)
    assert ocsp.load_der_ocsp_response(old_ocsp.content).revocation_reason == x509.ReasonFlags.superseded


def live_backend_token(server, backend: Backend) -> str:
    """The backend's client_credentials token from the live server (its issuer is the
    live server's public URL)."""
    from oauth.client_auth import ASSERTION_TYPE

    endpoint = httpx.get(f"{server.http}/.well-known/oauth-authorization-server/oauth/emsp",
                         timeout=10).json()["token_endpoint"]
    response = httpx.post(endpoint, data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                          "client_assertion": backend.assertion(endpoint)}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
