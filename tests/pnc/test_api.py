"""The eMSP REST API with real tokens from the tenant's authorization server: what an
eMSP backend reads and revokes, filters and pages, problem+json for every error, and
strict tenant isolation (another tenant's contract is 404, never 403)."""
import pytest
from cryptography import x509
from django.contrib.auth import get_user_model

from csms.models import AuditEvent
from oauth.models import AccessToken, GrantType
from oauth.registration import ClientSpec, add_client
from pnc import authorities
from pnc.models import CertificateAuthority, Contract, IssuedCertificate
from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.oauth.conftest import DRIVER_PASSWORD, REDIRECT, FormClient
from tests.pnc.api_client import Backend, api, call
from tests.pnc.conftest import access_token, approve, near_detail
from tests.pnc.test_csr import assert_problem, csr_for, p256, post

REALM = 'Bearer realm="http://127.0.0.1:8000/oauth/emsp"'


@pytest.fixture
def backend(emsp):
    return Backend(emsp)


@pytest.fixture
def token(backend):
    return backend.token()


@pytest.fixture
def issued(browser, ev_client, pki):
    """A contract with its certificate, through the EV's real flow."""
    response = post(csr_for(p256()), access_token(browser, ev_client, near_detail()))
    assert response.status_code == 201
    return IssuedCertificate.objects.select_related("contract").get()


@pytest.fixture
def other(db, pki):
    """A second eMSP with its own driver, client, PKI and one authorized contract."""
    tenant = make_tenant("other", name="Other eMSP", is_emsp=True, emsp_country_code="FR", emsp_provider_id="OTH")
    authorities.initialise(tenant, "setup")
    user = get_user_model().objects.create_user("other-driver", password=DRIVER_PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.DRIVER)
    ev, secret = add_client(tenant, ClientSpec(
        client_id="other-ev", name="Other EV", redirect_uris=[REDIRECT],
        grant_types=[GrantType.AUTHORIZATION_CODE], scopes=["ccsr"], auth_method="client_secret_basic"))
    ev.plain_secret = secret
    browser = FormClient()
    browser.login(username="other-driver", password=DRIVER_PASSWORD)
    approve(browser, ev, near_detail(), tenant="other")
    return Contract.objects.get(tenant=tenant)


# --- reading ----------------------------------------------------------------------------

def test_contracts_list_shows_the_tenants_contracts_with_their_certificates(token, issued):
    response = call("GET", api("contracts/"), token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["previous"] is None and body["next"] is None
    [row] = body["results"]
    assert row["emaid"] == issued.contract.emaid and row["emaid_display"].startswith("DE-8AA-")
    assert row["state"] == "certificate_issued" and row["driver"] == "driver" and row["client_id"] == "example_emsp"
    assert row["currency"] == "EUR" and row["maximum_amount"] == "234.5600"
    [cert] = row["certificates"]
    assert cert["serial_number"] == issued.serial_number and cert["state"] == "valid"


def test_a_contract_by_emaid_with_or_without_hyphens(token, issued):
    from pnc.emaid import hyphenated

    for emaid in (issued.contract.emaid, hyphenated(issued.contract.emaid), issued.contract.emaid.lower()):
        response = call("GET", api(f"contracts/{emaid}/"), token)
        assert response.status_code == 200 and response.json()["emaid"] == issued.contract.emaid


def test_an_unknown_or_malformed_emaid_is_a_clear_404(token, issued):
    assert "no contract" in assert_problem(call("GET", api("contracts/DE8AA000000000X/"), token), 404)["detail"]
    assert "not an EMAID" in assert_problem(call("GET", api("contracts/DE_8AA!/"), token), 404)["detail"]


def test_certificate_with_its_chain_and_as_a_pem_chain(token, issued, pki):
    body = call("GET", api(f"certificates/{issued.serial_number}/"), token).json()
    leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert format(leaf.serial_number, "x") == issued.serial_number and body["emaid"] == issued.contract.emaid
    assert [x509.load_pem_x509_certificate(p.encode()).subject.rfc4514_string() for p in body["chain_pems"]] == [
        pki[2].subject, pki[1].subject]
    response = call("GET", api(f"certificates/{issued.serial_number.upper()}/chain"), token)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/pem-certificate-chain")
    chain = x509.load_pem_x509_certificates(response.content)
    assert [c.serial_number for c in chain][0] == leaf.serial_number and len(chain) == 3
    listed = call("GET", api("certificates/"), token, {"emaid": issued.contract.emaid}).json()["results"]
    assert [c["serial_number"] for c in listed] == [issued.serial_number]
    assert call("GET", api("certificates/"), token, {"revoked": "true"}).json()["results"] == []


def test_cas_and_their_crl(token, pki):
    body = call("GET", api("cas/"), token).json()
    assert [ca["level"] for ca in body] == ["root", "sub-ca-1", "sub-ca-2"]
    assert [ca["issuing"] for ca in body] == [False, False, True]
    sub2 = body[2]
    assert sub2["parent_key_id"] == body[1]["key_id"] and "PRIVATE" not in str(body)
    assert sub2["crl_url"] == f"http://127.0.0.1:8000/pnc/emsp/crl/{sub2['key_id']}.crl"
    assert call("GET", api(f"cas/{sub2['key_id']}/"), token).json()["subject"] == sub2["subject"]
    response = call("GET", api(f"cas/{sub2['key_id']}/crl"), token)
    assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    assert crl.issuer.rfc4514_string() == sub2["subject"]
    assert_problem(call("GET", api("cas/00ff/"), token), 404)


# --- revoking ---------------------------------------------------------------------------

def test_revoke_a_contract_revokes_its_certificate_and_lists_it_in_the_crl(token, issued, pki):
    response = call("POST", api(f"contracts/{issued.contract.emaid}/revoke"), token, {"reason": "keyCompromise"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "revoked" and response.json()["certificates"][0]["state"] == "revoked"
    event = AuditEvent.objects.get(action="contract.revoked")
    assert event.actor == "client:emsp-backend" and event.detail["reason"] == "keyCompromise"
    crl = x509.load_der_x509_crl(call("GET", api(f"cas/{pki[2].key_id}/crl"), token).content)
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial_number, 16)) is not None
    again = call("POST", api(f"contracts/{issued.contract.emaid}/revoke"), token, {})
    assert "revoked" in assert_problem(again, 409)["detail"]


def test_revoke_refuses_a_bad_reason_and_a_wrong_content_type(token, issued):
    url = api(f"contracts/{issued.contract.emaid}/revoke")
    body = assert_problem(call("POST", url, token, {"reason": "because"}), 400)
    assert "reason" in body["errors"]
    response = call("POST", url, token, None)  # an empty JSON body: the default reason
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    assert_problem(FormClient().post(url, {"reason": "unspecified"}, HTTP_AUTHORIZATION=f"Bearer {token}"), 415)


def test_revoke_needs_emsp_write(backend, issued):
    response = call("POST", api(f"contracts/{issued.contract.emaid}/revoke"), backend.token("emsp:read"), {})
    assert_problem(response, 403)
    assert response["WWW-Authenticate"] == f'{REALM}, error="insufficient_scope", scope="emsp:write"'
    assert Contract.objects.get().state == "certificate_issued"


# --- authentication ---------------------------------------------------------------------

def test_no_token_is_401_with_the_bearer_challenge(emsp):
    response = call("GET", api("contracts/"), None)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == REALM


def test_an_invalid_or_revoked_token_is_401_invalid_token(backend, token):
    response = call("GET", api("contracts/"), token[:-4] + "AAAA")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == f'{REALM}, error="invalid_token"'
    AccessToken.objects.all().delete()
    assert "revoked" in assert_problem(call("GET", api("contracts/"), token), 401)["detail"]


def test_reading_needs_emsp_read(backend):
    response = call("GET", api("contracts/"), backend.token("emsp:write"))
    assert_problem(response, 403)
    assert 'scope="emsp:read"' in response["WWW-Authenticate"]


def test_a_drivers_token_is_refused_whatever_its_scope(driver, ev_client):
    """A token issued on a driver's behalf opens nothing of the fleet, even one a
    misregistered client had approved with the API's scopes."""
    from oauth import tokens

    issued = tokens.issue(ev_client, subject=str(driver.pk), scope="ccsr emsp:read emsp:write", user=driver)
    assert "client's own" in assert_problem(call("GET", api("contracts/"), issued.access_token), 403)["detail"]


def test_a_tenant_without_an_emsp_is_404(token):
    make_tenant("plain")
    assert "no eMSP" in assert_problem(call("GET", api("contracts/", "plain"), token), 404)["detail"]
    assert_problem(call("GET", "/api/v1/tenants/emsp/pnc/nothing-here", token), 404)


# --- tenant isolation -------------------------------------------------------------------

def test_a_token_of_one_tenant_is_invalid_at_anothers_address(token, other):
    response = call("GET", api("contracts/", "other"), token)
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_another_tenants_contract_is_not_found_and_cannot_be_revoked(token, issued, other):
    assert [c["emaid"] for c in call("GET", api("contracts/"), token).json()["results"]] == [issued.contract.emaid]
    assert call("GET", api("contracts/"), token, {"emaid": other.emaid}).json()["results"] == []
    assert_problem(call("GET", api(f"contracts/{other.emaid}/"), token), 404)
    assert_problem(call("POST", api(f"contracts/{other.emaid}/revoke"), token, {}), 404)
    other.refresh_from_db()
    assert other.state == "authorized"
    other_ca = CertificateAuthority.objects.filter(tenant=other.tenant).first()
    assert_problem(call("GET", api(f"cas/{other_ca.key_id}/"), token), 404)
    assert_problem(call("GET", api(f"cas/{other_ca.key_id}/crl"), token), 404)
    assert other_ca.key_id not in str(call("GET", api("cas/"), token).json())


def test_each_tenants_backend_sees_only_its_own(token, issued, other):
    """The other tenant's own backend sees its contract, not ours."""
    theirs = Backend(other.tenant, client_id="other-backend")
    theirs_token = theirs.token()
    assert call("GET", api(f"certificates/{issued.serial_number}/", "other"), theirs_token).status_code == 404
    assert call("GET", api(f"certificates/{issued.serial_number}/"), token).status_code == 200
    assert call("GET", api(f"contracts/{other.emaid}/", "other"), theirs_token).status_code == 200


# --- filters and pages ------------------------------------------------------------------

@pytest.fixture
def five(browser, ev_client, pki):
    for _ in range(5):
        approve(browser, ev_client, near_detail())
    return list(Contract.objects.order_by("-created_at", "-id"))


def test_pages_follow_next_without_skipping_or_repeating(token, five):
    seen, url, params = [], api("contracts/"), {"page_size": 2}
    while url:
        body = call("GET", url, token, params).json()
        assert len(body["results"]) <= 2
        seen += [c["emaid"] for c in body["results"]]
        url, params = body["next"], None
    assert seen == [c.emaid for c in five]


@pytest.mark.parametrize("size", ["0", "201", "ten", "-1"])
def test_page_size_is_bounded(token, size):
    body = assert_problem(call("GET", api("contracts/"), token, {"page_size": size}), 400)
    assert "page_size" in body["errors"]


def test_filters_state_client_and_dates(token, five):
    from pnc import revocation

    revocation.revoke_contract(five[0], "cli")
    emaids = lambda **q: [c["emaid"] for c in call("GET", api("contracts/"), token, q).json()["results"]]  # noqa: E731
    assert emaids(state="revoked") == [five[0].emaid]
    assert set(emaids(state=["revoked", "authorized"])) == {c.emaid for c in five}
    assert emaids(client="example_emsp") == [c.emaid for c in five] and emaids(client="nobody") == []
    assert emaids(emaid=five[3].emaid) == [five[3].emaid]
    stamp = five[2].created_at.isoformat()
    assert emaids(created_after=stamp) == [c.emaid for c in five[:3]]
    assert emaids(created_before=stamp) == [c.emaid for c in five[3:]]
    assert emaids(ends_before="2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize("query", [{"state": "lost"}, {"created_after": "yesterday"}, {"emaid": "DE 8AA"}])
def test_a_bad_filter_is_400_naming_it(token, query):
    body = assert_problem(call("GET", api("contracts/"), token, query), 400)
    assert set(query) <= set(body["errors"])
