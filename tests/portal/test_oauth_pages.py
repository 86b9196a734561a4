"""The portal's OAuth and Plug & Charge pages: who may open and do what (every role,
strangers, anonymous users, another tenant's objects, tenants the section is not for),
and what a user sees happen — a secret shown once, only supported grants offered, a key
rolled over with its overlap, a contract revoked with its certificate and CRL."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client as BrowserClient
from joserfc.jwk import ECKey

from csms.models import AuditEvent
from oauth import signing_keys
from oauth.client_auth import ClientSecretHasher
from oauth.models import Client, GrantType, SigningKey, TrustedKey
from oauth.registration import ClientSpec, TrustSpec, add_client, add_trust
from pnc import authorities, emaid, issuance, revocation
from pnc.models import CertificateAuthority, Contract, IssuedCertificate
from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
JWT_BEARER = GrantType.JWT_BEARER.value


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    # People's passwords quickly; client secrets still with their own argon2 hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_pem() -> str:
    return ECKey.generate_key("P-256").as_pem(private=False).decode()


def contract_with_certificate(tenant, user, instance: str) -> Contract:
    now = datetime.now(UTC)
    detail = {"type": "pnc_contract_request",
              "charging_period": {"start": stamp(now), "end": stamp(now + timedelta(days=300))}}
    contract = Contract.objects.create(
        tenant=tenant, user=user, client_id_text="ev-app", authorization_detail=detail,
        emaid=emaid.compose(tenant.emsp_country_code, tenant.emsp_provider_id, instance),
        starts_at=now, ends_at=now + timedelta(days=300))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EV")])).sign(key, hashes.SHA256()))
    issuance.issue(tenant, contract, csr, "test")
    return Contract.objects.get(pk=contract.pk)


def world_of(slug: str, country: str, provider: str, driver_name: str):
    tenant = make_tenant(slug, name=f"{slug.title()} Mobility", is_emsp=True, operates_charging_stations=False,
                         emsp_country_code=country, emsp_provider_id=provider)
    backend, _ = add_client(tenant, ClientSpec(client_id="backend", name="Backend", redirect_uris=[],
                                               grant_types=["client_credentials"], scopes=["emsp:read"],
                                               auth_method="client_secret_basic"))
    signer, _ = add_client(tenant, ClientSpec(client_id="osdm", name="OSDM consumer", redirect_uris=[],
                                              grant_types=[JWT_BEARER], scopes=["uic_osdm"],
                                              auth_method="client_secret_basic"))
    record = add_trust(signer, TrustSpec(issuer="https://consumer.example/", subject="UIC_1", kid="k1",
                                         key_text=public_pem(), algorithms=["ES256"], scopes=["uic_osdm"]))
    signing_keys.rotate(tenant, at_once=True)
    authorities.initialise(tenant, "setup")
    driver = signed_in(driver_name, (tenant, Role.DRIVER))  # noqa: F841  (a member who is not staff)
    user = Membership.objects.get(tenant=tenant, role=Role.DRIVER).user
    contract = contract_with_certificate(tenant, user, "1A2B3C4D5")
    return {"tenant": tenant, "backend": backend, "record": record, "contract": contract}


@pytest.fixture
def worlds():
    return world_of("emsp", "DE", "8AA", "driver"), world_of("other", "FR", "ABC", "other-driver")


def pages(w) -> list[str]:
    e = w["contract"].emaid
    return ["/t/emsp/oauth/clients/", "/t/emsp/oauth/clients/backend/", "/t/emsp/oauth/clients/osdm/",
            "/t/emsp/oauth/trust/", "/t/emsp/oauth/signing-keys/", "/t/emsp/people/", "/t/emsp/people/?role=driver",
            "/t/emsp/pnc/contracts/", "/t/emsp/pnc/contracts/?state=certificate_issued",
            f"/t/emsp/pnc/contracts/?emaid={emaid.hyphenated(e)}", f"/t/emsp/pnc/contracts/{e}/",
            f"/t/emsp/pnc/contracts/{emaid.hyphenated(e)}/", "/t/emsp/pnc/authorities/"]


ADMIN_PAGES = ["/t/emsp/oauth/clients/new", "/t/emsp/oauth/trust/new"]


def actions(w) -> list[tuple[str, str, dict]]:
    """(role needed, url, form) — each would change something."""
    r, e = w["record"].pk, w["contract"].emaid
    new_key = {"kid": "k2", "public_key": public_pem(), "algorithms": "ES256",
               "overlap_until": "2099-01-01T00:00", "confirmed": "yes"}
    return [
        (Role.ADMIN, "/t/emsp/oauth/clients/new", {"client_id": "fresh", "grant_types": "client_credentials",
                                                   "auth_method": "client_secret_basic"}),
        (Role.ADMIN, "/t/emsp/oauth/clients/backend/rotate-secret", {"confirmed": "yes"}),
        (Role.ADMIN, "/t/emsp/oauth/clients/backend/remove", {"confirmed": "yes"}),
        (Role.ADMIN, "/t/emsp/oauth/trust/new", {"client_id": "osdm", "issuer": "https://b.example/", "subject": "S",
                                                 "kid": "b1", "public_key": public_pem(), "algorithms": "ES256"}),
        (Role.ADMIN, f"/t/emsp/oauth/trust/{r}/rollover", new_key),
        (Role.ADMIN, f"/t/emsp/oauth/trust/{r}/retire", {"confirmed": "yes"}),
        (Role.ADMIN, "/t/emsp/oauth/signing-keys/rotate", {"confirmed": "yes"}),
        (Role.ADMIN, "/t/emsp/people/add", {"username": "newbie", "role": "viewer", "password": "a-long-pass-2026!"}),
        (Role.OPERATOR, f"/t/emsp/pnc/contracts/{e}/revoke", {"reason": "keyCompromise", "confirmed": "yes"}),
    ]


def untouched(w):
    assert set(Client.objects.for_tenant(w["tenant"]).values_list("client_id", flat=True)) == {"backend", "osdm"}
    assert Client.objects.get(pk=w["backend"].pk).client_secret == w["backend"].client_secret
    assert TrustedKey.objects.for_tenant(w["tenant"]).count() == 1
    assert TrustedKey.objects.get(pk=w["record"].pk).retired_at is None
    assert SigningKey.objects.for_tenant(w["tenant"]).count() == 1
    assert Contract.objects.get(pk=w["contract"].pk).state == Contract.State.CERTIFICATE_ISSUED
    assert not IssuedCertificate.objects.for_tenant(w["tenant"]).filter(revoked_at__isnull=False).exists()
    assert not Membership.objects.filter(tenant=w["tenant"], user__username="newbie").exists()


# --- who may do what ----------------------------------------------------------------------

def test_signed_out_users_are_sent_to_sign_in(client, worlds):
    w = worlds[0]
    for url in [*pages(w), *ADMIN_PAGES]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for _, url, form in actions(w):
        assert client.post(url, form).status_code == 302, url
    untouched(w)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
def test_every_page_renders_for_every_staff_role(worlds, role):
    w = worlds[0]
    client = signed_in("someone", (w["tenant"], role))
    for url in pages(w):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        page = response.content.decode()
        assert page.count("<time ") == page.count(" UTC</time>"), url  # every time carries its zone
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == (200 if role == Role.ADMIN else 403), url


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_actions_above_ones_role_are_forbidden_and_change_nothing(worlds, role):
    w = worlds[0]
    client = signed_in("someone", (w["tenant"], role))
    for needed, url, form in actions(w):
        allowed = Role(role) == Role.OPERATOR and needed == Role.OPERATOR
        if not allowed:
            assert client.post(url, form).status_code == 403, url
    untouched(w)


def test_each_action_works_for_the_role_allowed(worlds):
    w = worlds[0]
    admin = signed_in("admin", (w["tenant"], Role.ADMIN))
    operator = signed_in("operator", (w["tenant"], Role.OPERATOR))
    for needed, url, form in actions(w):
        response = (operator if needed == Role.OPERATOR else admin).post(url, form)
        assert response.status_code in (200, 302), (url, response.status_code, response.content[:2000])
    assert not Client.objects.filter(tenant=w["tenant"], client_id="backend").exists()
    assert Client.objects.filter(tenant=w["tenant"], client_id="fresh").exists()
    assert TrustedKey.objects.get(pk=w["record"].pk).retired_at is not None
    assert TrustedKey.objects.filter(tenant=w["tenant"], kid__in=["k2", "b1"]).count() == 2
    assert SigningKey.objects.for_tenant(w["tenant"]).filter(state=SigningKey.State.NEXT).exists()
    assert Membership.objects.get(user__username="newbie").role == Role.VIEWER
    assert Contract.objects.get(pk=w["contract"].pk).state == Contract.State.REVOKED
    untouched(worlds[1])  # the other tenant's rows, of the same names, are not touched


def test_strangers_get_404_on_every_page_and_action(worlds):
    w = worlds[0]
    stranger = signed_in("stranger", (worlds[1]["tenant"], Role.ADMIN))
    driver = BrowserClient()
    driver.login(username="driver", password="pw-123456789-portal")
    for client in (stranger, driver):
        for url in [*pages(w), *ADMIN_PAGES]:
            assert client.get(url).status_code == 404, url
        for _, url, form in actions(w):
            assert client.post(url, form).status_code == 404, url
    untouched(w)


def test_another_tenants_client_key_and_contract_are_404_under_ones_own_tenant(worlds):
    mine, theirs = worlds
    client = signed_in("admin", (mine["tenant"], Role.ADMIN))
    Client.objects.filter(pk=mine["backend"].pk).update(client_id="only-ours")  # "backend" exists only there now
    their_record, their_contract = theirs["record"].pk, theirs["contract"].emaid
    for url in ["/t/emsp/oauth/clients/backend/", f"/t/emsp/pnc/contracts/{their_contract}/"]:
        assert client.get(url).status_code == 404, url
    for url in ["/t/emsp/oauth/clients/backend/remove", "/t/emsp/oauth/clients/backend/rotate-secret",
                f"/t/emsp/oauth/trust/{their_record}/retire", f"/t/emsp/oauth/trust/{their_record}/rollover",
                f"/t/emsp/pnc/contracts/{their_contract}/revoke"]:
        assert client.post(url, {"confirmed": "yes"}).status_code == 404, url
    assert client.get(f"/t/emsp/oauth/trust/{their_record}/rollover").status_code == 404
    untouched(theirs)


def test_the_sections_are_404_for_tenants_they_are_not_for(db):
    plain = make_tenant("plain", operates_charging_stations=False)
    cso = make_tenant("cso")  # runs an authorization server for its automation, but is no eMSP
    client = signed_in("admin", (plain, Role.ADMIN), (cso, Role.ADMIN))
    for url in ["/t/plain/oauth/clients/", "/t/plain/oauth/signing-keys/", "/t/plain/pnc/contracts/",
                "/t/cso/pnc/contracts/", "/t/cso/pnc/authorities/"]:
        assert client.get(url).status_code == 404, url
    assert client.get("/t/cso/oauth/clients/").status_code == 200
    assert client.get("/t/plain/people/").status_code == 200  # every tenant has people
    nav = client.get("/t/cso/oauth/clients/").content.decode()
    assert ">OAuth<" in nav and "Plug &amp; Charge" not in nav


def test_the_navigation_names_the_sections_a_tenant_has(worlds):
    page = signed_in("viewer", (worlds[0]["tenant"], Role.VIEWER)).get("/t/emsp/oauth/clients/").content.decode()
    assert 'href="/t/emsp/oauth/clients/" aria-current="page">OAuth' in page
    assert 'href="/t/emsp/pnc/contracts/">Plug &amp; Charge' in page


# --- clients ------------------------------------------------------------------------------

def test_the_form_offers_exactly_the_grants_and_methods_the_server_supports(worlds):
    page = signed_in("admin", (worlds[0]["tenant"], Role.ADMIN)).get("/t/emsp/oauth/clients/new").content.decode()
    for grant in GrantType.values:
        assert f'name="grant_types" value="{grant}"' in page
    for method in Client.AuthMethod.values:
        assert f'name="auth_method" value="{method}"' in page
    assert page.count('name="grant_types"') == len(GrantType.values)
    assert page.count('name="auth_method"') == len(Client.AuthMethod.values)
    for unsupported in ("password", "implicit", "device_code", "client_secret_jwt", "tls_client_auth"):
        assert unsupported not in page


@pytest.mark.parametrize("form, message", [
    ({"grant_types": "password"}, "grant types must be among: authorization_code, refresh_token"),
    ({"grant_types": "implicit"}, "grant types must be among"),
    ({"grant_types": "client_credentials", "auth_method": "client_secret_jwt"}, "auth method must be one of"),
    ({"grant_types": "authorization_code"}, "needs at least one redirect URI"),
    ({"grant_types": "client_credentials", "client_id": "12345"}, "with at least one letter"),
])
def test_the_form_refuses_what_the_server_does_not_support_with_the_reason(worlds, form, message):
    client = signed_in("admin", (worlds[0]["tenant"], Role.ADMIN))
    response = client.post("/t/emsp/oauth/clients/new",
                           {"client_id": "new-one", "auth_method": "client_secret_basic", **form})
    assert response.status_code == 400
    page = response.content.decode()
    assert "The client was not registered" in page and message in page
    assert not Client.objects.filter(client_id__in=["new-one", "12345"]).exists()


def test_a_new_clients_secret_is_shown_once_and_never_again(worlds):
    client = signed_in("admin", (worlds[0]["tenant"], Role.ADMIN))
    created = client.post("/t/emsp/oauth/clients/new", {
        "client_id": "ev-app", "name": "EV app", "grant_types": ["authorization_code", "refresh_token"],
        "auth_method": "client_secret_basic", "redirect_uris": "https://app.example/cb\nhttp://127.0.0.1/cb",
        "scopes": "ccsr", "require_par": "yes", "detail_types": "pnc_contract_request"})
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    secret = created.context["secret"]
    assert len(secret) >= 64 and secret in created.content.decode()
    stored = Client.objects.get(tenant=worlds[0]["tenant"], client_id="ev-app")
    assert ClientSecretHasher().verify(secret, stored.client_secret)
    assert stored.redirect_uris.split() == ["https://app.example/cb", "http://127.0.0.1/cb"] and stored.require_par
    assert stored.authorization_details_types == ["pnc_contract_request"]
    for url in ["/t/emsp/oauth/clients/ev-app/", "/t/emsp/oauth/clients/", "/t/emsp/oauth/clients/new"]:
        again = client.get(url).content.decode()
        assert secret not in again, url
    detail = client.get("/t/emsp/oauth/clients/ev-app/").content.decode()
    assert "has a secret; only its hash is kept" in detail and "https://app.example/cb" in detail


def test_rotating_a_secret_asks_first_then_shows_the_new_one_once(worlds):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    asked = client.post("/t/emsp/oauth/clients/backend/rotate-secret")
    assert asked.status_code == 200 and "Yes, go ahead" in asked.content.decode()
    assert Client.objects.get(pk=w["backend"].pk).client_secret == w["backend"].client_secret
    done = client.post("/t/emsp/oauth/clients/backend/rotate-secret", {"confirmed": "yes"})
    secret = done.context["secret"]
    assert secret in done.content.decode() and "no-store" in done["Cache-Control"]
    assert ClientSecretHasher().verify(secret, Client.objects.get(pk=w["backend"].pk).client_secret)
    assert secret not in client.get("/t/emsp/oauth/clients/backend/").content.decode()


def test_a_client_without_a_secret_offers_no_rotation_and_a_forced_one_is_refused(worlds):
    w = worlds[0]
    add_client(w["tenant"], ClientSpec(client_id="app", name="", redirect_uris=["https://a.example/cb"],
                                       grant_types=["authorization_code"], scopes=[], auth_method="none"))
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    assert "Rotate secret" not in client.get("/t/emsp/oauth/clients/app/").content.decode()
    refused = client.post("/t/emsp/oauth/clients/app/rotate-secret", {"confirmed": "yes"}, follow=True)
    assert "Not rotated" in refused.content.decode() and "has no secret to rotate" in refused.content.decode()


def test_removing_a_client_asks_first_and_takes_its_trust_records_with_it(worlds):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    asked = client.post("/t/emsp/oauth/clients/osdm/remove")
    assert "Remove client osdm?" in asked.content.decode()
    assert TrustedKey.objects.filter(pk=w["record"].pk).exists()
    done = client.post("/t/emsp/oauth/clients/osdm/remove", {"confirmed": "yes"}, follow=True)
    assert "Client osdm removed." in done.content.decode()
    assert not TrustedKey.objects.filter(pk=w["record"].pk).exists()


def test_the_charging_stations_client_cannot_be_removed_from_the_portal(db):
    from oauth import station_keys

    cso = make_tenant("cso")
    station_keys.station_client(cso, create=True)
    client = signed_in("admin", (cso, Role.ADMIN))
    assert "station key" in client.get("/t/cso/oauth/clients/ocpp-stations/").content.decode()
    refused = client.post("/t/cso/oauth/clients/ocpp-stations/remove", {"confirmed": "yes"}, follow=True)
    assert "Not removed" in refused.content.decode()
    assert Client.objects.filter(tenant=cso, client_id="ocpp-stations").exists()


def test_the_client_list_is_paginated(worlds):
    tenant = worlds[0]["tenant"]
    for n in range(55):
        Client.objects.create(tenant=tenant, client_id=f"c{n:02}", name="x" * 255, grant_types=["client_credentials"],
                              client_type="confidential", authorization_grant_type="client-credentials")
    client = signed_in("viewer", (tenant, Role.VIEWER))
    first = client.get("/t/emsp/oauth/clients/").content.decode()
    assert "57 clients, page 1 of 2" in first and "Register a client" not in first
    assert "c54" not in first and "c54" in client.get("/t/emsp/oauth/clients/?page=2").content.decode()


# --- trust records and signing keys -------------------------------------------------------

def test_a_rollover_trusts_the_next_key_and_ends_the_old_one_after_the_overlap(worlds):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    url = f"/t/emsp/oauth/trust/{w['record'].pk}/rollover"
    assert 'name="overlap_until"' in client.get(url).content.decode()
    form = {"kid": "k2", "public_key": public_pem(), "algorithms": "ES256", "overlap_until": "2099-03-01T12:00"}
    asked = client.post(url, form)
    assert "Roll over key k1" in asked.content.decode() and "2099-03-01T12:00:00Z" in asked.content.decode()
    assert not TrustedKey.objects.filter(kid="k2").exists()
    client.post(url, {**form, "confirmed": "yes"})
    fresh, old = TrustedKey.objects.get(tenant=w["tenant"], kid="k2"), TrustedKey.objects.get(pk=w["record"].pk)
    assert (fresh.issuer, fresh.subject, fresh.scopes, fresh.client_id) == (old.issuer, old.subject, old.scopes,
                                                                            old.client_id)
    assert old.valid_until == datetime(2099, 3, 1, 12, tzinfo=UTC) and old.retired_at is None
    assert fresh.valid_from is not None and fresh.valid_until is None


@pytest.mark.parametrize("change, message", [
    ({"overlap_until": "2001-01-01T00:00"}, "the overlap must end in the future"),
    ({"overlap_until": "soon"}, "give the end of the overlap"),
    ({"algorithms": "RS256"}, "cannot be used with a EC key"),
    ({"kid": "k1"}, "already has a key k1"),
    ({"public_key": "-----BEGIN PRIVATE KEY-----"}, "holds a private key"),
])
def test_a_bad_rollover_is_refused_with_the_reason(worlds, change, message):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    form = {"kid": "k2", "public_key": public_pem(), "algorithms": "ES256", "overlap_until": "2099-03-01T12:00",
            "confirmed": "yes", **change}
    response = client.post(f"/t/emsp/oauth/trust/{w['record'].pk}/rollover", form)
    assert response.status_code == 400 and message in response.content.decode()
    assert TrustedKey.objects.for_tenant(w["tenant"]).count() == 1
    assert TrustedKey.objects.get(pk=w["record"].pk).valid_until is None


def test_retiring_a_key_asks_first_and_then_shows_it_retired(worlds):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    url = f"/t/emsp/oauth/trust/{w['record'].pk}/retire"
    assert "Retire key k1" in client.post(url).content.decode()
    assert TrustedKey.objects.get(pk=w["record"].pk).retired_at is None
    listed = client.post(url, {"confirmed": "yes"}, follow=True).content.decode()
    assert TrustedKey.objects.get(pk=w["record"].pk).retired_at is not None
    assert "retired <time" in listed


def test_the_signing_key_page_shows_states_and_a_rotation_publishes_the_next_key(worlds):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    active = SigningKey.objects.get(tenant=w["tenant"])
    page = client.get("/t/emsp/oauth/signing-keys/").content.decode()
    assert active.kid in page and "ES256" in page and "<strong>active</strong>" in page
    assert "Publish the next signing key?" in client.post("/t/emsp/oauth/signing-keys/rotate").content.decode()
    client.post("/t/emsp/oauth/signing-keys/rotate", {"confirmed": "yes", "alg": "ES256"})
    nxt = SigningKey.objects.get(tenant=w["tenant"], state=SigningKey.State.NEXT)
    page = client.get("/t/emsp/oauth/signing-keys/").content.decode()
    assert nxt.kid in page and "next" in page
    again = client.post("/t/emsp/oauth/signing-keys/rotate", {"confirmed": "yes"}, follow=True).content.decode()
    assert "Not rotated: a next key" in again and "rotate at once" in again
    client.post("/t/emsp/oauth/signing-keys/rotate", {"confirmed": "yes", "at_once": "yes", "alg": "ES256"})
    assert SigningKey.objects.get(tenant=w["tenant"], state=SigningKey.State.ACTIVE).kid == nxt.kid
    assert SigningKey.objects.get(pk=active.pk).state == SigningKey.State.RETIRING


# --- contracts and CAs ---------------------------------------------------------------------

def test_revoking_a_contract_on_its_page_revokes_its_certificate_and_lists_it_in_the_crl(worlds):
    w = worlds[0]
    contract = w["contract"]
    client = signed_in("operator", (w["tenant"], Role.OPERATOR))
    page = client.get(f"/t/emsp/pnc/contracts/{contract.emaid}/").content.decode()
    cert = contract.certificates.get()
    assert cert.serial_number in page and "valid" in page and "Revoke the contract…" in page
    url = f"/t/emsp/pnc/contracts/{contract.emaid}/revoke"
    assert "Yes, go ahead" in client.post(url, {"reason": "keyCompromise"}).content.decode()
    assert Contract.objects.get(pk=contract.pk).state == Contract.State.CERTIFICATE_ISSUED
    done = client.post(url, {"reason": "keyCompromise", "confirmed": "yes"}, follow=True).content.decode()
    assert "is revoked, and its certificate with it" in done
    cert.refresh_from_db()
    assert cert.revoked_at is not None and cert.revocation_reason == "keyCompromise"
    crl = x509.load_der_x509_crl(bytes(CertificateAuthority.objects.get(pk=cert.issuer_id).crl_der))
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_number, 16)) is not None
    event = AuditEvent.objects.get(action="contract.revoked")
    assert event.actor == "operator" and event.detail["reason"] == "keyCompromise"
    again = client.post(url, {"reason": "keyCompromise", "confirmed": "yes"}, follow=True).content.decode()
    assert "Not revoked: a contract that is revoked cannot become revoked" in again


def test_the_contract_list_filters_by_state_and_emaid_with_the_apis_rules(worlds):
    w = worlds[0]
    client = signed_in("viewer", (w["tenant"], Role.VIEWER))
    shown = emaid.hyphenated(w["contract"].emaid)
    assert w["contract"].emaid in client.get(f"/t/emsp/pnc/contracts/?emaid={shown}").content.decode()
    assert "0 contracts" in client.get("/t/emsp/pnc/contracts/?state=revoked").content.decode()
    assert "1 contract" in client.get("/t/emsp/pnc/contracts/?state=revoked&state=certificate_issued").content.decode()
    assert "0 contracts" in client.get("/t/emsp/pnc/contracts/?emaid=DE-8AA-1A2B3C4D5-9").content.decode()
    wrong = client.get("/t/emsp/pnc/contracts/?emaid=DE 8AA!")
    assert wrong.status_code == 400 and "an EMAID has only the letters" in wrong.content.decode()
    assert client.get("/t/emsp/pnc/contracts/?state=bogus").status_code == 400


def test_the_ca_page_shows_the_hierarchy_which_one_issues_and_the_crls(worlds):
    w = worlds[0]
    client = signed_in("viewer", (w["tenant"], Role.VIEWER))
    page = client.get("/t/emsp/pnc/authorities/").content.decode()
    for ca in CertificateAuthority.objects.for_tenant(w["tenant"]):
        assert ca.subject in page and ca.key_id in page
    assert page.count("<strong>issues</strong>") == 1 and "/pnc/emsp/crl/" in page and "/pnc/emsp/ocsp" in page
    assert page.count(">not yet<") == 3  # no CRL was asked for, nothing revoked: none published
    revocation.current_crl(CertificateAuthority.objects.get(tenant=w["tenant"], issuing=True))
    page = client.get("/t/emsp/pnc/authorities/").content.decode()
    assert "(number 1)" in page and page.count(">not yet<") == 2


def test_the_ca_page_shows_a_retired_hierarchy_with_its_final_crl(worlds):
    from pnc import retirement
    from tests.commands import run_cmd

    w = worlds[0]
    revocation.revoke_contract(w["contract"], "tester")  # nothing the old hierarchy signed stays valid
    old_root = CertificateAuthority.objects.get(tenant=w["tenant"], parent=None)
    run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root")
    retirement.retire(w["tenant"], old_root.key_id, "tester")
    page = signed_in("viewer", (w["tenant"], Role.VIEWER)).get("/t/emsp/pnc/authorities/").content.decode()
    assert page.count("erased when it was retired") == 3 and page.count("(its final CRL)") == 3
    assert f"/pnc/emsp/crl/{old_root.key_id}" in page and page.count("<strong>issues</strong>") == 1


# --- people ---------------------------------------------------------------------------------

def test_the_people_page_lists_staff_and_drivers_with_their_roles(worlds):
    client = signed_in("viewer", (worlds[0]["tenant"], Role.VIEWER))
    page = client.get("/t/emsp/people/").content.decode()
    assert "driver" in page and "Driver" in page and "Viewer" in page and "other-driver" not in page
    assert "Take out…" not in page and "Give someone a staff role" not in page
    assert "other-driver" not in client.get("/t/emsp/people/?role=driver").content.decode()


def test_an_administrator_gives_roles_and_takes_staff_out_after_asking(worlds):
    tenant = worlds[0]["tenant"]
    client = signed_in("admin", (tenant, Role.ADMIN))
    refused = client.post("/t/emsp/people/add", {"username": "newbie", "role": "operator", "password": "short"})
    assert refused.status_code == 400 and "password refused" in refused.content.decode()
    assert client.post("/t/emsp/people/add", {"username": "newbie", "role": "driver",
                                               "password": "a-long-pass-2026!"}).status_code == 400
    assert "no account was given the role" in client.post(
        "/t/emsp/people/add", {"username": "newbie", "role": "operator"}).content.decode()
    assert not Membership.objects.filter(user__username="newbie").exists()
    client.post("/t/emsp/people/add", {"username": "newbie", "role": "operator", "password": "a-long-pass-2026!"})
    member = Membership.objects.get(tenant=tenant, user__username="newbie")
    assert member.role == Role.OPERATOR
    assert BrowserClient().login(username="newbie", password="a-long-pass-2026!")
    url = f"/t/emsp/people/{member.pk}/remove"
    assert "Take newbie out of Emsp Mobility?" in client.post(url).content.decode()
    client.post(url, {"confirmed": "yes"})
    assert not Membership.objects.filter(pk=member.pk).exists()
    own = Membership.objects.get(tenant=tenant, user__username="admin")
    assert "You cannot take yourself out" in client.post(f"/t/emsp/people/{own.pk}/remove", {"confirmed": "yes"},
                                                         follow=True).content.decode()
    driver = Membership.objects.get(tenant=tenant, role=Role.DRIVER)
    assert client.post(f"/t/emsp/people/{driver.pk}/remove", {"confirmed": "yes"}).status_code == 404
    theirs = Membership.objects.get(tenant=worlds[1]["tenant"], role=Role.DRIVER)
    assert client.post(f"/t/emsp/people/{theirs.pk}/remove", {"confirmed": "yes"}).status_code == 404


@pytest.mark.parametrize("change, message", [
    ({"client_id": ""}, "choose the client whose tokens the assertions obtain"),
    ({"client_id": "ocpp-stations"}, "choose the client"),
    ({"public_key": "-----BEGIN PRIVATE KEY-----"}, "holds a private key"),
    ({"subject": "12345"}, "all-digit subject"),
    ({"scopes": "ccsr"}, "scopes the client does not have: ccsr"),
    ({"valid_until": "next week"}, "dates are written like"),
    ({"valid_from": "2030-02-01T00:00", "valid_until": "2030-01-01T00:00"}, "valid-until must be after"),
])
def test_adding_a_bad_trust_record_is_refused_with_the_reason_and_keeps_the_form(worlds, change, message):
    w = worlds[0]
    client = signed_in("admin", (w["tenant"], Role.ADMIN))
    form = {"client_id": "osdm", "issuer": "https://b.example/", "subject": "S", "kid": "b1",
            "public_key": public_pem(), "algorithms": "ES256", **change}
    response = client.post("/t/emsp/oauth/trust/new", form)
    page = response.content.decode()
    assert response.status_code == 400 and "The key was not added" in page and message in page
    assert 'value="https://b.example/"' in page and 'value="ES256" checked' in page
    assert TrustedKey.objects.for_tenant(w["tenant"]).count() == 1


@pytest.mark.parametrize("role, buttons, absent", [
    (Role.VIEWER, [], ["Revoke the contract…", "Rotate secret…", "Remove client…", "Retire…", "Rotate…"]),
    (Role.OPERATOR, ["Revoke the contract…"], ["Rotate secret…", "Remove client…", "Retire…", "Rotate…"]),
    (Role.ADMIN, ["Revoke the contract…", "Rotate secret…", "Remove client…", "Retire…", "Rotate…"], []),
])
def test_pages_offer_only_the_buttons_ones_role_may_press(worlds, role, buttons, absent):
    w = worlds[0]
    client = signed_in("someone", (w["tenant"], role))
    pages_text = "".join(client.get(url).content.decode() for url in [
        "/t/emsp/oauth/clients/backend/", "/t/emsp/oauth/trust/", "/t/emsp/oauth/signing-keys/",
        f"/t/emsp/pnc/contracts/{w['contract'].emaid}/"])
    for label in buttons:
        assert label in pages_text, label
    for label in absent:
        assert label not in pages_text, label
    assert 'class="danger">Revoke the contract…' in pages_text or role == Role.VIEWER  # destructive: outlined red


def test_a_private_key_jwt_client_gets_no_secret_and_its_jwks_becomes_its_keys(worlds):
    client = signed_in("admin", (worlds[0]["tenant"], Role.ADMIN))
    jwk = dict(ECKey.generate_key("P-256").as_dict(private=False), kid="signer-1", alg="ES256")
    created = client.post("/t/emsp/oauth/clients/new", {
        "client_id": "signer", "grant_types": "client_credentials", "auth_method": "private_key_jwt",
        "scopes": "emsp:read", "jwks": json.dumps({"keys": [jwk]})})
    assert created.status_code == 200 and created.context["secret"] is None
    assert "It has no secret: it authenticates with" in created.content.decode()
    page = client.get("/t/emsp/oauth/clients/signer/").content.decode()
    assert "signer-1" in page and "Rotate secret…" not in page
    broken = client.post("/t/emsp/oauth/clients/new", {
        "client_id": "signer2", "grant_types": "client_credentials", "auth_method": "private_key_jwt",
        "jwks": '{"keys": ["not a key"]}'})
    assert broken.status_code == 400 and "not a public key" in broken.content.decode()
