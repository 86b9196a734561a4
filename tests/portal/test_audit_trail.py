"""One audit trail for everything an operator changes (issue 12): OAuth clients, trust
records and signing keys, the tenant's people, Plug & Charge CAs and contracts, from the
portal (the user's name) and the CLI ("cli"); shown in words on the audit page, offered
by its action menu, exported as CSV, read through the (tenant, action, at) index, and
never holding a secret."""
import base64
import csv
import io
import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from joserfc.jwk import ECKey

from csms.models import AuditEvent
from oauth.models import TrustedKey
from pnc import authorities
from tenants import audit
from tenants.models import Membership, Role
from tests.factories import make_station, make_tenant
from tests.portal.people import signed_in
from tests.portal.test_oauth_pages import contract_with_certificate

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "a-long-pass-2026!"


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def emsp():
    return make_tenant("emsp", name="Emsp Mobility", is_emsp=True, emsp_country_code="DE", emsp_provider_id="8AA")


@pytest.fixture
def admin(emsp):
    return signed_in("alice", (emsp, Role.ADMIN))


def events(tenant, prefix=""):
    return list(AuditEvent.objects.for_tenant(tenant).filter(action__startswith=prefix)
                .order_by("at", "id").values_list("actor", "action"))


def public_pem() -> str:
    return ECKey.generate_key("P-256").as_pem(private=False).decode()


def register_client(admin, client_id="backend", **extra):
    response = admin.post("/t/emsp/oauth/clients/new", {
        "client_id": client_id, "name": "Backend", "grant_types": "client_credentials",
        "auth_method": "client_secret_basic", "scopes": "emsp:read", **extra})
    assert response.status_code == 200
    return response.context["secret"]


def every_row_as_text() -> str:
    return json.dumps([[e.actor, e.action, e.outcome, e.detail] for e in AuditEvent.objects.all()])


# --- what is recorded ------------------------------------------------------------------------

def test_every_oauth_change_on_the_pages_is_audited_with_the_administrators_name(emsp, admin):
    register_client(admin)
    admin.post("/t/emsp/oauth/clients/backend/rotate-secret", {"confirmed": "yes"})
    admin.post("/t/emsp/oauth/trust/new", {"client_id": "backend", "issuer": "https://b.example/", "subject": "S",
                                           "kid": "k1", "public_key": public_pem(), "algorithms": "ES256"})
    record = TrustedKey.objects.get(kid="k1")
    admin.post(f"/t/emsp/oauth/trust/{record.pk}/rollover", {
        "kid": "k2", "public_key": public_pem(), "algorithms": "ES256", "overlap_until": "2099-01-01T00:00",
        "confirmed": "yes"})
    admin.post(f"/t/emsp/oauth/trust/{TrustedKey.objects.get(kid='k2').pk}/retire", {"confirmed": "yes"})
    admin.post("/t/emsp/oauth/signing-keys/rotate", {"at_once": "yes", "confirmed": "yes"})
    admin.post("/t/emsp/oauth/clients/backend/remove", {"confirmed": "yes"})
    assert events(emsp, "oauth.") == [("alice", action) for action in (
        "oauth.client_added", "oauth.client_secret_rotated", "oauth.trust_added", "oauth.trust_added",
        "oauth.trust_rolled_over", "oauth.trust_retired", "oauth.signing_key_rotated", "oauth.client_removed")]
    rolled = AuditEvent.objects.get(action="oauth.trust_rolled_over")
    assert rolled.detail["kid"] == "k1" and rolled.detail["next_kid"] == "k2"
    assert rolled.detail["accepted_until"] == "2099-01-01T00:00:00Z"


def test_a_question_asked_first_records_nothing_until_it_is_answered(emsp, admin):
    register_client(admin)
    admin.post("/t/emsp/oauth/clients/backend/remove")  # the confirmation page only
    assert events(emsp, "oauth.client_removed") == []


def test_a_refused_change_records_nothing(emsp, admin):
    register_client(admin)
    register_client_again = admin.post("/t/emsp/oauth/clients/new", {
        "client_id": "backend", "grant_types": "client_credentials", "auth_method": "client_secret_basic"})
    assert register_client_again.status_code == 400
    assert events(emsp, "oauth.") == [("alice", "oauth.client_added")]


def test_people_changes_are_audited_with_who_made_them(emsp, admin):
    admin.post("/t/emsp/people/add", {"username": "newbie", "role": "viewer", "password": GOOD_PASSWORD})
    admin.post("/t/emsp/people/add", {"username": "newbie", "role": "operator"})
    member = Membership.objects.get(tenant=emsp, user__username="newbie")
    admin.post(f"/t/emsp/people/{member.pk}/remove", {"confirmed": "yes"})
    assert events(emsp, "people.") == [("alice", "people.added"), ("alice", "people.role_changed"),
                                       ("alice", "people.removed")]
    added, changed, removed = AuditEvent.objects.for_tenant(emsp).filter(action__startswith="people.").order_by("id")
    assert added.detail == {"username": "newbie", "new_account": True} and added.outcome == "viewer"
    assert changed.detail == {"username": "newbie", "previous": "viewer"} and changed.outcome == "operator"
    assert removed.outcome == "operator"


def test_the_commands_audit_as_cli(emsp, monkeypatch, tmp_path):
    out = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("oauth", "client", "add", "emsp", "cli-backend", "--grant", "client_credentials",
                 "--scope", "emsp:read", **out)
    call_command("oauth", "client", "rotate-secret", "emsp", "cli-backend", **out)
    (first := tmp_path / "k1.pem").write_text(public_pem())
    (second := tmp_path / "k2.pem").write_text(public_pem())
    call_command("oauth", "trust", "add", "emsp", "cli-backend", "--issuer", "https://s.example/", "--subject",
                 "S", "--kid", "k1", "--public-key", str(first), "--alg", "ES256", **out)
    call_command("oauth", "trust", "rollover", "emsp", "https://s.example/", "k1", "--new-kid", "k2",
                 "--public-key", str(second), "--alg", "ES256", "--overlap-until", "2099-01-01T00:00:00Z", **out)
    call_command("oauth", "trust", "retire", "emsp", "https://s.example/", "k2", **out)
    call_command("oauth", "keys", "rotate", "emsp", "--now", **out)
    call_command("pnc", "ca", "init", "emsp", **out)
    call_command("pnc", "ca", "rollover", "emsp", **out)
    driver = get_user_model().objects.create_user("dana")
    contract = contract_with_certificate(emsp, driver, "1A2B3C4D5")  # its issuance is audited as "test"
    call_command("pnc", "contract", "revoke", "emsp", contract.emaid, "--reason", "keyCompromise", **out)
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD_PASSWORD + "\n"))
    call_command("user", "add", "emsp", "carol", "--role", "viewer", "--password-stdin", **out)
    call_command("user", "remove", "emsp", "carol", "--yes", **out)
    assert [e for e in events(emsp) if e[0] != "test"] == [("cli", action) for action in (
        "oauth.client_added", "oauth.client_secret_rotated", "oauth.trust_added", "oauth.trust_added",
        "oauth.trust_rolled_over", "oauth.trust_retired", "oauth.signing_key_rotated", "ca.initialised",
        "ca.rolled_over", "contract.revoked", "people.added", "people.removed")]
    assert AuditEvent.objects.get(action="contract.revoked").detail["reason"] == "keyCompromise"
    made = AuditEvent.objects.get(action="ca.initialised")
    assert made.outcome == "issuing" and sorted(made.detail) == ["root", "sub-ca-1", "sub-ca-2"]
    assert "MO Sub-CA 2" in made.detail["sub-ca-2"] and ", key " in made.detail["sub-ca-2"]


def test_a_secret_never_reaches_the_audit_trail(emsp, admin, client):
    secret = register_client(admin)
    rotated = admin.post("/t/emsp/oauth/clients/backend/rotate-secret", {"confirmed": "yes"}).context["secret"]
    basic = "Basic " + base64.b64encode(f"backend:{rotated}".encode()).decode()
    issued = client.post("/oauth/emsp/token", urlencode({"grant_type": "client_credentials", "scope": "emsp:read"}),
                         content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=basic)
    assert issued.status_code == 200
    access_token = issued.json()["access_token"]
    call_command("oauth", "client", "add", "emsp", "cli-backend", "--grant", "client_credentials",
                 stdout=(cli := io.StringIO()), stderr=io.StringIO())
    cli_secret = cli.getvalue().rsplit(": ", 1)[1].strip()
    operator_site = make_tenant("acme")
    make_station(operator_site, "ACME-1")
    operator = signed_in("olivia", (operator_site, Role.OPERATOR))
    shown = operator.post("/t/acme/stations/ACME-1/token-issue", {"label": "cabinet"}).content.decode()
    station_token = shown.split('data-testid="secret">')[1].split("<")[0]
    recorded = every_row_as_text()
    assert "oauth.client_secret_rotated" in recorded and "token.issued" in recorded
    for value in (secret, rotated, access_token, cli_secret, station_token):
        assert len(value) >= 20 and value not in recorded


@pytest.mark.parametrize("name", ["client_secret", "password", "token", "private_key", "pem", "jwk"])
def test_a_detail_named_like_a_secret_is_refused_before_anything_is_written(emsp, name):
    with pytest.raises(audit.SecretInDetail):
        audit.record(emsp, "cli", "oauth.client_added", **{name: "x"})
    assert not AuditEvent.objects.exists()


# --- the audit page --------------------------------------------------------------------------

def test_the_audit_page_says_what_happened_offers_every_action_and_exports_them(emsp, admin):
    register_client(admin)
    admin.post("/t/emsp/people/add", {"username": "newbie", "role": "viewer", "password": GOOD_PASSWORD})
    authorities.initialise(emsp, actor="alice")
    viewer = signed_in("victor", (emsp, Role.VIEWER))
    page = viewer.get("/t/emsp/audit/").content.decode()
    assert "Registered the OAuth client backend (client_secret_basic)" in page
    issuing = authorities.hierarchy(emsp)[-1].subject
    assert "Gave newbie the viewer role" in page and f"Created the MO PKI; {issuing}, key " in page
    menu = page[page.index('id="a-action"'):page.index("</select>", page.index('id="a-action"'))]
    for action in ("oauth.client_added", "oauth.trust_rolled_over", "oauth.signing_key_rotated", "people.added",
                   "people.removed", "ca.rolled_over", "contract.revoked", "campaign.started", "token.issued"):
        assert f'value="{action}"' in menu, action
    filtered = viewer.get("/t/emsp/audit/?action=people.added")
    table = filtered.content.decode().split("<table", 1)[1]
    assert 'value="people.added" selected' in filtered.content.decode()
    assert "Gave newbie the viewer role" in table and "Registered the OAuth client" not in table
    exported = b"".join(viewer.get("/t/emsp/audit/export.csv").streaming_content).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert {row[2] for row in rows[1:]} == {"oauth.client_added", "people.added", "ca.initialised"}
    assert all(row[1] == "alice" for row in rows[1:])


def test_an_action_no_app_describes_is_still_filtered_on_and_shown_as_itself(emsp):
    audit.record(emsp, "system", "mystery.thing", "odd")
    viewer = signed_in("victor", (emsp, Role.VIEWER))
    page = viewer.get("/t/emsp/audit/?action=mystery.thing").content.decode()
    assert 'value="mystery.thing" selected' in page and page.split("<table", 1)[1].count("mystery.thing") == 2


def test_a_member_of_another_tenant_sees_none_of_these_events(emsp, admin):
    register_client(admin)
    stranger = signed_in("mallory", (make_tenant("other"), Role.ADMIN))
    assert stranger.get("/t/emsp/audit/").status_code == 404
    assert "backend" not in stranger.get("/t/other/audit/").content.decode().split("<table", 1)[1]


def test_the_action_filter_reads_the_tenant_action_index(emsp, admin):
    register_client(admin)
    viewer = signed_in("victor", (emsp, Role.VIEWER))
    with CaptureQueriesContext(connection) as queries:
        assert viewer.get("/t/emsp/audit/?action=oauth.client_added").status_code == 200
    listing = [q["sql"] for q in queries.captured_queries
               if 'FROM "csms_auditevent"' in q["sql"] and "oauth.client_added" in q["sql"]]
    assert len(listing) == 1
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A test database is too small for the planner to prefer any index on its own:
            # asked to avoid sequential scans, it must find this one usable.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + listing[0])
            plan = " ".join(str(row[0]) for row in cursor.fetchall())
            assert "csms_audit_tenant_action_at" in plan, plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + listing[0])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "USING INDEX csms_audit_tenant_action_at" in plan, plan


# --- who may find out which accounts exist ------------------------------------------------------

@pytest.fixture
def foreigner():
    """An account of another tenant that emsp's administrator may not see."""
    user = get_user_model().objects.create_user("their-admin", email="Boss@Other.example", password=GOOD_PASSWORD)
    Membership.objects.create(user=user, tenant=make_tenant("other"), role=Role.ADMIN)
    return user


def refusal(response) -> tuple[int, str]:
    page = response.content.decode()
    return response.status_code, page.split('id="people-error">', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize("form", [
    {},                                              # no password: "add the existing account"
    {"email": "guess@other.example"},                # with a wrong guess of its address
    {"password": GOOD_PASSWORD},                     # a password: "create it"
    {"password": "short"},                           # a password the validators refuse
    {"password": GOOD_PASSWORD, "email": "not an address"},
])
def test_another_tenants_account_and_a_free_name_get_the_same_refusal(emsp, admin, foreigner, form):
    taken = admin.post("/t/emsp/people/add", {"username": "their-admin", "role": "viewer", **form})
    free = admin.post("/t/emsp/people/add", {"username": "no-one-has-it", "role": "viewer", **form})
    if form.get("password") == GOOD_PASSWORD and "email" not in form:
        # A free name with a good password creates the account: a global name is taken or
        # not. The taken one is refused in the words used for every other unseen name.
        assert free.status_code == 302 and refusal(taken)[0] == 400
        assert "no account was given the role" in refusal(taken)[1]
    else:
        assert refusal(taken) == refusal(free)
    assert not Membership.objects.filter(tenant=emsp, user=foreigner).exists()
    foreigner.refresh_from_db()
    assert foreigner.check_password(GOOD_PASSWORD)


def test_an_existing_account_is_added_with_its_own_address(emsp, admin, foreigner):
    added = admin.post("/t/emsp/people/add", {"username": "their-admin", "role": "operator",
                                              "email": " boss@other.example "})
    assert added.status_code == 302
    assert Membership.objects.get(tenant=emsp, user=foreigner).role == Role.OPERATOR
    # Now a member here, the administrator sees it and changes its role by name alone (a
    # lower role after a confirmation).
    assert admin.post("/t/emsp/people/add", {"username": "their-admin", "role": "viewer",
                                             "confirmed": "yes"}).status_code == 302
    assert Membership.objects.get(tenant=emsp, user=foreigner).role == Role.VIEWER
    # A password for it is still refused: it belongs to another tenant too.
    taken_over = admin.post("/t/emsp/people/add", {"username": "their-admin", "role": "viewer",
                                                   "password": "another-long-pass-77"})
    assert taken_over.status_code == 400 and "already has an account" in refusal(taken_over)[1]
    foreigner.refresh_from_db()
    assert foreigner.check_password(GOOD_PASSWORD)


def test_the_platform_operators_command_still_adds_any_account_by_name(emsp, foreigner):
    call_command("user", "add", "emsp", "their-admin", "--role", "viewer", stdout=io.StringIO())
    assert Membership.objects.get(tenant=emsp, user=foreigner).role == Role.VIEWER
