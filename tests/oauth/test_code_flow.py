"""The authorization code flow in-process: PAR, authorize, consent, token, refresh,
introspection, revocation, and every rule on the way (RFC 6749, 7636, 9126, 9207, 9396)."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from oauth.models import AccessToken, Grant, PushedRequest, RefreshToken
from tests.factories import make_tenant
from tests.oauth.conftest import (
    DRIVER_PASSWORD,
    PNC_DETAIL,
    REDIRECT,
    basic,
    consent_path,
    pkce_pair,
    query_of,
)
from tests.oauth.conftest import (
    FormClient as Browser,
)

ISSUER = "http://127.0.0.1:8000/oauth/emsp"


@pytest.fixture
def browser(driver):
    b = Browser()
    b.login(username="driver", password=DRIVER_PASSWORD)
    return b


def push(http, client, secret=None, **params):
    verifier, challenge = pkce_pair()
    body = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": "ccsr",
            "state": "OacnSace5b", "authorization_details": json.dumps([PNC_DETAIL])}
    body.update(params)
    body = {k: v for k, v in body.items() if v is not None}
    response = http.post("/oauth/emsp/par", body,
                         HTTP_AUTHORIZATION=basic(client.client_id, secret or client.plain_secret))
    return response, verifier


def authorize_and_approve(browser, client, request_uri, decision="approve"):
    response = browser.get("/oauth/emsp/authorize", {"client_id": client.client_id, "request_uri": request_uri})
    assert response.status_code == 303, response.content
    page = consent_path(response["Location"])
    assert browser.get(page).status_code == 200
    return browser.post(page, {"decision": decision})


def code_for(browser, ev_client, **push_params):
    pushed, verifier = push(Browser(), ev_client, **push_params)
    assert pushed.status_code == 201, pushed.content
    answer = authorize_and_approve(browser, ev_client, pushed.json()["request_uri"])
    assert answer.status_code == 303
    return query_of(answer["Location"])["code"], verifier


def exchange(ev_client, code, verifier, **overrides):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    body.update(overrides)
    return Browser().post("/oauth/emsp/token", {k: v for k, v in body.items() if v is not None},
                          HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))


def introspect(client, token, **extra):
    return Browser().post("/oauth/emsp/introspect", {"token": token, **extra},
                          HTTP_AUTHORIZATION=basic(client.client_id, client.plain_secret)).json()


# --- metadata ------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/.well-known/oauth-authorization-server/oauth/emsp",
                                 "/oauth/emsp/.well-known/openid-configuration"])
def test_metadata_names_every_endpoint_and_capability(client, emsp, ev_client, url):
    response = client.get(url, HTTP_ORIGIN="https://user-agent.example.com")
    assert response["Access-Control-Allow-Origin"] == "*"  # browser apps discover the server
    meta = response.json()
    assert meta["issuer"] == ISSUER
    for name in ("par", "authorize", "token", "jwks", "introspect", "revoke"):
        assert any(v == f"{ISSUER}/{name}" for v in meta.values()), name
    assert meta["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert meta["require_pushed_authorization_requests"] is False
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_details_types_supported"] == ["pnc_contract_request"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in meta["grant_types_supported"]
    assert {"client_secret_basic", "private_key_jwt"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "none" not in [a.lower() for a in meta["token_endpoint_auth_signing_alg_values_supported"]]
    assert not any(a.startswith("HS") for a in meta["token_endpoint_auth_signing_alg_values_supported"])
    assert "ccsr" in meta["scopes_supported"]


def test_only_emsp_osdm_and_operator_tenants_run_an_authorization_server(client, db):
    make_tenant("cpo", operates_charging_stations=False)  # a tenant of no kind yet
    assert client.get("/.well-known/oauth-authorization-server/oauth/cpo").status_code == 404
    assert client.post("/oauth/cpo/token", {"grant_type": "client_credentials"}).status_code == 404
    assert client.get("/oauth/nobody/authorize").status_code == 404


def test_require_par_shows_in_metadata(client, emsp):
    emsp.require_pushed_authorization_requests = True
    emsp.save()
    assert client.get("/oauth/emsp/.well-known/openid-configuration").json()[
        "require_pushed_authorization_requests"] is True


# --- PAR -------------------------------------------------------------------------------------

def test_par_answers_201_with_a_single_use_request_uri(client, ev_client):
    response, _ = push(client, ev_client)
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    assert set(body) == {"request_uri", "expires_in"}
    # Only a hash of the request URI's secret is stored.
    secret = body["request_uri"].rsplit(":", 1)[1]
    assert not PushedRequest.objects.filter(handle__contains=secret).exists()


def test_par_accepts_the_reference_ev_wrapper_and_stores_the_rfc_array(client, ev_client):
    wrapper = {"emsp_id": "oidcharge", "redirect_uri": REDIRECT, "authorization_detail": PNC_DETAIL}
    response, _ = push(client, ev_client, authorization_details=json.dumps(wrapper))
    assert response.status_code == 201, response.content
    [stored] = PushedRequest.objects.get().authorization_details
    assert stored["type"] == "pnc_contract_request"
    assert stored["maximum_amount"] == {"currency": "EUR", "amount": "234.56"}


@pytest.mark.parametrize("params, error", [
    ({"redirect_uri": "https://evil.example.com/redirect"}, "invalid_request"),
    ({"redirect_uri": REDIRECT + "/"}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\n"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "ccsr admin"}, "invalid_scope"),
    ({"authorization_details": "{not json"}, "invalid_authorization_details"),
    ({"authorization_details": json.dumps([{**PNC_DETAIL, "maximum_amount": {"currency": "EUR",
                                                                              "amount": "-1"}}])},
     "invalid_authorization_details"),
    ({"authorization_details": json.dumps([{"type": "payment_initiation"}])}, "invalid_authorization_details"),
    ({"authorization_details": json.dumps(PNC_DETAIL)}, "invalid_authorization_details"),
    ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"response_type": None}, "invalid_request"),
    ({"redirect_uri": "http://127.0.0.1:8765/redirect"}, "invalid_request"),
])
def test_par_validates_every_parameter_at_push_time(client, ev_client, params, error):
    response, _ = push(client, ev_client, **params)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert response["Cache-Control"] == "no-store"
    assert not PushedRequest.objects.exists()


def test_a_client_may_be_limited_to_some_authorization_details_types(client, emsp):
    from oauth.registration import ClientSpec, add_client
    limited, secret = add_client(emsp, ClientSpec(client_id="limited", name="", redirect_uris=[REDIRECT],
                                                  grant_types=["authorization_code"], scopes=["ccsr"],
                                                  auth_method="client_secret_basic", detail_types=[]))
    limited.plain_secret = secret
    refused, _ = push(client, limited)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_authorization_details"
    assert "not allowed for this client" in refused.json()["error_description"]
    without_details, _ = push(client, limited, authorization_details=None)
    assert without_details.status_code == 201


def test_par_refuses_repeated_parameters_and_json_bodies(client, ev_client):
    auth = basic(ev_client.client_id, ev_client.plain_secret)
    repeated = client.post("/oauth/emsp/par", "response_type=code&scope=ccsr&scope=profile",
                           content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=auth)
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    as_json = client.post("/oauth/emsp/par", {"response_type": "code"}, content_type="application/json",
                          HTTP_AUTHORIZATION=auth)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_par_needs_client_authentication(client, ev_client, secret):
    response, _ = push(client, ev_client, secret=secret or "x")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic realm=")


def test_par_without_any_credentials_is_401(client, ev_client):
    response = client.post("/oauth/emsp/par", {"client_id": ev_client.client_id, "response_type": "code"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_par_with_two_authentication_methods_is_refused(client, ev_client):
    response, _ = push(client, ev_client, client_secret=ev_client.plain_secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_client_secret_is_stored_hashed(ev_client):
    ev_client.refresh_from_db()
    assert ev_client.client_secret.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert ev_client.plain_secret not in ev_client.client_secret


# --- authorize and consent -------------------------------------------------------------------

def test_full_flow_carries_the_approved_details_into_code_token_and_introspection(browser, ev_client, emsp):
    pushed, verifier = push(Browser(), ev_client)
    request_uri = pushed.json()["request_uri"]
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp", "request_uri": request_uri})
    assert response.status_code == 303
    page = browser.get(consent_path(response["Location"]))
    text = page.content.decode()
    assert "Example EV" in text and "OpenID Charge" in text and "user-agent.example.com" in text
    assert "€234.56" in text and "€100.00" in text and "1 July 2030" in text and "1 July 2031" in text
    answer = browser.post(consent_path(response["Location"]), {"decision": "approve"})
    assert answer.status_code == 303
    assert answer["Location"].startswith(REDIRECT + "?")
    result = query_of(answer["Location"])
    assert set(result) == {"code", "state", "iss"}
    assert result["state"] == "OacnSace5b" and result["iss"] == ISSUER

    token = exchange(ev_client, result["code"], verifier)
    assert token.status_code == 200, token.content
    assert token["Cache-Control"] == "no-store"
    body = token.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and body["scope"] == "ccsr"
    assert body["refresh_token"]
    [detail] = body["authorization_details"]
    assert detail["type"] == "pnc_contract_request" and detail["maximum_amount"]["amount"] == "234.56"

    keys = KeySet.import_key_set(Browser().get("/oauth/emsp/jwks").json())
    decoded = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == ISSUER and claims["client_id"] == "example_emsp"
    assert claims["aud"] == "http://127.0.0.1:8000/api/v1/tenants/emsp"
    assert claims["sub"] == str(ev_client.tenant.memberships.get().user.pk)
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"] and claims["scope"] == "ccsr"
    assert claims["authorization_details"] == body["authorization_details"]

    info = introspect(ev_client, body["access_token"])
    assert info["active"] is True and info["authorization_details"] == body["authorization_details"]
    assert info["username"] == "driver" and info["client_id"] == "example_emsp" and info["jti"] == claims["jti"]
    # No token is stored in the clear.
    assert not AccessToken.objects.filter(token=body["access_token"]).exists()
    assert not RefreshToken.objects.filter(token=body["refresh_token"]).exists()


def test_login_comes_first_and_returns_to_consent(ev_client, driver):
    pushed, _ = push(Browser(), ev_client)
    b = Browser()
    response = b.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                               "request_uri": pushed.json()["request_uri"]})
    page = consent_path(response["Location"])
    login = b.get(page)
    assert login.status_code == 302 and login["Location"].startswith("/login/?next=")
    signed_in = b.post(login["Location"], {"username": "driver", "password": DRIVER_PASSWORD,
                                           "next": page})
    assert signed_in.status_code == 302 and signed_in["Location"] == page
    assert b.get(page).status_code == 200


def test_deny_returns_access_denied_with_state_and_iss(browser, ev_client):
    pushed, _ = push(Browser(), ev_client)
    answer = authorize_and_approve(browser, ev_client, pushed.json()["request_uri"], decision="deny")
    assert answer.status_code == 303
    result = query_of(answer["Location"])
    assert result["error"] == "access_denied" and result["state"] == "OacnSace5b" and result["iss"] == ISSUER
    assert not Grant.objects.exists()


def test_a_decision_is_taken_once(browser, ev_client):
    pushed, _ = push(Browser(), ev_client)
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                     "request_uri": pushed.json()["request_uri"]})
    page = consent_path(response["Location"])
    assert browser.post(page, {"decision": "approve"}).status_code == 303
    again = browser.post(page, {"decision": "approve"})
    assert again.status_code == 400
    assert Grant.objects.count() == 1


def test_a_repeated_decision_is_refused_not_read_as_its_last(browser, ev_client):
    """`decision=deny&decision=approve` was an approval (Django's QueryDict.get takes the
    last value); the OAuth endpoints refuse repeated parameters, and so does consent."""
    pushed, _ = push(Browser(), ev_client)
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                     "request_uri": pushed.json()["request_uri"]})
    page = consent_path(response["Location"])
    repeated = browser.post(page, "decision=deny&decision=approve", content_type="application/x-www-form-urlencoded")
    assert repeated.status_code == 400
    assert Grant.objects.count() == 0
    assert browser.post(page, {"decision": "deny"}).status_code == 303  # still undecided until then


def test_consent_needs_the_csrf_token(driver, ev_client):
    b = Browser(enforce_csrf_checks=True)
    b.login(username="driver", password=DRIVER_PASSWORD)
    pushed, _ = push(Browser(), ev_client)
    response = b.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                               "request_uri": pushed.json()["request_uri"]})
    assert b.post(consent_path(response["Location"]), {"decision": "approve"}).status_code == 403
    assert not Grant.objects.exists()


def test_consent_is_bound_to_the_browser_that_opened_the_request(browser, ev_client, emsp):
    pushed, _ = push(Browser(), ev_client)
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                     "request_uri": pushed.json()["request_uri"]})
    other = Browser()
    other.login(username="driver", password=DRIVER_PASSWORD)
    assert other.post(consent_path(response["Location"]), {"decision": "approve"}).status_code == 400


def test_a_user_of_another_tenant_cannot_consent(ev_client, db):
    from django.contrib.auth import get_user_model

    from tenants.models import Membership
    outsider = get_user_model().objects.create_user("outsider", password=DRIVER_PASSWORD)
    Membership.objects.create(user=outsider, tenant=make_tenant("other", is_emsp=True))
    b = Browser()
    b.login(username="outsider", password=DRIVER_PASSWORD)
    pushed, _ = push(Browser(), ev_client)
    response = b.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                               "request_uri": pushed.json()["request_uri"]})
    assert b.get(consent_path(response["Location"])).status_code == 403


def test_request_uri_is_single_use(browser, ev_client):
    pushed, _ = push(Browser(), ev_client)
    params = {"client_id": "example_emsp", "request_uri": pushed.json()["request_uri"]}
    assert browser.get("/oauth/emsp/authorize", params).status_code == 303
    again = browser.get("/oauth/emsp/authorize", params)
    assert again.status_code == 400 and b"invalid_request_uri" in again.content


def test_request_uri_expires_after_60_seconds(browser, ev_client):
    pushed, _ = push(Browser(), ev_client)
    PushedRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                     "request_uri": pushed.json()["request_uri"]})
    assert response.status_code == 400 and b"expired" in response.content


def test_request_uri_is_bound_to_the_client_that_pushed_it(browser, ev_client, emsp):
    from oauth.registration import ClientSpec, add_client
    add_client(emsp, ClientSpec(client_id="other", name="", redirect_uris=[REDIRECT],
                                grant_types=["authorization_code"], scopes=["ccsr"],
                                auth_method="client_secret_basic"))
    pushed, _ = push(Browser(), ev_client)
    response = browser.get("/oauth/emsp/authorize", {"client_id": "other",
                                                     "request_uri": pushed.json()["request_uri"]})
    assert response.status_code == 400


def test_unknown_client_at_authorize_stays_on_our_error_page(browser, ev_client):
    response = browser.get("/oauth/emsp/authorize", {"client_id": "nobody", "redirect_uri": REDIRECT})
    assert response.status_code == 400 and "Location" not in response


def test_query_string_requests_work_when_par_is_not_required(browser, ev_client):
    verifier, challenge = pkce_pair()
    response = browser.get("/oauth/emsp/authorize", {
        "client_id": "example_emsp", "response_type": "code", "redirect_uri": REDIRECT, "scope": "ccsr",
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "xyz"})
    assert response.status_code == 303
    answer = browser.post(consent_path(response["Location"]), {"decision": "approve"})
    result = query_of(answer["Location"])
    assert result["state"] == "xyz"
    assert exchange(ev_client, result["code"], verifier).status_code == 200


def test_query_string_errors_go_back_to_the_client_with_iss(browser, ev_client):
    _, challenge = pkce_pair()
    response = browser.get("/oauth/emsp/authorize", {
        "client_id": "example_emsp", "response_type": "code", "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "plain", "state": "s1"})
    assert response.status_code == 303
    result = query_of(response["Location"])
    assert result == {"error": "invalid_request", "error_description": "code_challenge_method must be S256",
                      "state": "s1", "iss": ISSUER}


def test_an_unregistered_redirect_uri_is_never_redirected_to(browser, ev_client):
    _, challenge = pkce_pair()
    response = browser.get("/oauth/emsp/authorize", {
        "client_id": "example_emsp", "response_type": "code", "redirect_uri": "https://evil.example/cb",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    assert response.status_code == 400 and "Location" not in response


@pytest.mark.parametrize("where", ["tenant", "client"])
def test_par_required_refuses_query_string_requests(browser, ev_client, emsp, where):
    if where == "tenant":
        emsp.require_pushed_authorization_requests = True
        emsp.save()
    else:
        ev_client.require_par = True
        ev_client.save()
    _, challenge = pkce_pair()
    response = browser.get("/oauth/emsp/authorize", {
        "client_id": "example_emsp", "response_type": "code", "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    assert response.status_code == 400 and b"PAR" in response.content
    pushed, _ = push(Browser(), ev_client)
    assert browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                 "request_uri": pushed.json()["request_uri"]}).status_code == 303


# --- token endpoint: authorization code -----------------------------------------------------

def test_code_is_single_use_and_a_replay_revokes_what_it_issued(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    first = exchange(ev_client, code, verifier).json()
    replay = exchange(ev_client, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert introspect(ev_client, first["access_token"]) == {"active": False}
    assert introspect(ev_client, first["refresh_token"]) == {"active": False}


def test_code_expires_after_60_seconds(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    grant = Grant.objects.get()
    assert grant.expires - grant.created <= timedelta(seconds=60)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(ev_client, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("overrides, error", [
    ({"code_verifier": "x" * 43}, "invalid_grant"),
    ({"code_verifier": None}, "invalid_request"),
    ({"redirect_uri": "https://user-agent.example.com/other"}, "invalid_grant"),
    ({"redirect_uri": None}, "invalid_grant"),  # the authorization request named one: repeat it
    ({"code": "not-a-code"}, "invalid_grant"),
])
def test_code_exchange_rules(browser, ev_client, overrides, error):
    code, verifier = code_for(browser, ev_client)
    overrides = dict(overrides)
    response = exchange(ev_client, overrides.pop("code", code), verifier, **overrides)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_a_wrong_verifier_burns_the_code(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    assert exchange(ev_client, code, "y" * 43).status_code == 400
    assert exchange(ev_client, code, verifier).json()["error"] == "invalid_grant"


def test_another_client_cannot_redeem_the_code(browser, ev_client, backend_client):
    code, verifier = code_for(browser, ev_client)
    response = Browser().post("/oauth/emsp/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": "backend", "client_secret": backend_client.plain_secret})
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


# --- refresh, client credentials, errors ------------------------------------------------------

def refresh(ev_client, token, **extra):
    return Browser().post("/oauth/emsp/token", {"grant_type": "refresh_token", "refresh_token": token, **extra},
                          HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    first = exchange(ev_client, code, verifier).json()
    second = refresh(ev_client, first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["authorization_details"] == first["authorization_details"]
    assert introspect(ev_client, first["access_token"]) == {"active": False}
    reuse = refresh(ev_client, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert introspect(ev_client, second["refresh_token"]) == {"active": False}
    assert introspect(ev_client, second["access_token"]) == {"active": False}


def test_refresh_may_narrow_but_not_widen_the_scope(browser, ev_client):
    code, verifier = code_for(browser, ev_client, scope="ccsr profile")
    first = exchange(ev_client, code, verifier).json()
    narrowed = refresh(ev_client, first["refresh_token"], scope="ccsr").json()
    assert narrowed["scope"] == "ccsr"
    back = refresh(ev_client, narrowed["refresh_token"], scope="ccsr profile")
    assert back.status_code == 200 and back.json()["scope"] == "ccsr profile"
    wider = refresh(ev_client, back.json()["refresh_token"], scope="ccsr admin")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_client_credentials(backend_client):
    def token(**body):
        return Browser().post("/oauth/emsp/token", {"grant_type": "client_credentials", "client_id": "backend",
                                                    "client_secret": backend_client.plain_secret, **body})
    whole = token().json()
    assert whole["scope"] == "emsp:read emsp:write" and "refresh_token" not in whole
    assert token(scope="emsp:read").json()["scope"] == "emsp:read"
    assert token(scope="ccsr").json()["error"] == "invalid_scope"


@pytest.mark.parametrize("grant_type, error", [
    ("password", "unsupported_grant_type"),
    ("implicit", "unsupported_grant_type"),
    ("authorization_code", "unauthorized_client"),
])
def test_grant_type_errors(backend_client, grant_type, error):
    response = Browser().post("/oauth/emsp/token", {"grant_type": grant_type, "client_id": "backend",
                                                    "client_secret": backend_client.plain_secret})
    assert response.status_code == 400 and response.json()["error"] == error


def test_wrong_method_for_the_client_is_invalid_client(backend_client):
    response = Browser().post("/oauth/emsp/token", {"grant_type": "client_credentials"},
                              HTTP_AUTHORIZATION=basic("backend", backend_client.plain_secret))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response


def test_token_endpoint_is_post_only(backend_client):
    assert Browser().get("/oauth/emsp/token").status_code == 405


# --- introspection and revocation -------------------------------------------------------------

def test_a_client_cannot_introspect_or_revoke_another_clients_token(browser, ev_client, backend_client):
    code, verifier = code_for(browser, ev_client)
    token = exchange(ev_client, code, verifier).json()["access_token"]
    other = Browser().post("/oauth/emsp/introspect", {"token": token, "client_id": "backend",
                                                      "client_secret": backend_client.plain_secret}).json()
    assert other == {"active": False}
    revoked = Browser().post("/oauth/emsp/revoke", {"token": token, "client_id": "backend",
                                                    "client_secret": backend_client.plain_secret})
    assert revoked.status_code == 400 and revoked.json()["error"] == "unauthorized_client"
    assert introspect(ev_client, token)["active"] is True


def test_revoking_an_access_token_revokes_its_refresh_token(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    tokens = exchange(ev_client, code, verifier).json()
    response = Browser().post("/oauth/emsp/revoke", {"token": tokens["access_token"]},
                              HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert response.status_code == 200
    assert introspect(ev_client, tokens["access_token"]) == {"active": False}
    assert refresh(ev_client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_still_200(ev_client):
    response = Browser().post("/oauth/emsp/revoke", {"token": "nonsense"},
                              HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert response.status_code == 200


# --- tenant isolation ----------------------------------------------------------------------------

def test_a_client_of_one_tenant_is_unknown_to_another(backend_client, db):
    make_tenant("other", is_emsp=True)
    response = Browser().post("/oauth/other/token", {"grant_type": "client_credentials", "client_id": "backend",
                                                     "client_secret": backend_client.plain_secret})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


# --- redirect URIs --------------------------------------------------------------------------

def test_redirect_uri_may_be_left_out_when_exactly_one_is_registered(browser, ev_client):
    code, verifier = code_for(browser, ev_client, redirect_uri=None)
    assert Grant.objects.get().redirect_uri == REDIRECT
    assert exchange(ev_client, code, verifier, redirect_uri=None).status_code == 200


def test_redirect_uri_is_required_when_several_are_registered(client, ev_client):
    ev_client.redirect_uris = f"{REDIRECT} https://user-agent.example.com/second"
    ev_client.save()
    response, _ = push(client, ev_client, redirect_uri=None)
    assert response.status_code == 400 and "redirect_uri" in response.json()["error_description"]


@pytest.mark.parametrize("uri, ok", [
    ("http://127.0.0.1:53127/cb", True),
    ("http://127.0.0.1/cb", True),
    ("http://127.0.0.1:53127/other", False),
    ("http://localhost:53127/cb", False),
    ("http://127.0.0.1:53127/cb?x=1", False),
    ("http://user@127.0.0.1:53127/cb", False),
])
def test_loopback_redirect_uris_match_on_any_port(client, emsp, uri, ok):
    from oauth.registration import ClientSpec, add_client
    native, secret = add_client(emsp, ClientSpec(client_id="native", name="", redirect_uris=["http://127.0.0.1/cb"],
                                                 grant_types=["authorization_code"], scopes=["ccsr"],
                                                 auth_method="client_secret_basic"))
    native.plain_secret = secret
    response, _ = push(client, native, redirect_uri=uri)
    assert (response.status_code == 201) is ok, response.content


# --- robustness: clean OAuth errors, never a 500 -------------------------------------------------

def test_nul_characters_are_refused_cleanly(client, ev_client, browser):
    assert browser.get("/oauth/emsp/authorize", {"client_id": "example\x00emsp"}).status_code == 400
    response = client.post("/oauth/emsp/token", {"grant_type": "client_credentials", "client_id": "a\x00b",
                                                 "client_secret": "x"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    nul_in_basic = client.post("/oauth/emsp/token", {"grant_type": "client_credentials"},
                               HTTP_AUTHORIZATION=basic("a\x00b", "x"))
    assert nul_in_basic.status_code == 401


@pytest.mark.parametrize("header", ["Basic \u00e9", "Basic !!!", "Basic " + "QQ==", "Digest abc"])
def test_malformed_client_credentials_are_401(client, ev_client, header):
    response = client.post("/oauth/emsp/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_deeply_nested_client_assertion_is_refused_cleanly(client, ev_client):
    import base64 as b64
    payload = b64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    response = client.post("/oauth/emsp/token", {
        "grant_type": "client_credentials", "client_assertion": f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_wrong_method_and_oversized_bodies_get_json_errors(client, ev_client, settings):
    got = client.get("/oauth/emsp/token")
    assert got.status_code == 405 and got["Allow"] == "POST" and got.json()["error"] == "invalid_request"
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    many = client.post("/oauth/emsp/par", {f"p{i}": "x" for i in range(20)},
                       HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert many.status_code == 413 and many.json()["error"] == "invalid_request"


def test_error_descriptions_stay_within_the_rfc_6749_character_set(client, ev_client):
    response, _ = push(client, ev_client, scope='ccsr "x\\ \u00e9')
    description = response.json()["error_description"]
    assert response.json()["error"] == "invalid_scope"
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description)


# --- who may hold tokens -------------------------------------------------------------------------

def test_a_driver_sees_nothing_of_the_fleet(client, driver, emsp):
    response = client.get("/api/v1/tenants/emsp/stations/", HTTP_AUTHORIZATION=basic("driver", DRIVER_PASSWORD))
    assert response.status_code == 403 and "viewer role" in response.json()["detail"]
    b = Browser()
    b.login(username="driver", password=DRIVER_PASSWORD)
    assert b.get("/")["Location"] == "/my/"  # their own page (pnc.pages), not the fleet's dashboard
    page = b.get("/my/").content.decode()
    assert "Charging stations" not in page
    assert ">Stations</a>" not in page  # no way into the portal from the header


def test_a_deactivated_driver_loses_refresh_and_api_access(browser, ev_client, driver):
    code, verifier = code_for(browser, ev_client)
    tokens_ = exchange(ev_client, code, verifier).json()
    driver.is_active = False
    driver.save()
    assert refresh(ev_client, tokens_["refresh_token"]).json()["error"] == "invalid_grant"
    from oauth import tokens as token_module
    with pytest.raises(token_module.InvalidToken):
        token_module.verify_access_token(ev_client.tenant, tokens_["access_token"])


def test_a_driver_removed_from_the_tenant_cannot_refresh(browser, ev_client, driver):
    code, verifier = code_for(browser, ev_client)
    tokens_ = exchange(ev_client, code, verifier).json()
    driver.memberships.all().delete()
    assert refresh(ev_client, tokens_["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_does_not_extend_the_grant_for_ever(browser, ev_client):
    code, verifier = code_for(browser, ev_client)
    first = exchange(ev_client, code, verifier).json()
    second = refresh(ev_client, first["refresh_token"]).json()
    RefreshToken.objects.update(family_expires_at=timezone.now() - timedelta(seconds=1))
    assert refresh(ev_client, second["refresh_token"]).json()["error"] == "invalid_grant"


# --- housekeeping --------------------------------------------------------------------------------

def test_housekeeping_deletes_only_what_has_expired(browser, ev_client):
    from oauth.housekeeping import purge_expired
    from oauth.tasks import purge_expired_oauth_records
    code, verifier = code_for(browser, ev_client)
    live = exchange(ev_client, code, verifier).json()
    push(Browser(), ev_client)  # an unopened pushed request, still valid
    assert purge_expired_oauth_records.apply().get() == {
        "pushed_requests": 0, "used_assertions": 0, "refresh_tokens": 0, "access_tokens": 0, "codes": 0}
    next_day = purge_expired(now=timezone.now() + timedelta(days=1))
    assert next_day == {"pushed_requests": 2, "used_assertions": 0, "refresh_tokens": 0, "access_tokens": 1,
                        "codes": 0}  # the used code is kept while what it issued might live
    assert introspect(ev_client, live["access_token"]) == {"active": False}
    assert introspect(ev_client, live["refresh_token"])["active"] is True
    next_month = purge_expired(now=timezone.now() + timedelta(days=31))
    assert next_month["refresh_tokens"] == 1 and next_month["codes"] == 1


def test_the_consent_screen_names_scopes_in_words_and_says_which_it_cannot_explain(browser, ev_client):
    pushed, _ = push(Browser(), ev_client, scope="ccsr profile")
    response = browser.get("/oauth/emsp/authorize", {"client_id": "example_emsp",
                                                     "request_uri": pushed.json()["request_uri"]})
    page = browser.get(consent_path(response["Location"])).content.decode()
    assert "Ask for a Plug &amp; Charge contract certificate for your vehicle" in page
    assert "<code>ccsr</code>" in page  # the code too, for who knows it
    # profile has no words here: shown as its code, said to be unexplained, never guessed
    assert "<code>profile</code>" in page and "has no description of this permission" in page
