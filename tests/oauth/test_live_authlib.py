"""The code flow over real HTTP against uvicorn, with Authlib as the client: PAR by
plain HTTP (Authlib has no PAR), authorize and consent as a driver, then Authlib's
token request with PKCE, and the token used at introspection and refresh."""
import json

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oauth.conftest import DRIVER_PASSWORD, PNC_DETAIL, REDIRECT, query_of
from tests.oauth.live_driver import approve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(csms, emsp, driver, ev_client):
    return csms


def discover(server) -> dict:
    meta = requests.get(f"{server.http}/.well-known/oauth-authorization-server/oauth/emsp", timeout=10).json()
    assert meta["issuer"] == f"{server.http}/oauth/emsp"
    return meta


def test_authlib_code_flow_with_par_pkce_and_rar(server, ev_client):
    meta = discover(server)
    verifier = generate_token(64)
    state = generate_token(16)
    wrapper = {"emsp_id": "oidcharge", "redirect_uri": REDIRECT, "authorization_detail": PNC_DETAIL}
    pushed = requests.post(meta["pushed_authorization_request_endpoint"], data={
        "response_type": "code", "client_id": ev_client.client_id,
        "redirect_uri": REDIRECT, "scope": "ccsr", "state": state,
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
        "authorization_details": json.dumps(wrapper)},
        auth=(ev_client.client_id, ev_client.plain_secret), timeout=10)
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]

    authorize_url = f"{meta['authorization_endpoint']}?client_id={ev_client.client_id}&request_uri={request_uri}"
    callback = approve(server.http, authorize_url, "driver", DRIVER_PASSWORD)
    result = query_of(callback)
    assert result["iss"] == meta["issuer"] and result["state"] == state  # RFC 9207 check, as a client must

    session = OAuth2Session(ev_client.client_id, ev_client.plain_secret, redirect_uri=REDIRECT,
                            token_endpoint_auth_method="client_secret_basic", state=state)
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 600
    assert token["authorization_details"][0]["maximum_transaction_amount"] == {"currency": "EUR", "amount": "100.00"}

    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["access_token"], keys, algorithms=["ES256"]).claims
    assert claims["iss"] == meta["issuer"] and claims["authorization_details"] == token["authorization_details"]

    info = requests.post(meta["introspection_endpoint"], data={"token": token["access_token"]},
                         auth=(ev_client.client_id, ev_client.plain_secret), timeout=10).json()
    assert info["active"] is True and info["authorization_details"] == token["authorization_details"]

    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["authorization_details"] == token["authorization_details"]

    # The server's DEBUG log names what happened and never a credential of the flow.
    log = server.log()
    assert "GET /oauth/emsp/authorize?client_id=example_emsp&request_uri=[redacted] HTTP/1.1" in log
    assert "Logging error" not in log
    for secret in (request_uri.rsplit(":", 1)[1], result["code"], verifier, ev_client.plain_secret,
                   token["access_token"], token["refresh_token"], refreshed["refresh_token"], DRIVER_PASSWORD):
        assert secret not in log


def test_authlib_sees_a_denial_as_access_denied(server, ev_client):
    meta = discover(server)
    session = OAuth2Session(ev_client.client_id, ev_client.plain_secret, redirect_uri=REDIRECT, scope="ccsr",
                            code_challenge_method="S256")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    callback = approve(server.http, url, "driver", DRIVER_PASSWORD, decision="deny")
    result = query_of(callback)
    assert result["error"] == "access_denied" and result["state"] == state and result["iss"] == meta["issuer"]
    assert "code" not in result
