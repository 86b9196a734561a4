"""Bearer on a live uvicorn server, end to end with real clients: a station's public key
registered by `station key add`, an access token from the tenant's real token endpoint
with Authlib's jwt-bearer client (the assertion signed by the station's key), then an
OCPP 1.6 and 2.0.1 WebSocket (`websockets`) with `Authorization: Bearer`.

Refused tokens are refused with `WWW-Authenticate: Bearer realm=..., error="invalid_token"`:
another audience, another station's token, expired, revoked (RFC 7009 and `station key
retire`), a tampered signature, `none` and HS256, another tenant's token; a malformed
header is a 400; a station whose methods leave Bearer out is challenged even with a
valid token (downgrade protection), and `error=` appears only when a token was presented.
The negative tokens not obtainable from the endpoint are signed here with the tenant's
real signing key (what a bug or a leak in the AS would produce)."""
import base64
import hashlib
import hmac
import json
import time

import pytest
import requests
import websockets
from authlib.integrations.requests_client import AssertionSession
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from csms.models import Station
from oauth import signing_keys
from oauth.models import SigningKey
from tests.commands import run_cmd
from tests.csms.test_station_auth_live import status_of
from tests.factories import make_station, make_tenant
from tests.stations import station_url

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")]

CP1_KEY = ECKey.generate_key("P-256", parameters={"kid": "cp1-2026"})
CP2_KEY = OKPKey.generate_key("Ed25519", parameters={"kid": "cp2-2026"})
BETA_KEY = ECKey.generate_key("P-256", parameters={"kid": "beta-cp1"})
REALM = 'realm="Chargegate acme"'


def connect(server, identity, token=None, protocols=("ocpp1.6",), headers=None, tenant="acme"):
    sent = headers if headers is not None else ({"Authorization": f"Bearer {token}"} if token else {})
    return websockets.connect(station_url(server, tenant, identity), subprotocols=list(protocols),
                              additional_headers=sent, open_timeout=10, ping_interval=None)


def register(tmp_path, tenant, identity, key, methods="bearer,basic"):
    pem = tmp_path / f"{tenant}-{identity}.pem"
    pem.write_bytes(key.as_pem(private=False))
    shown = json.loads(run_cmd("station", "key", "add", tenant, identity, str(pem), "--kid", key.kid, "--json"))
    run_cmd("station", "auth", "set", tenant, identity, "--methods", methods)
    return shown


def fetch_token(server, tenant, identity, key, alg) -> dict:
    """What a station does: sign an assertion (RFC 7523 §2.1) with its key and ask the
    tenant's token endpoint, through Authlib's jwt-bearer client."""
    token_endpoint = f"{server.http}/oauth/{tenant}/token"
    session = AssertionSession(
        token_endpoint=token_endpoint, issuer=identity, subject=identity, audience=token_endpoint,
        grant_type=AssertionSession.JWT_BEARER_GRANT_TYPE, key=key.as_pem(private=True),
        header={"alg": alg, "kid": key.kid, "typ": "JWT"})
    return session.refresh_token()


@pytest.fixture
def acme(csms, tmp_path):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    make_station(tenant, "CP2")
    make_station(tenant, "CP3")
    register(tmp_path, "acme", "CP1", CP1_KEY)
    register(tmp_path, "acme", "CP2", CP2_KEY)
    return csms


def forged(server, claims: dict, *, header=None, tenant="acme") -> str:
    """A token signed with the tenant's real active key, with the claims given over a
    valid station token's."""
    key = SigningKey.objects.get(tenant__slug=tenant, state="active")
    now = int(time.time())
    base = {"iss": f"{server.http}/oauth/{tenant}", "sub": "CP1", "aud": f"{server.ws}/ocpp/{tenant}",
            "client_id": "ocpp-stations", "scope": "ocpp", "iat": now, "exp": now + 300, "jti": "forged-1"}
    return jwt.encode(header or {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, {**base, **claims},
                      signing_keys.private_jwk(key), algorithms=[key.alg])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_station_gets_a_token_with_its_key_and_connects_with_it_on_both_versions(acme, run):
    issued = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")
    assert issued["token_type"].lower() == "bearer" and issued["expires_in"] == 300
    claims = json.loads(base64.urlsafe_b64decode(issued["access_token"].split(".")[1] + "=="))
    assert (claims["sub"], claims["aud"]) == ("CP1", f"{acme.ws}/ocpp/acme")
    assert status_of(run, connect(acme, "CP1", issued["access_token"])) == (101, [])
    assert Station.objects.get(identity="CP1").last_auth_method == "bearer"
    assert status_of(run, connect(acme, "CP1", issued["access_token"], protocols=("ocpp2.0.1",))) == (101, [])
    # An Ed25519 station (EdDSA) the same way.
    other = fetch_token(acme, "acme", "CP2", CP2_KEY, "EdDSA")
    assert status_of(run, connect(acme, "CP2", other["access_token"], protocols=("ocpp2.0.1",))) == (101, [])


def test_the_401_offers_bearer_and_says_invalid_token_only_when_one_was_presented(acme, run):
    assert status_of(run, connect(acme, "CP1")) == (401, [f"Bearer {REALM}", f"Basic {REALM}"])
    status, challenges = status_of(run, connect(acme, "CP1", "not.a-jwt.at-all"))
    assert status == 401
    assert challenges[0].startswith(f'Bearer {REALM}, error="invalid_token", error_description="')
    assert challenges[1] == f"Basic {REALM}"
    wrong_basic = {"Authorization": "Basic " + base64.b64encode(b"CP1:" + b"x" * 20).decode()}
    assert status_of(run, connect(acme, "CP1", headers=wrong_basic)) == (401, [f"Bearer {REALM}", f"Basic {REALM}"])


def refusal(run, server, identity, token) -> str:
    status, challenges = status_of(run, connect(server, identity, token))
    assert status == 401, status
    assert challenges[0].startswith(f'Bearer {REALM}, error="invalid_token"'), challenges
    assert token not in challenges[0]
    return challenges[0].split('error_description="', 1)[1].rstrip('"')


def test_tokens_for_another_audience_station_or_time_are_refused(acme, run):
    cp2 = fetch_token(acme, "acme", "CP2", CP2_KEY, "EdDSA")["access_token"]
    assert refusal(run, acme, "CP1", cp2) == "the token is for another station"
    assert refusal(run, acme, "CP1", forged(acme, {"aud": f"{acme.http}/api/v1/tenants/acme"})) == \
        "the token is not for this OCPP endpoint"
    assert refusal(run, acme, "CP1", forged(acme, {"exp": int(time.time()) - 60})) == "the token has expired"
    assert refusal(run, acme, "CP1", forged(acme, {"iss": "https://elsewhere.example/oauth/acme"})) == \
        "the token is from another issuer"
    # Signed by the tenant's key with every claim right, but never issued (no record): refused.
    assert refusal(run, acme, "CP1", forged(acme, {})) == "the token is revoked or was never issued"


def test_revoked_tokens_and_retired_keys_are_refused(acme, run):
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    assert status_of(run, connect(acme, "CP1", token)) == (101, [])
    revoked = requests.post(f"{acme.http}/oauth/acme/revoke", data={"token": token, "client_id": "ocpp-stations"},
                            timeout=10)
    assert revoked.status_code == 200
    assert refusal(run, acme, "CP1", token) == "the token is revoked or was never issued"
    fresh = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    retired = json.loads(run_cmd("station", "key", "retire", "acme", "CP1", "cp1-2026", "--json"))
    assert retired["tokens_revoked"] == 1 and retired["active"] is False
    assert refusal(run, acme, "CP1", fresh) == "the token is revoked or was never issued"
    with pytest.raises(Exception, match="invalid_grant"):  # the retired key obtains nothing more
        fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")


def test_bad_signatures_none_hs256_and_another_tenants_tokens_are_refused(acme, run, tmp_path):
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refusal(run, acme, "CP1", f"{head}.{body}.{flipped}") == "the token signature does not verify"
    kid = json.loads(base64.urlsafe_b64decode(head + "=="))["kid"]
    none = b64url(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
    assert refusal(run, acme, "CP1", f"{none}.{body}.") == "unsigned and symmetric algorithms are refused"
    hs = b64url(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    public = json.dumps(SigningKey.objects.get(kid=kid).public_jwk).encode()
    mac = b64url(hmac.new(public, f"{hs}.{body}".encode(), hashlib.sha256).digest())
    assert refusal(run, acme, "CP1", f"{hs}.{body}.{mac}") == "unsigned and symmetric algorithms are refused"

    make_station(make_tenant("beta"), "CP1")
    register(tmp_path, "beta", "CP1", BETA_KEY)
    beta = fetch_token(acme, "beta", "CP1", BETA_KEY, "ES256")["access_token"]
    assert status_of(run, connect(acme, "CP1", beta, tenant="beta")) == (101, [])
    assert refusal(run, acme, "CP1", beta) == "the token is not signed by a key of this tenant"


def test_malformed_bearer_headers_are_400(acme, run):
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    for headers in ({"Authorization": "Bearer"}, {"Authorization": f"Bearer {token} trailing"},
                    {"Authorization": "Bearer " + "a" * 5000},
                    [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]):
        assert status_of(run, connect(acme, "CP1", headers=headers)) == (400, [])
    assert status_of(run, connect(acme, "CP1", headers={"Authorization": f"bearer   {token}"})) == (101, [])


def test_bearer_is_refused_where_the_station_may_not_use_it(acme, run):
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "basic")
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    assert status_of(run, connect(acme, "CP1", token)) == (401, [f"Basic {REALM}"])
    # A station without a key of its own is refused a Bearer list unless forced.
    with pytest.raises(Exception, match="no method they hold a credential"):
        run_cmd("station", "auth", "set", "acme", "CP3", "--methods", "bearer")


def test_before_the_tenant_signs_its_first_token_a_bearer_is_refused_as_not_from_this_tenant(csms, run, tmp_path):
    """A tenant whose stations registered keys but which never issued a token has no
    signing key yet: the refusal says that, not that the tenant issues no tokens."""
    make_station(make_tenant("fresh"), "CP1")
    register(tmp_path, "fresh", "CP1", CP1_KEY)
    assert not SigningKey.objects.filter(tenant__slug="fresh").exists()
    elsewhere = ECKey.generate_key("P-256", parameters={"kid": "elsewhere"})
    now = int(time.time())
    token = jwt.encode({"alg": "ES256", "kid": "elsewhere", "typ": "at+jwt"},
                       {"iss": f"{csms.http}/oauth/fresh", "sub": "CP1", "aud": f"{csms.ws}/ocpp/fresh",
                        "iat": now, "exp": now + 300, "jti": "j-1"}, elsewhere, algorithms=["ES256"])
    status, challenges = status_of(run, connect(csms, "CP1", token, tenant="fresh"))
    assert status == 401
    assert challenges[0] == ('Bearer realm="Chargegate fresh", error="invalid_token", '
                             'error_description="the token is not from this tenant: it has no signing key yet"')
