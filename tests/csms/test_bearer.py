"""The Bearer scheme's decision (csms/auth/bearer.py) without a server: which tokens
are let in, what each refusal's challenge says, and what is malformed (400). Tokens are
signed here with joserfc; the keys are what the authorization server would publish."""
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from csms.auth import bearer, keys
from csms.auth.schemes import Decision, Subject
from csms.auth.station_auth import authenticate
from lib import jose
from lib.station_authority import BearerKeys, ocpp_audience

ISSUER = "https://cg.example/oauth/acme"
AUDIENCE = ocpp_audience("https://cg.example", "acme")
SIGNER = ECKey.generate_key("P-256", parameters={"kid": "k-active"})
NEXT = RSAKey.generate_key(2048, parameters={"kid": "k-next"})


def published() -> BearerKeys:
    return BearerKeys(ISSUER, AUDIENCE, ("ES256", "PS256"), {
        "k-active": ("ES256", jose.key_fitting(SIGNER.as_dict(private=False), "ES256")),
        "k-next": ("PS256", jose.key_fitting(NEXT.as_dict(private=False), "PS256"))})


def token(key=SIGNER, alg="ES256", header=None, **claims) -> str:
    now = int(time.time())
    # A day long: the parameters below are made at collection, perhaps minutes before they run.
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "CP1", "iat": now, "exp": now + 86400, "jti": "j1", **claims}
    return jwt.encode(header or {"alg": alg, "kid": key.kid, "typ": "at+jwt"}, body, key, algorithms=[alg])


def subject(methods=("bearer", "basic"), store=None) -> Subject:
    return Subject(identity="CP1", realm="Chargegate acme", methods=methods, keys=keys.StoredKeys(()),
                   accept_hex=True, bearer=store if store is not None else keys.StoredBearer(published()))


def decide(value: str, s: Subject | None = None):
    return authenticate(s or subject(), [f"Bearer {value}".encode()])


def test_a_valid_token_of_the_active_or_the_next_key_is_let_in_with_its_jti():
    for t in (token(), token(NEXT, "PS256", jti="j2")):
        result = decide(t)
        assert (result.decision, result.method) == (Decision.OK, "bearer")
    assert decide(token(jti="j9")).token_id == "j9"


def test_the_audience_is_the_tenants_ocpp_endpoint():
    assert ocpp_audience("https://cg.example/", "acme") == "wss://cg.example/ocpp/acme"
    assert ocpp_audience("http://127.0.0.1:8000", "b") == "ws://127.0.0.1:8000/ocpp/b"


@pytest.mark.parametrize("value, description", [
    (token(sub="CP2"), bearer.WRONG_STATION),
    (token(aud="https://cg.example/api/v1/tenants/acme"), bearer.WRONG_AUDIENCE),
    (token(aud=[]), bearer.WRONG_AUDIENCE),
    (token(iss="https://other.example/oauth/acme"), bearer.WRONG_ISSUER),
    (token(exp=int(time.time()) - 10), bearer.EXPIRED),
    (token(exp=str(int(time.time()) + 86400)), bearer.NOT_A_TOKEN),
    (token(nbf=int(time.time()) + 43200), bearer.NOT_YET),
    (token(jti=""), bearer.NOT_A_TOKEN),
    (token(header={"alg": "ES256", "kid": "k-active", "typ": "JWT"}), bearer.NOT_A_TOKEN),  # an assertion
    (token(header={"alg": "ES256", "kid": "k-gone", "typ": "at+jwt"}), bearer.UNKNOWN_KEY),
    (token(header={"alg": "ES256", "kid": "k-next", "typ": "at+jwt"}), bearer.BAD_SIGNATURE),  # kid/alg mismatch
    (token(ECKey.generate_key("P-256", parameters={"kid": "k-active"})), bearer.BAD_SIGNATURE),
    ("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0Iiwia2lkIjoiay1hY3RpdmUifQ.eyJzdWIiOiJDUDEifQ.",
     bearer.REFUSED_ALGORITHM),
    ("opaque-token-not-a-jwt", bearer.NOT_A_TOKEN),
])
def test_each_refusal_is_a_401_whose_bearer_challenge_says_invalid_token(value, description):
    result = decide(value)
    assert result.decision is Decision.CHALLENGE
    assert result.challenges == [
        f'Bearer realm="Chargegate acme", error="invalid_token", error_description="{description}"',
        'Basic realm="Chargegate acme"']
    assert value not in " ".join(result.challenges) + result.reason


def test_no_authorization_server_or_no_signing_key_yet_say_so_and_other_failures_carry_no_error():
    assert decide(token(), subject(store=keys.StoredBearer(None))).challenges[0].endswith(
        'error_description="no authorization server here issues station tokens"')
    unsigned_yet = keys.StoredBearer(BearerKeys(issuer="x", audience="y", algorithms=("ES256",), keys={}))
    assert decide(token(), subject(store=unsigned_yet)).challenges[0].endswith(
        'error_description="the token is not from this tenant: it has no signing key yet"')
    assert authenticate(subject(), []).challenges == ['Bearer realm="Chargegate acme"',
                                                      'Basic realm="Chargegate acme"']
    basic = authenticate(subject(), [b"Basic Q1AxOnh4eHh4eHh4eHh4eHh4eHh4eHh4eA=="])
    assert basic.challenges[0] == 'Bearer realm="Chargegate acme"'


def test_a_station_not_allowed_bearer_is_challenged_even_with_a_valid_token():
    result = decide(token(), subject(methods=("basic",)))
    assert (result.decision, result.challenges) == (Decision.CHALLENGE, ['Basic realm="Chargegate acme"'])


@pytest.mark.parametrize("header", [b"Bearer", b"Bearer a b", b'Bearer token="x"', b"Bearer " + b"a" * 5000])
def test_malformed_bearer_credentials_are_400(header):
    assert authenticate(subject(), [header]).decision is Decision.MALFORMED


def test_two_authorization_headers_are_400():
    assert authenticate(subject(), [f"Bearer {token()}".encode()] * 2).decision is Decision.MALFORMED
