"""Adversarial checks of the portal's pages added with issue 12 and after: what an
administrator of one tenant, or anyone lower, must not be able to do to another
tenant's people and objects through a form."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.portal.people import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def can_sign_in(username: str, password: str) -> bool:
    return Client().login(username=username, password=password)


@pytest.mark.parametrize("victim_is_superuser", [False, True])
def test_an_administrator_cannot_set_the_password_of_an_existing_account(victim_is_superuser):
    ours, theirs = make_tenant("ours"), make_tenant("theirs")
    admin = signed_in("our-admin", (ours, Role.ADMIN))
    victim = get_user_model().objects.create_user("their-admin", password=PASSWORD,
                                                  is_superuser=victim_is_superuser, is_staff=victim_is_superuser)
    Membership.objects.create(user=victim, tenant=theirs, role=Role.ADMIN)

    answer = admin.post("/t/ours/people/add", {"username": "their-admin", "role": "viewer",
                                               "password": "Hijacked-pass-2026!"})

    assert answer.status_code == 400
    # The same sentence as for a name no account has: whether it exists is not ours to tell.
    assert "no account was given the role" in answer.content.decode()
    assert "already has an account" not in answer.content.decode()
    assert can_sign_in("their-admin", PASSWORD) and not can_sign_in("their-admin", "Hijacked-pass-2026!")
    assert not Membership.objects.filter(user=victim, tenant=ours).exists()  # nothing done


def test_an_existing_account_still_gets_a_role_without_a_password():
    ours, theirs = make_tenant("ours"), make_tenant("theirs")
    admin = signed_in("our-admin", (ours, Role.ADMIN))
    someone = get_user_model().objects.create_user("someone", email="someone@theirs.example", password=PASSWORD)
    Membership.objects.create(user=someone, tenant=theirs, role=Role.OPERATOR)

    # With its own e-mail address, as a colleague adding it knows (tenants.people.add_member).
    assert admin.post("/t/ours/people/add", {"username": "someone", "role": "viewer"}).status_code == 400
    assert admin.post("/t/ours/people/add", {"username": "someone", "role": "viewer",
                                             "email": "someone@theirs.example"}).status_code == 302
    assert Membership.objects.get(user=someone, tenant=ours).role == Role.VIEWER
    assert can_sign_in("someone", PASSWORD)


# --- keys pasted into the OAuth forms --------------------------------------------------------

DEEP = "[" * 5_000 + "]" * 5_000
UNKNOWN_CURVE = '{"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}'


@pytest.mark.parametrize("jwks, says", [
    (DEEP, "not JSON"),
    ('{"keys": [' + UNKNOWN_CURVE + "]}", "not a usable public key"),
    ('{"keys": ' + DEEP + "}", "not JSON"),
])
def test_a_client_jwks_that_is_no_key_set_is_a_form_error_not_a_500(jwks, says):
    tenant = make_tenant("ours")
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/oauth/clients/new", {
        "client_id": "signer", "name": "Signer", "grant_types": "client_credentials", "scopes": "operator:read",
        "auth_method": "private_key_jwt", "jwks": jwks})
    assert answer.status_code == 400
    assert says in answer.content.decode()


def test_a_trust_record_key_on_an_unknown_curve_is_a_form_error_not_a_500():
    from oauth.models import GrantType
    from oauth.registration import ClientSpec, add_client
    tenant = make_tenant("ours")
    add_client(tenant, ClientSpec(client_id="osdm", name="OSDM", redirect_uris=[], scopes=["uic_osdm"],
                                  grant_types=[GrantType.JWT_BEARER.value], auth_method="client_secret_basic"))
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/oauth/trust/new", {
        "client_id": "osdm", "issuer": "https://b.example/", "subject": "S", "kid": "k1",
        "public_key": UNKNOWN_CURVE, "algorithms": "ES256"})
    assert answer.status_code == 400
    assert "not a usable public key" in answer.content.decode()


# --- text that does not fit its column ---------------------------------------------------------
# SQLite stores a 300-character name in a varchar(255) and a NUL anywhere; PostgreSQL
# refuses both (a 500), so the service refuses them first, whatever the database.

@pytest.mark.parametrize("name, says", [("N" * 256, "at most 255 characters"), ("a\x00b", "control character")])
def test_a_client_name_that_does_not_fit_is_a_form_error(name, says):
    from oauth.models import Client as OAuthClient
    tenant = make_tenant("ours")
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/oauth/clients/new", {
        "client_id": "backend", "name": name, "grant_types": "client_credentials", "scopes": "operator:read",
        "auth_method": "client_secret_basic"})
    assert answer.status_code == 400
    assert says in answer.content.decode()
    assert not OAuthClient.objects.exists()


@pytest.mark.parametrize("field, value, says", [
    ("issuer", "i" * 256, "at most 255 characters"), ("subject", "S\x00", "control character"),
    ("kid", "k" * 256, "at most 255 characters"), ("kid", "k\x00", "control character")])
def test_a_trust_record_field_that_does_not_fit_is_a_form_error(field, value, says):
    from joserfc.jwk import ECKey

    from oauth.models import GrantType, TrustedKey
    from oauth.registration import ClientSpec, add_client
    tenant = make_tenant("ours")
    add_client(tenant, ClientSpec(client_id="osdm", name="OSDM", redirect_uris=[], scopes=["uic_osdm"],
                                  grant_types=[GrantType.JWT_BEARER.value], auth_method="client_secret_basic"))
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    form = {"client_id": "osdm", "issuer": "https://b.example/", "subject": "S", "kid": "k1",
            "public_key": ECKey.generate_key("P-256").as_pem(private=False).decode(), "algorithms": "ES256",
            field: value}
    answer = admin.post("/t/ours/oauth/trust/new", form)
    assert answer.status_code == 400
    assert says in answer.content.decode()
    assert not TrustedKey.objects.exists()


@pytest.mark.parametrize("kid, says", [("k" * 256, "1 to 255 characters"), ("k\x1b[31m", "control character")])
def test_a_station_key_id_that_does_not_fit_is_a_form_error(kid, says):
    from joserfc.jwk import ECKey

    from oauth.models import TrustedKey
    from tests.factories import make_station
    tenant = make_tenant("ours")
    make_station(tenant, "OURS-1")
    operator = signed_in("our-operator", (tenant, Role.OPERATOR))
    answer = operator.post("/t/ours/stations/OURS-1/key-add", {
        "public_key": ECKey.generate_key("P-256").as_pem(private=False).decode(), "kid": kid})
    assert answer.status_code == 400
    assert says in answer.content.decode()
    assert not TrustedKey.objects.exists()


# --- CSV files the csv module itself refuses ----------------------------------------------------

@pytest.mark.parametrize("body", [
    b"identity\n" + b"A" * 200_000 + b"\n",  # a cell over csv's field limit (131072)
    b'identity\n"' + b"a" * 200_000 + b"\n",  # a quote never closed, to the end of the file
])
def test_a_csv_file_the_csv_reader_refuses_is_a_form_error_not_a_500(body):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from csms.models import Station
    tenant = make_tenant("ours")
    operator = signed_in("our-operator", (tenant, Role.OPERATOR))
    answer = operator.post("/t/ours/stations/import", {
        "file": SimpleUploadedFile("fleet.csv", body, "text/csv"), "keys_are_random": "yes"})
    assert answer.status_code == 400
    assert "fleet.csv: not a CSV file the import can read (line 2" in answer.content.decode()
    assert not Station.objects.exists()


# --- imports at once ------------------------------------------------------------------------------
# Each import keeps 2 × CONCURRENCY keys admitted at the process's hashing gate, which
# station handshakes and sign-ins of every tenant share: without a bound, one operator
# starting imports in a loop would take every admission (503 for everyone's handshakes).

def test_only_a_few_imports_run_at_once_in_a_process(monkeypatch):
    import threading

    from django.core.files.uploadedfile import SimpleUploadedFile

    from csms import import_jobs, station_import
    release = threading.Event()

    def slow_run(*args, **kwargs):
        release.wait(30)
        return {"imported": 0, "with_key": 0, "onboarding": 0, "skipped": 0}

    monkeypatch.setattr(station_import, "run", slow_run)
    tenant, other = make_tenant("ours"), make_tenant("theirs")
    operator = signed_in("our-operator", (tenant, Role.OPERATOR))
    stranger = signed_in("their-operator", (other, Role.OPERATOR))

    def start(client, slug, n):
        return client.post(f"/t/{slug}/stations/import", {
            "file": SimpleUploadedFile("fleet.csv", f"identity\nIMP-{slug}-{n}\n".encode(), "text/csv"),
            "master_key": "ef" * 20})

    try:
        started = [start(operator, "ours", n) for n in range(import_jobs.AT_ONCE)]
        assert [r.status_code for r in started] == [302] * import_jobs.AT_ONCE
        refused = start(stranger, "theirs", 99)
        assert refused.status_code == 503 and refused["Retry-After"]
        assert "imports are running" in refused.content.decode()
    finally:
        release.set()
    deadline = __import__("time").monotonic() + 10
    while import_jobs.running() and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.05)
    assert start(stranger, "theirs", 100).status_code == 302


# --- new accounts: the names and e-mail addresses Django's own forms accept ----------------------

@pytest.mark.parametrize("username, email", [
    ("U" * 151, ""), ("a\x00b", ""), ("with space", ""), ("<script>", ""),  # not a Django username
    ("newbie", "not-an-address"), ("newbie", "a@b.example" + "x" * 250), ("newbie", "\x00@b.example"),
])
def test_a_new_account_needs_a_valid_username_and_email(username, email):
    tenant = make_tenant("ours")
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/people/add", {"username": username, "role": "viewer", "email": email,
                                               "password": "A-long-pass-2026!"})
    assert answer.status_code == 400
    assert not get_user_model().objects.exclude(username="our-admin").exists()


@pytest.mark.parametrize("scope", ["a\x00b", "quote\"d", "back\\slash", "é"])
def test_a_client_scope_outside_rfc_6749_is_a_form_error(scope):
    from oauth.models import Client as OAuthClient
    tenant = make_tenant("ours")
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/oauth/clients/new", {
        "client_id": "backend", "name": "Backend", "grant_types": "client_credentials", "scopes": f"ok {scope}",
        "auth_method": "client_secret_basic"})
    assert answer.status_code == 400
    assert "RFC 6749" in answer.content.decode()
    assert not OAuthClient.objects.exists()


# --- instants at the ends of the calendar --------------------------------------------------------
# 9999-12-31T23:59-23:59 is a valid ISO 8601 instant whose UTC is in year 10000: Python's
# datetime overflows when Django turns it into UTC to store it.

EDGES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]


def osdm_client(tenant):
    from oauth.models import GrantType
    from oauth.registration import ClientSpec, add_client
    client, _ = add_client(tenant, ClientSpec(client_id="osdm", name="OSDM", redirect_uris=[], scopes=["uic_osdm"],
                                              grant_types=[GrantType.JWT_BEARER.value],
                                              auth_method="client_secret_basic"))
    return client


def public_pem() -> str:
    from joserfc.jwk import ECKey
    return ECKey.generate_key("P-256").as_pem(private=False).decode()


@pytest.mark.parametrize("edge", EDGES)
def test_a_trust_record_valid_until_beyond_the_calendar_is_a_form_error(edge):
    from oauth.models import TrustedKey
    tenant = make_tenant("ours")
    osdm_client(tenant)
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post("/t/ours/oauth/trust/new", {
        "client_id": "osdm", "issuer": "https://b.example/", "subject": "S", "kid": "k1", "public_key": public_pem(),
        "algorithms": "ES256", "valid_until": edge})
    assert answer.status_code == 400
    assert not TrustedKey.objects.exists()


@pytest.mark.parametrize("edge", EDGES)
def test_a_rollover_overlap_beyond_the_calendar_is_a_form_error(edge):
    from oauth.registration import TrustSpec, add_trust
    tenant = make_tenant("ours")
    record = add_trust(osdm_client(tenant), TrustSpec(issuer="https://b.example/", subject="S", kid="k1",
                                                      key_text=public_pem(), algorithms=["ES256"], scopes=["uic_osdm"]))
    admin = signed_in("our-admin", (tenant, Role.ADMIN))
    answer = admin.post(f"/t/ours/oauth/trust/{record.pk}/rollover", {
        "kid": "k2", "public_key": public_pem(), "algorithms": "ES256", "overlap_until": edge, "confirmed": "yes"})
    assert answer.status_code == 400


def test_an_import_id_that_no_import_could_have_is_a_404_without_asking_the_cache(monkeypatch):
    from csms import import_jobs
    asked = []
    monkeypatch.setattr(import_jobs.cache, "get", lambda key, *a, **k: asked.append(key))
    tenant = make_tenant("ours")
    viewer = signed_in("our-viewer", (tenant, Role.VIEWER))
    for job_id in ["a" * 5000, "not-hex", "A" * 32]:
        assert viewer.get(f"/t/ours/station-imports/{job_id}").status_code == 404
    assert asked == []


def test_an_administrator_cannot_change_their_own_role_and_lowering_one_asks_first():
    """Taking oneself out is refused so that a slip leaves no tenant without an
    administrator; giving oneself a lower role through *Give the role* did just that."""
    ours = make_tenant("ours")
    admin = signed_in("our-admin", (ours, Role.ADMIN))
    other = signed_in("other-admin", (ours, Role.ADMIN))
    refused = admin.post("/t/ours/people/add", {"username": "our-admin", "role": "viewer"})
    assert refused.status_code == 400 and "You cannot change your own role" in refused.content.decode()
    assert Membership.objects.get(user__username="our-admin").role == Role.ADMIN
    asked = admin.post("/t/ours/people/add", {"username": "other-admin", "role": "viewer"})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Make other-admin viewer of" in page and 'value="yes"' in page
    assert Membership.objects.get(user__username="other-admin").role == Role.ADMIN
    assert admin.post("/t/ours/people/add", {"username": "other-admin", "role": "viewer",
                                             "confirmed": "yes"}).status_code == 302
    assert Membership.objects.get(user__username="other-admin").role == Role.VIEWER
    assert other.get("/t/ours/people/").status_code == 200  # still staff, as a viewer
    # Raising a role needs no question.
    assert admin.post("/t/ours/people/add", {"username": "other-admin", "role": "operator"}).status_code == 302
