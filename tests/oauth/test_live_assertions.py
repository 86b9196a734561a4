"""JWT assertions over real HTTP with Authlib as the independent client, for both
RFC 7523 forms, and single use of a jti under concurrent requests."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import AssertionSession, OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from oauth.models import GrantType, TrustedKey
from oauth.registration import ClientSpec, TrustSpec, add_client, add_trust
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)
CONSUMER_KEY = RSAKey.generate_key(2048, parameters={"kid": "osdm-2026"})
CLIENT_KEY = ECKey.generate_key("P-256", parameters={"kid": "pkj-2026"})


@pytest.fixture
def rail(csms):
    tenant = make_tenant("rail", is_osdm_provider=True)
    consumer, _ = add_client(tenant, ClientSpec(client_id="osdm-consumer", name="", redirect_uris=[],
                                                grant_types=[GrantType.JWT_BEARER], scopes=["uic_osdm"],
                                                auth_method="client_secret_basic"))
    add_trust(consumer, TrustSpec(issuer="https://osdm-consumer.eu/", subject="UIC_OSDM_1080_4", kid="osdm-2026",
                                  key_text=CONSUMER_KEY.as_pem(private=False).decode(), algorithms=["RS256"],
                                  scopes=["uic_osdm"]))
    import json
    add_client(tenant, ClientSpec(
        client_id="pkj-consumer", name="", redirect_uris=[], grant_types=[GrantType.CLIENT_CREDENTIALS],
        scopes=["uic_osdm"], auth_method="private_key_jwt",
        jwks_text=json.dumps({"keys": [{**CLIENT_KEY.as_dict(private=False), "alg": "ES256"}]})))
    return csms


def token_url(server) -> str:
    return f"{server.http}/oauth/rail/token"


def osdm_identity(server, access_token):
    return requests.get(f"{server.http}/api/v1/tenants/rail/osdm/identity",
                        headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def test_authlib_jwt_bearer_grant_to_the_osdm_endpoint(rail):
    session = AssertionSession(
        token_endpoint=token_url(rail), issuer="https://osdm-consumer.eu/", subject="UIC_OSDM_1080_4",
        audience=token_url(rail), grant_type=AssertionSession.JWT_BEARER_GRANT_TYPE, scope="uic_osdm",
        key=CONSUMER_KEY.as_pem(private=True), header={"alg": "RS256", "kid": "osdm-2026", "typ": "JWT"},
        claims={"scope": "uic_osdm"})
    token = session.refresh_token()
    assert token["expires_in"] == 600 and token["scope"] == "uic_osdm"
    identity = osdm_identity(rail, token["access_token"])
    assert identity.status_code == 200 and identity.json()["consumer"] == "UIC_OSDM_1080_4"


def test_authlib_private_key_jwt_client_credentials(rail):
    url = token_url(rail)
    session = OAuth2Session("pkj-consumer", CLIENT_KEY, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(PrivateKeyJWT(url, headers={"kid": "pkj-2026", "typ": "JWT"}, alg="ES256"))
    token = session.fetch_token(url, grant_type="client_credentials", scope="uic_osdm")
    assert token["scope"] == "uic_osdm"
    assert osdm_identity(rail, token["access_token"]).json()["client_id"] == "pkj-consumer"
    # A second fetch signs a fresh assertion (new jti) and succeeds too.
    assert session.fetch_token(url, grant_type="client_credentials", scope="uic_osdm")["access_token"]


def test_a_jti_is_spent_once_under_concurrency(rail):
    from authlib.oauth2.rfc7523 import JWTBearerGrant
    assertion = JWTBearerGrant.sign(CONSUMER_KEY.as_pem(private=True), issuer="https://osdm-consumer.eu/",
                                    audience=token_url(rail), subject="UIC_OSDM_1080_4", expires_at=None,
                                    header={"alg": "RS256", "kid": "osdm-2026", "typ": "JWT"},
                                    claims={"scope": "uic_osdm", "jti": "one-and-only"})

    def attempt(_):
        return requests.post(token_url(rail), data={"grant_type": GrantType.JWT_BEARER, "assertion": assertion,
                                                    "scope": "uic_osdm"}, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses.count(200) == 1 and statuses.count(400) == 7, statuses
    assert TrustedKey.objects.count() == 2


def grant_assertion(server, **claims):
    from authlib.oauth2.rfc7523 import JWTBearerGrant
    return JWTBearerGrant.sign(CONSUMER_KEY.as_pem(private=True), issuer="https://osdm-consumer.eu/",
                               audience=token_url(server), subject="UIC_OSDM_1080_4", expires_at=None,
                               header={"alg": "RS256", "kid": "osdm-2026", "typ": "JWT"},
                               claims={"scope": "uic_osdm", **claims})


def seed_grant(server):
    return requests.post(token_url(server), data={"grant_type": GrantType.JWT_BEARER, "scope": "uic_osdm",
                                                  "assertion": grant_assertion(server)}, timeout=30)


def signed_kid_and_claims(server, response):
    from joserfc import jwt
    from joserfc.jwk import KeySet
    jwks = KeySet.import_key_set(requests.get(f"{server.http}/oauth/rail/jwks", timeout=10).json())
    token = jwt.decode(response.json()["access_token"], jwks, algorithms=["ES256", "PS256"])
    return token.header["kid"], token.claims


def test_a_rotation_made_elsewhere_signs_the_servers_next_token(rail):
    import json

    from tests.commands import run_cmd
    before = seed_grant(rail)
    old_kid, _ = signed_kid_and_claims(rail, before)  # the server has opened its key by now
    rotated = json.loads(run_cmd("oauth", "keys", "rotate", "rail", "--alg", "PS256", "--now", "--json"))
    after = seed_grant(rail)
    new_kid, claims = signed_kid_and_claims(rail, after)
    assert new_kid == rotated["kid"] != old_kid and claims["sub"] == "UIC_OSDM_1080_4"
    assert signed_kid_and_claims(rail, before)[0] == old_kid  # still published, still good
    assert osdm_identity(rail, before.json()["access_token"]).status_code == 200
    assert osdm_identity(rail, after.json()["access_token"]).status_code == 200


def test_retiring_a_trust_record_or_a_clients_grant_refuses_the_next_request(rail):
    from oauth.models import Client
    from tests.commands import run_cmd
    url = token_url(rail)
    session = OAuth2Session("pkj-consumer", CLIENT_KEY, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(PrivateKeyJWT(url, headers={"kid": "pkj-2026", "typ": "JWT"}, alg="ES256"))
    assert session.fetch_token(url, grant_type="client_credentials", scope="uic_osdm")["access_token"]
    Client.objects.filter(client_id="pkj-consumer").update(grant_types=[GrantType.JWT_BEARER])
    with pytest.raises(OAuthError, match="unauthorized_client"):
        session.fetch_token(url, grant_type="client_credentials", scope="uic_osdm")

    assert seed_grant(rail).status_code == 200
    run_cmd("oauth", "trust", "retire", "rail", "https://osdm-consumer.eu/", "osdm-2026")
    refused = seed_grant(rail)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
