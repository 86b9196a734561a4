"""JWT assertions at the token endpoint, both RFC 7523 forms, through one validator:
§2.1 (`grant_type=jwt-bearer`, the OSDM seed's form) and §2.2 (`private_key_jwt` with
client_credentials, the current OSDM form) — the valid journey up to the OSDM endpoint,
single-use jti, and the RFC 8725 attack catalogue against each form."""
import pytest
from django.conf import settings
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from oauth.client_auth import ASSERTION_TYPE
from oauth.models import AccessToken, GrantType, TrustedKey
from oauth.registration import ClientSpec, add_client
from tests.factories import make_tenant
from tests.oauth.assertion_attacks import OSDM_SUBJECT, make_cast

TOKEN_URL = "http://127.0.0.1:8000/oauth/rail/token"
JWT_BEARER = GrantType.JWT_BEARER
SEED = make_cast(audience=TOKEN_URL)  # §2.1: the OSDM consumer's iss and sub
CLIENT_AUTH = make_cast(issuer="pkj-consumer", subject="pkj-consumer", audience=TOKEN_URL, kid="pkj-key-1")
LIMITS = {"leeway_seconds": settings.OAUTH["ASSERTION_LEEWAY_SECONDS"],
          "max_lifetime_seconds": settings.OAUTH["ASSERTION_MAX_LIFETIME_SECONDS"]}


@pytest.fixture
def rail(db):
    return make_tenant("rail", name="Rail Provider", is_osdm_provider=True)


def trust(client, cast):
    for fields in cast.records():
        TrustedKey.objects.create(tenant=client.tenant, client=client, **fields)


@pytest.fixture
def consumer(rail):
    """§2.1: assertions are the grant; the consumer needs no client secret."""
    client, _ = add_client(rail, ClientSpec(client_id="osdm-consumer", name="OSDM consumer", redirect_uris=[],
                                            grant_types=[JWT_BEARER], scopes=["uic_osdm"],
                                            auth_method="client_secret_basic"))
    trust(client, SEED)
    return client


@pytest.fixture
def pkj_client(rail):
    """§2.2: a client authenticating with private_key_jwt, using client_credentials."""
    import json
    jwks = json.dumps({"keys": [{**CLIENT_AUTH.good.public_jwk(), "kid": "pkj-key-1", "alg": "RS256"}]})
    client, secret = add_client(rail, ClientSpec(
        client_id="pkj-consumer", name="OSDM consumer (private_key_jwt)", redirect_uris=[],
        grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=["uic_osdm"], auth_method="private_key_jwt",
        jwks_text=jwks))
    assert secret is None
    for fields in CLIENT_AUTH.records()[1:]:  # the weak and mismatched records, for their attacks
        TrustedKey.objects.create(tenant=rail, client=client, **fields)
    return client


def seed_form(client, assertion, **extra):
    return client.post("/oauth/rail/token", {"grant_type": JWT_BEARER, "assertion": assertion,
                                             "scope": "uic_osdm", **extra})


def client_auth_form(client, assertion, **extra):
    return client.post("/oauth/rail/token", {"grant_type": "client_credentials", "client_assertion_type":
                                             ASSERTION_TYPE, "client_assertion": assertion, **extra})


def decoded(client, token):
    return jwt.decode(token, KeySet.import_key_set(client.get("/oauth/rail/jwks").json()), algorithms=["ES256"])


def test_seed_form_gives_a_token_for_the_osdm_endpoint(client, consumer):
    response = seed_form(client, SEED.good())
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 600 and body["scope"] == "uic_osdm" and "refresh_token" not in body
    token = decoded(client, body["access_token"])
    assert token.header["typ"] == "at+jwt"
    assert token.claims["sub"] == OSDM_SUBJECT and token.claims["client_id"] == "osdm-consumer"

    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access_token']}"}
    identity = client.get("/api/v1/tenants/rail/osdm/identity", **auth)
    assert identity.status_code == 200
    assert identity.json() == {"consumer": OSDM_SUBJECT, "client_id": "osdm-consumer", "scope": "uic_osdm",
                               "token_expires_at": token.claims["exp"]}


def test_osdm_endpoint_refuses_missing_revoked_and_foreign_tokens(client, consumer):
    missing = client.get("/api/v1/tenants/rail/osdm/identity")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer ")
    token = seed_form(client, SEED.good()).json()["access_token"]
    make_tenant("other-rail", is_osdm_provider=True)
    foreign = client.get("/api/v1/tenants/other-rail/osdm/identity", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert foreign.status_code == 401
    AccessToken.objects.all().delete()  # revoked
    revoked = client.get("/api/v1/tenants/rail/osdm/identity", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert revoked.status_code == 401
    assert revoked["WWW-Authenticate"] == 'Bearer realm="http://127.0.0.1:8000/oauth/rail", error="invalid_token"'
    assert missing["WWW-Authenticate"] == 'Bearer realm="http://127.0.0.1:8000/oauth/rail"'


def test_osdm_endpoint_needs_the_uic_osdm_scope(client, rail):
    client_, secret = add_client(rail, ClientSpec(client_id="other", name="", redirect_uris=[],
                                                  grant_types=["client_credentials"], scopes=["reports"],
                                                  auth_method="client_secret_post"))
    token = client.post("/oauth/rail/token", {"grant_type": "client_credentials", "client_id": "other",
                                              "client_secret": secret}).json()["access_token"]
    response = client.get("/api/v1/tenants/rail/osdm/identity", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403 and "insufficient_scope" in response.json()["detail"]
    assert response["WWW-Authenticate"] == ('Bearer realm="http://127.0.0.1:8000/oauth/rail", '
                                            'error="insufficient_scope", scope="uic_osdm"')


def test_seed_form_jti_is_single_use(client, consumer):
    assertion = SEED.good()
    assert seed_form(client, assertion).status_code == 200
    replay = seed_form(client, assertion)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "jti" in replay.json()["error_description"]


def test_seed_form_with_a_scope_beyond_the_trust_record(client, consumer):
    response = seed_form(client, SEED.good(), scope="uic_osdm admin")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_seed_form_with_client_authentication_of_another_client_is_refused(client, consumer, rail):
    _, secret = add_client(rail, ClientSpec(client_id="intruder", name="", redirect_uris=[],
                                            grant_types=[JWT_BEARER], scopes=["uic_osdm"],
                                            auth_method="client_secret_post"))
    response = seed_form(client, SEED.good(), client_id="intruder", client_secret=secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_retired_key_is_refused(client, consumer):
    from django.utils import timezone
    TrustedKey.objects.filter(kid=SEED.good.kid).update(retired_at=timezone.now())
    response = seed_form(client, SEED.good())
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_client_auth_form_gives_a_token(client, pkj_client):
    response = client_auth_form(client, CLIENT_AUTH.good(), scope="uic_osdm")
    assert response.status_code == 200, response.content
    claims = decoded(client, response.json()["access_token"]).claims
    assert claims["sub"] == "pkj-consumer" and claims["client_id"] == "pkj-consumer"
    assert claims["scope"] == "uic_osdm"


def test_client_auth_form_jti_is_single_use(client, pkj_client):
    assertion = CLIENT_AUTH.good()
    assert client_auth_form(client, assertion).status_code == 200
    replay = client_auth_form(client, assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert replay["WWW-Authenticate"].startswith("Basic realm=")


def test_a_secret_cannot_stand_in_for_private_key_jwt(client, pkj_client):
    response = client.post("/oauth/rail/token", {"grant_type": "client_credentials", "client_id": "pkj-consumer",
                                                 "client_secret": ""})
    assert response.status_code == 401


@pytest.mark.parametrize("attack", SEED.attacks(**LIMITS), ids=lambda a: a.name)
def test_seed_form_attack_is_refused(client, consumer, attack):
    response = seed_form(client, attack.token)
    assert response.status_code == 400, response.content
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("attack", CLIENT_AUTH.attacks(**LIMITS), ids=lambda a: a.name)
def test_client_auth_form_attack_is_refused(client, pkj_client, attack):
    response = client_auth_form(client, attack.token)
    assert response.status_code in (400, 401), response.content
    if response.status_code == 401:
        assert response.json()["error"] == "invalid_client" and "WWW-Authenticate" in response
    else:
        assert response.json()["error"] == "invalid_request"
    assert not AccessToken.objects.exists()


def test_the_catalogue_covers_the_issue_list():
    names = {a.name for a in SEED.attacks(**LIMITS)}
    for expected in ("alg-none", "alg-None", "hs256-keyed-with-public-pem", "foreign-kid", "wrong-iss",
                     "wrong-sub", "wrong-aud", "expired", "future-nbf", "missing-jti", "string-exp", "string-nbf",
                     "embedded-jwk-attacker-key", "jku-attacker-url", "oversized", "duplicate-payload-member"):
        assert any(expected in n for n in names), expected


def test_a_refused_request_spends_its_jti_all_the_same(client, consumer, pkj_client, rail):
    # The jti is spent with the token's record, in one transaction; a request refused
    # after its assertion was verified still spends it, so it works once, right or wrong.
    _, secret = add_client(rail, ClientSpec(client_id="intruder", name="", redirect_uris=[],
                                            grant_types=[JWT_BEARER], scopes=["uic_osdm"],
                                            auth_method="client_secret_post"))
    seed = SEED.good()
    assert seed_form(client, seed, client_id="intruder", client_secret=secret).json()["error"] == "invalid_grant"
    replay = seed_form(client, seed)
    assert replay.status_code == 400 and "jti" in replay.json()["error_description"]
    own = CLIENT_AUTH.good()
    refused = client.post("/oauth/rail/token", {"grant_type": JWT_BEARER, "assertion": SEED.good(),
                                                "client_assertion_type": ASSERTION_TYPE, "client_assertion": own})
    assert refused.json()["error"] == "unauthorized_client"
    replay = client_auth_form(client, own, scope="uic_osdm")
    assert replay.status_code == 401 and "jti" in replay.json()["error_description"]


def test_a_replayed_jti_records_no_token(client, consumer):
    assertion = SEED.good()
    assert seed_form(client, assertion).status_code == 200
    assert seed_form(client, assertion).status_code == 400
    assert AccessToken.objects.filter(tenant=consumer.tenant).count() == 1


def test_retiring_or_disabling_takes_effect_on_the_next_request(client, consumer, pkj_client):
    from django.utils import timezone
    assert seed_form(client, SEED.good()).status_code == 200
    consumer.grant_types = [GrantType.CLIENT_CREDENTIALS]
    consumer.save()
    assert seed_form(client, SEED.good()).json()["error"] == "unauthorized_client"
    assert client_auth_form(client, CLIENT_AUTH.good()).status_code == 200
    TrustedKey.objects.filter(client=pkj_client, kid="pkj-key-1").update(retired_at=timezone.now())
    assert client_auth_form(client, CLIENT_AUTH.good()).status_code == 401


def test_tokens_are_signed_with_the_key_active_now(client, consumer):
    from oauth import signing_keys
    from oauth.models import SigningKey
    first = decoded(client, seed_form(client, SEED.good()).json()["access_token"]).header["kid"]
    rotated = signing_keys.rotate(consumer.tenant, at_once=True)
    second = decoded(client, seed_form(client, SEED.good()).json()["access_token"]).header["kid"]
    assert first != second == rotated.kid
    # A rotation another process made (straight in the database) is seen as soon.
    SigningKey.objects.filter(pk=rotated.pk).update(state=SigningKey.State.RETIRING)
    SigningKey.objects.filter(tenant=consumer.tenant, kid=first).update(state=SigningKey.State.ACTIVE)
    assert decoded(client, seed_form(client, SEED.good()).json()["access_token"]).header["kid"] == first


def test_each_tenant_signs_with_its_own_key(client, consumer):
    from oauth import signing_keys
    from oauth.issuer import authorization_server
    from oauth.models import SigningKey
    make_tenant("tram", is_osdm_provider=True)
    theirs = signing_keys.signer(authorization_server("tram", signs=True))  # opened in this process
    # Even a tenant row that names another tenant's kid gets only its own key.
    rail = authorization_server("rail", signs=True)
    setattr(rail, signing_keys.ACTIVE_KID, theirs.kid)
    ours = signing_keys.signer(rail)
    assert ours.kid == SigningKey.objects.get(tenant=consumer.tenant, state="active").kid != theirs.kid
    token = seed_form(client, SEED.good()).json()["access_token"]
    tram_jwks = KeySet.import_key_set(client.get("/oauth/tram/jwks").json())
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(token, tram_jwks, algorithms=["ES256"])
