"""JWT assertions over real HTTP with Authlib as the independent client, for both
RFC 7523 forms, and single use of a jti under concurrent requests."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
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
