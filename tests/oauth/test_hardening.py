"""Issue 8, OAuth items: control characters and lax loopback rules in redirect URIs, a
JWT assertion spent once on the whole platform, JSON errors for an unknown tenant, and a
client's secret hash kept out of the admin's form."""
import pytest
from django.contrib.auth import get_user_model

from oauth.models import GrantType, TrustedKey
from oauth.registration import ClientSpec, RegistrationError, add_client
from tests.factories import make_tenant
from tests.oauth.assertion_attacks import make_cast
from tests.oauth.conftest import REDIRECT, pkce_pair
from tests.oauth.conftest import FormClient as Browser
from tests.oauth.test_code_flow import push

LOOPBACK = "http://127.0.0.1:8765/callback"


@pytest.fixture
def native(emsp):
    """A native app on the loopback (RFC 8252 §7.3), allowed to send query-string requests."""
    client, secret = add_client(emsp, ClientSpec(
        client_id="native", name="Native EV app", redirect_uris=[LOOPBACK],
        grant_types=[GrantType.AUTHORIZATION_CODE], scopes=["ccsr"], auth_method="client_secret_basic"))
    client.plain_secret = secret
    return client


def authorize_query(client, redirect_uri):
    _, challenge = pkce_pair()
    return {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": "ccsr", "state": "s"}


CONTROL = ["http://127.0.0.1:8765\n/callback", "http://127.0.0.1:8765\r/callback",
           "http://127.0.0.1:8765\t/callback", "http://127.0.0.1:8765/call\x7fback",
           "http://127.0.0.1:8765/callback\x0b", "http://127.0.0.1:8765/call\x01back"]


@pytest.mark.parametrize("uri", CONTROL)
def test_control_characters_in_a_redirect_uri_are_refused_at_par(client, native, uri):
    response, _ = push(client, native, redirect_uri=uri)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("uri", CONTROL)
def test_control_characters_in_a_redirect_uri_never_reach_consent(driver, native, uri):
    from tests.oauth.conftest import DRIVER_PASSWORD
    browser = Browser()
    browser.login(username="driver", password=DRIVER_PASSWORD)
    response = browser.get("/oauth/emsp/authorize", authorize_query(native, uri))
    # Not redirected anywhere (neither to consent nor to the URI): our own error page.
    assert response.status_code == 400, (response.status_code, response.get("Location"))


@pytest.mark.parametrize("uri", [
    "https://app.example.com/cb\n", "https://app.example.com/c\rb", "https://app.example.com/c\x01b",
    "https://app.example.com/c\x7fb", "https://app.example.com/cb#", "http://127.0.0.1:8765/cb#",
])
def test_control_characters_and_empty_fragments_are_refused_at_registration(emsp, uri):
    with pytest.raises(RegistrationError):
        add_client(emsp, ClientSpec(client_id="bad", name="", redirect_uris=[uri],
                                    grant_types=[GrantType.AUTHORIZATION_CODE], scopes=["ccsr"],
                                    auth_method="client_secret_basic"))


@pytest.mark.parametrize("uris, refusal", [
    ([f"https://app.example.com/cb{i}" for i in range(21)], "at most 20 redirect URIs"),
    (["https://app.example.com/" + "a" * 2000], "at most 2000 characters"),
])
def test_a_client_has_a_bounded_list_of_redirect_uris(emsp, uris, refusal):
    """Every authorization request compares its redirect_uri with each one registered."""
    with pytest.raises(RegistrationError, match=refusal):
        add_client(emsp, ClientSpec(client_id="many", name="", redirect_uris=uris,
                                    grant_types=[GrantType.AUTHORIZATION_CODE], scopes=["ccsr"],
                                    auth_method="client_secret_basic"))
    add_client(emsp, ClientSpec(client_id="enough", name="", redirect_uris=uris[:20] if len(uris) > 1 else
                                ["https://app.example.com/" + "a" * 1970], grant_types=[GrantType.AUTHORIZATION_CODE],
                                scopes=["ccsr"], auth_method="client_secret_basic"))


@pytest.mark.parametrize("uri, ok", [
    ("http://127.0.0.1:9999/callback", True),
    ("http://127.0.0.1/callback", True),
    ("http://127.0.0.1:65535/callback", True),
    ("http://127.0.0.1:1/callback", True),
    ("http://127.0.0.1:8765/callback#", False),          # RFC 6749 §3.1.2: no fragment, not even empty
    ("http://127.0.0.1:8765/callback#x", False),
    ("http://127.0.0.1:\uff18\uff17\uff16\uff15/callback", False),  # fullwidth digits
    ("http://127.0.0.1:0/callback", False),
    ("http://127.0.0.1:99999/callback", False),
    ("http://127.0.0.1:65536/callback", False),
    ("http://127.0.0.1:08765/callback", False),
    ("http://127.0.0.1:/callback", False),
    ("http://127.0.0.1:8765/callback?", False),          # not the registered string
    ("http://127.0.0.1:8765/callback/", False),
    ("HTTP://127.0.0.1:8765/callback", False),
])
def test_loopback_redirect_rule_is_exact_apart_from_a_real_port(client, native, uri, ok):
    response, _ = push(client, native, redirect_uri=uri)
    assert (response.status_code == 201) is ok, response.content


# --- item 12: one assertion, one use, anywhere ------------------------------------------------

def test_an_assertion_naming_two_tenants_is_spent_once_on_the_platform(client, db):
    first = make_tenant("rail", name="Rail", is_osdm_provider=True)
    second = make_tenant("rail2", name="Rail 2", is_osdm_provider=True)
    cast = make_cast(audience="http://127.0.0.1:8000/oauth/rail/token")
    for tenant in (first, second):
        consumer, _ = add_client(tenant, ClientSpec(
            client_id="osdm-consumer", name="OSDM consumer", redirect_uris=[], grant_types=[GrantType.JWT_BEARER],
            scopes=["uic_osdm"], auth_method="client_secret_basic"))
        TrustedKey.objects.create(tenant=tenant, client=consumer, **cast.good.record_fields())
    assertion = cast.good(claims_overrides={"aud": ["http://127.0.0.1:8000/oauth/rail/token",
                                                    "http://127.0.0.1:8000/oauth/rail2/token"]})
    body = {"grant_type": GrantType.JWT_BEARER, "assertion": assertion, "scope": "uic_osdm"}
    assert client.post("/oauth/rail/token", body).status_code == 200
    replay = client.post("/oauth/rail2/token", body)
    assert replay.status_code == 400, replay.content
    assert replay.json()["error"] == "invalid_grant" and "jti" in replay.json()["error_description"]


# --- item 14: JSON 404 for an unknown tenant, the admin's client form ---------------------------

@pytest.mark.parametrize("method, path", [
    ("post", "/oauth/nowhere/token"), ("post", "/oauth/nowhere/par"), ("post", "/oauth/nowhere/introspect"),
    ("post", "/oauth/nowhere/revoke"), ("get", "/oauth/nowhere/jwks"), ("get", "/oauth/nowhere/authorize"),
    ("get", "/oauth/nowhere/consent/1"), ("get", "/.well-known/oauth-authorization-server/oauth/nowhere"),
    ("get", "/oauth/nowhere/.well-known/openid-configuration"),
    ("get", "/oauth/nowhere%00/jwks"), ("post", "/oauth/nowhere%00/token"), ("get", "/oauth/nowhere/no-such-endpoint"),
    ("get", "/oauth/nowhere"), ("get", "/.well-known/oauth-authorization-server/oauth/nowhere%00"),
])
def test_an_unknown_tenant_gets_a_json_error_on_every_oauth_endpoint(client, db, method, path):
    make_tenant("cpo", name="Of no kind yet", operates_charging_stations=False)  # a tenant without an authorization server
    for where in (path, path.replace("nowhere", "cpo")):
        response = getattr(client, method)(where)
        assert response.status_code == 404, (where, response.status_code)
        assert response["Content-Type"] == "application/json", where
        assert response.json()["error"] == "invalid_request"


def test_the_admin_never_shows_a_clients_secret_hash_in_an_editable_field(client, ev_client):
    admin = get_user_model().objects.create_superuser("root", password="root-pass-2026")
    browser = Browser()
    browser.force_login(admin)
    page = browser.get(f"/admin/oauth/client/{ev_client.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert ev_client.client_secret not in html
    assert 'name="client_secret"' not in html
    assert REDIRECT in html  # the rest of the client is still there to edit
