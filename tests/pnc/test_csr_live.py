"""The PnC registration over real HTTP against uvicorn: discovery, PAR with the reference
EV's body shape, the driver's consent, Authlib's token request with PKCE, the CSR with
httpx, the chain verified with cryptography; and an oversized chunked body (no
Content-Length) refused with 413 while it is read, not after."""
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pnc.models import Contract, IssuedCertificate
from tests.oauth.conftest import DRIVER_PASSWORD, REDIRECT, query_of
from tests.oauth.live_driver import approve
from tests.pnc.conftest import near_detail
from tests.pnc.test_csr import csr_for, verify_chain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(csms, emsp, driver, ev_client, pki):
    return csms


def registered_token(server, ev_client) -> str:
    meta = httpx.get(f"{server.http}/.well-known/oauth-authorization-server/oauth/emsp", timeout=10).json()
    verifier, state = generate_token(64), generate_token(16)
    wrapper = {"emsp_id": "oidcharge", "redirect_uri": REDIRECT, "authorization_detail": near_detail()}
    pushed = httpx.post(meta["pushed_authorization_request_endpoint"], data={
        "response_type": "code", "client_id": ev_client.client_id, "redirect_uri": REDIRECT, "scope": "ccsr",
        "state": state, "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
        "authorization_details": json.dumps(wrapper)}, auth=(ev_client.client_id, ev_client.plain_secret), timeout=10)
    assert pushed.status_code == 201, pushed.text
    authorize = (f"{meta['authorization_endpoint']}?client_id={ev_client.client_id}"
                 f"&request_uri={pushed.json()['request_uri']}")
    callback = approve(server.http, authorize, "driver", DRIVER_PASSWORD)
    assert query_of(callback)["iss"] == meta["issuer"]
    session = OAuth2Session(ev_client.client_id, ev_client.plain_secret, redirect_uri=REDIRECT,
                            token_endpoint_auth_method="client_secret_basic", state=state)
    return session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                               code_verifier=verifier)["access_token"]


def test_registration_end_to_end_over_http(server, ev_client, pki):
    token = registered_token(server, ev_client)
    response = httpx.post(f"{server.http}/pnc/emsp/csr", content=csr_for(ec.generate_private_key(ec.SECP256R1())),
                          headers={"Content-Type": "application/pkcs10", "Authorization": f"bearer {token}",
                                   "Accept": "application/pem-certificate-chain"}, timeout=10)
    assert response.status_code == 201, response.text
    leaf, sub2, sub1 = x509.load_pem_x509_certificates(response.content)
    root = x509.load_pem_x509_certificate(pki[0].certificate_pem.encode())
    assert verify_chain(leaf, [sub2, sub1], root).chain[-1] == root
    contract = Contract.objects.get()
    assert leaf.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == contract.emaid
    assert contract.state == Contract.State.CERTIFICATE_ISSUED


def test_an_oversized_chunked_body_is_refused_while_read(server, ev_client):
    token = registered_token(server, ev_client)

    def chunks():
        yield csr_for(ec.generate_private_key(ec.SECP256R1()))
        for _ in range(64):
            yield b"\n" * 1024

    response = httpx.post(f"{server.http}/pnc/emsp/csr", content=chunks(),
                          headers={"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"},
                          timeout=10)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert Contract.objects.get().state == Contract.State.AUTHORIZED


def test_two_concurrent_requests_for_one_authorization_get_one_certificate(server, ev_client):
    token = registered_token(server, ev_client)

    def send(_):
        return httpx.post(f"{server.http}/pnc/emsp/csr", content=csr_for(ec.generate_private_key(ec.SECP256R1())),
                          headers={"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"},
                          timeout=20).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(send, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert IssuedCertificate.objects.count() == 1
