"""The station actions of the portal beyond rotate / registration / reset / disconnect
(tests/portal/test_access.py has those): a station's methods, tokens, TOTP secret and
public keys, registering stations one by one and from a CSV file, and the dashboard's
chart of authentication failures. Each action for an operator, 403 for a viewer, 404
for another tenant's station; a secret shown exactly once."""
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from joserfc.jwk import ECKey

from csms import auth_audit, import_jobs, posture, station_import
from csms.models import AuditEvent, Station, StationToken, StationTotp
from oauth.models import TrustedKey
from tenants.models import Role
from tests.factories import make_station
from tests.portal import test_access
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
AUTH = "/t/acme/stations/ACME-1/auth"
# Two tenants (acme with ACME-1, other with OTHER-1), and quick password hashes.
fleet, quick_hashes = test_access.fleet, test_access.quick_hashes


@pytest.fixture
def operator(fleet):
    return signed_in("operator", (fleet[0], Role.OPERATOR))


def station(identity="ACME-1") -> Station:
    return Station.objects.select_related("tenant", "credential").get(identity=identity)


def page(client, url=AUTH) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


ACTIONS = [("methods", {"methods": ["token", "basic"]}),
           ("token-issue", {"label": "cabinet"}),
           ("token-revoke", {"token": "nope", "confirmed": "yes"}),
           ("totp-issue", {}),
           ("totp-revoke", {"confirmed": "yes"}),
           ("key-add", {"public_key": EC.as_pem().decode()}),
           ("key-retire", {"kid": "ec-1", "confirmed": "yes"})]


# --- who may do what -------------------------------------------------------------------------

def test_a_viewer_reads_the_page_and_is_refused_every_action(fleet):
    viewer = signed_in("viewer", (fleet[0], Role.VIEWER))
    shown = page(viewer)
    assert "basic" in shown and "Issue a token" not in shown and "Register the key" not in shown
    for suffix, form in ACTIONS:
        assert viewer.post(f"/t/acme/stations/ACME-1/{suffix}", form).status_code == 403, suffix
    assert not StationToken.objects.exists() and not StationTotp.objects.exists() and not TrustedKey.objects.exists()
    assert station().auth_methods is None


def test_another_tenants_station_and_a_stranger_get_404(fleet, operator):
    assert operator.get("/t/acme/stations/OTHER-1/auth").status_code == 404
    stranger = signed_in("stranger", (fleet[1], Role.ADMIN))
    assert stranger.get(AUTH).status_code == 404
    for suffix, form in ACTIONS:
        assert operator.post(f"/t/acme/stations/OTHER-1/{suffix}", form).status_code == 404, suffix
        assert stranger.post(f"/t/acme/stations/ACME-1/{suffix}", form).status_code == 404, suffix
    assert not StationToken.objects.exists() and not TrustedKey.objects.exists()


def test_an_identity_with_slashes_keeps_its_actions_apart(fleet, operator):
    make_station(fleet[0], "site/7/auth", key=bytes(range(2, 22)), origin="generated",
                 allowed_protocols=["ocpp1.6"])
    assert "site/7/auth" in page(operator, "/t/acme/stations/site/7/auth/auth")
    assert operator.post("/t/acme/stations/site/7/auth/token-issue", {}).status_code == 200
    assert StationToken.objects.get().station.identity == "site/7/auth"


# --- methods ---------------------------------------------------------------------------------

def test_the_page_shows_each_inherited_list_and_which_applies(fleet, operator):
    shown = page(operator)
    assert "its own list" in shown and "the tenant&#x27;s default" in shown and "✓ applies" in shown
    assert "never connected" in shown


def test_an_operator_sets_the_stations_own_ordered_methods_and_clears_them(fleet, operator):
    operator.post("/t/acme/stations/ACME-1/token-issue", {})
    response = operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token", "", "basic"]})
    assert response.status_code == 302 and response["Location"] == AUTH
    assert station().auth_methods == ["token", "basic"]
    assert "token, basic" in page(operator)
    operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"], "inherit": "yes"})
    assert station().auth_methods is None


def test_a_bad_list_is_a_form_error_in_the_services_words(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["basic", "basic"]})
    assert response.status_code == 400 and "a method is named twice" in response.content.decode()
    response = operator.post("/t/acme/stations/ACME-1/methods", {"methods": [""]})
    assert response.status_code == 400 and "give at least one method" in response.content.decode()
    assert station().auth_methods is None


def test_a_list_that_strands_the_station_is_refused_unless_applied_anyway(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"]})
    assert response.status_code == 409
    shown = response.content.decode()
    assert "no method they hold a credential" in shown and "ACME-1" in shown and "Apply anyway…" in shown
    assert station().auth_methods is None
    asked = operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"], "force": "yes"})
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.content.decode()
    assert station().auth_methods is None
    operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"], "force": "yes", "confirmed": "yes"})
    assert station().auth_methods == ["token"]


def test_taking_away_the_method_of_the_live_connection_asks_first(fleet, operator):
    Station.objects.filter(identity="ACME-1").update(connected=True, last_auth_method="basic")
    operator.post("/t/acme/stations/ACME-1/token-issue", {})
    asked = operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"]})
    assert asked.status_code == 200 and "Stop ACME-1 using basic?" in asked.content.decode()
    assert station().auth_methods is None and station().connected
    operator.post("/t/acme/stations/ACME-1/methods", {"methods": ["token"], "confirmed": "yes"})
    assert station().auth_methods == ["token"] and not station().connected  # downgrade protection


# --- tokens ----------------------------------------------------------------------------------

def test_a_token_is_shown_once_and_listed_without_its_secret(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/token-issue", {"label": "cabinet 4"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = response.content.decode()
    row = StationToken.objects.get()
    secret = shown.split('data-testid="secret">')[1].split("<")[0]
    assert secret.startswith(f"cgt_{row.public_id}_") and "Shown once" in shown
    assert "may not use token yet" in shown
    listed = page(operator)
    assert row.public_id in listed and "cabinet 4" in listed and secret not in listed
    assert secret not in page(operator, "/t/acme/stations/ACME-1/")
    assert secret not in page(operator, "/t/acme/audit/")
    event = AuditEvent.objects.get(action="token.issued")
    assert event.actor == "operator" and secret not in str(event.detail) + event.outcome


def test_revoking_a_token_asks_first_then_revokes_and_warns(fleet, operator):
    operator.post("/t/acme/stations/ACME-1/token-issue", {})
    token = StationToken.objects.get()
    asked = operator.post("/t/acme/stations/ACME-1/token-revoke", {"token": token.public_id})
    assert f"Revoke token {token.public_id} of ACME-1?" in asked.content.decode()
    token.refresh_from_db()
    assert token.active
    done = operator.post("/t/acme/stations/ACME-1/token-revoke", {"token": token.public_id, "confirmed": "yes"},
                         follow=True)
    token.refresh_from_db()
    assert not token.active and f"Token {token.public_id} revoked." in done.content.decode()
    assert AuditEvent.objects.filter(action="token.revoked", actor="operator").exists()


# --- TOTP ------------------------------------------------------------------------------------

def test_a_totp_secret_and_its_uri_are_shown_once(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/totp-issue", {"validity": "60", "length": "10"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = response.content.decode()
    secret = shown.split('data-testid="secret">')[1].split("<")[0]
    uri = shown.split('data-testid="uri">')[1].split("<")[0]
    assert len(secret) == 32 and uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert "digits=10" in uri and "period=60" in uri
    row = StationTotp.objects.get()
    assert (row.validity, row.length) == (60, 10)
    listed = page(operator)
    assert row.public_id in listed and secret not in listed and "Replace the secret…" in listed
    assert secret not in str(list(AuditEvent.objects.values_list("detail", "outcome")))


def test_replacing_a_totp_secret_asks_first_and_leaves_one_active(fleet, operator):
    operator.post("/t/acme/stations/ACME-1/totp-issue", {})
    first = StationTotp.objects.get()
    asked = operator.post("/t/acme/stations/ACME-1/totp-issue", {"replace": "yes"})
    assert "Replace the TOTP secret of ACME-1?" in asked.content.decode()
    again = operator.post("/t/acme/stations/ACME-1/totp-issue", {"replace": "yes", "confirmed": "yes"})
    assert again.status_code == 200 and 'data-testid="secret"' in again.content.decode()
    active = StationTotp.objects.filter(revoked_at__isnull=True)
    assert active.count() == 1 and active.get().pk != first.pk


def test_bad_totp_parameters_are_form_errors(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/totp-issue", {"length": "40"})
    assert response.status_code == 400 and "No secret issued" in response.content.decode()
    assert not StationTotp.objects.exists()


def test_removing_the_totp_secret_asks_first(fleet, operator):
    operator.post("/t/acme/stations/ACME-1/totp-issue", {})
    assert "Remove the TOTP secret" in operator.post("/t/acme/stations/ACME-1/totp-revoke").content.decode()
    assert StationTotp.objects.filter(revoked_at__isnull=True).exists()
    operator.post("/t/acme/stations/ACME-1/totp-revoke", {"confirmed": "yes"})
    assert not StationTotp.objects.filter(revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="totp.revoked", actor="operator").exists()


# --- public keys -----------------------------------------------------------------------------

def test_a_pasted_pem_registers_a_key_listed_with_its_fingerprint(fleet, operator):
    response = operator.post("/t/acme/stations/ACME-1/key-add", {"public_key": EC.as_pem().decode(), "kid": "ec-1"})
    assert response.status_code == 302
    shown = page(operator)
    assert "ec-1" in shown and "ES256" in shown and EC.thumbprint() in shown
    assert TrustedKey.objects.get().issuer == "ACME-1"
    assert AuditEvent.objects.filter(action="key.added", actor="operator", outcome="ec-1").exists()


@pytest.mark.parametrize("text, says", [
    ("-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----", "not a public key"),
    ('{"kty": "EC", "crv": "P-256"', "not a usable public key"),
    ('{"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}', "not a usable public key"),  # joserfc: KeyError
    ('{"x": ' + "[" * 5_000 + "]" * 5_000 + "}", "not a usable public key"),  # json: RecursionError
    (EC.as_pem(private=True).decode(), "private key"),
    ("", "required"),
])
def test_a_bad_key_is_a_form_error_not_a_500(fleet, operator, text, says):
    response = operator.post("/t/acme/stations/ACME-1/key-add", {"public_key": text})
    assert response.status_code == 400
    shown = response.content.decode()
    assert "Not registered" in shown and says in shown
    assert "-----BEGIN" not in shown  # what was pasted is not written back: it may be a private key
    assert not TrustedKey.objects.exists()


def test_retiring_a_key_asks_first(fleet, operator):
    operator.post("/t/acme/stations/ACME-1/key-add", {"public_key": EC.as_pem().decode(), "kid": "ec-1"})
    assert "Retire key ec-1 of ACME-1?" in operator.post("/t/acme/stations/ACME-1/key-retire",
                                                         {"kid": "ec-1"}).content.decode()
    assert TrustedKey.objects.get().retired_at is None
    done = operator.post("/t/acme/stations/ACME-1/key-retire", {"kid": "ec-1", "confirmed": "yes"}, follow=True)
    assert TrustedKey.objects.get().retired_at is not None and "Key ec-1 retired" in done.content.decode()


# --- registering one station ---------------------------------------------------------------

def test_a_viewer_may_not_register_or_import(fleet):
    viewer = signed_in("viewer", (fleet[0], Role.VIEWER))
    assert viewer.get("/t/acme/stations/register").status_code == 403
    assert viewer.post("/t/acme/stations/register", {"identity": "NEW-1", "key_choice": "generate"}).status_code == 403
    assert viewer.post("/t/acme/stations/import", {"file": csv("identity,key\nNEW-1," + "ab" * 20)}).status_code == 403
    assert "Register a station" not in page(viewer, "/t/acme/stations/")
    stranger = signed_in("stranger", (fleet[1], Role.ADMIN))
    assert stranger.get("/t/acme/stations/register").status_code == 404
    assert stranger.post("/t/acme/stations/register", {"identity": "NEW-1", "key_choice": "generate"}).status_code == 404
    assert stranger.post("/t/acme/stations/import", {"file": csv("identity,key\nNEW-1," + "ab" * 20)}).status_code == 404
    assert not Station.objects.filter(identity="NEW-1").exists()


def test_registering_with_a_generated_key_shows_it_once(fleet, operator):
    assert "Register a station" in page(operator, "/t/acme/stations/")
    response = operator.post("/t/acme/stations/register", {
        "identity": "NEW-1", "allowed_protocols": ["ocpp1.6"], "registration_setting": "Accepted",
        "key_choice": "generate"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = response.content.decode().split('data-testid="secret">')[1].split("<")[0]
    assert len(key) == 40
    new = station("NEW-1")
    assert new.allowed_protocols == ["ocpp1.6"] and new.has_key
    assert key not in page(operator, "/t/acme/stations/NEW-1/")
    assert AuditEvent.objects.filter(station=new, actor="operator").exists()


def test_registering_with_the_stations_own_key_goes_to_its_page(fleet, operator):
    response = operator.post("/t/acme/stations/register", {
        "identity": "NEW-2", "allowed_protocols": ["ocpp1.6", "ocpp2.0.1"], "key_choice": "key", "key": "ab" * 20})
    assert response.status_code == 302 and response["Location"] == "/t/acme/stations/NEW-2/"
    assert station("NEW-2").credential.current_origin == "installed"


@pytest.mark.parametrize("form, status, says", [
    ({"identity": "has/slash", "allowed_protocols": ["ocpp2.0.1"], "key_choice": "generate"}, 400, "OCPP 2.0.1 allows"),
    ({"identity": "NEW-3", "allowed_protocols": ["ocpp1.6"], "key_choice": "key", "key": "12zz"}, 400, "key:"),
    ({"identity": "NEW-3", "allowed_protocols": [], "key_choice": "generate"}, 400, "allowed_protocols"),
    ({"identity": "ACME-1", "allowed_protocols": ["ocpp1.6"], "key_choice": "generate"}, 409, "exists already"),
])
def test_a_bad_registration_is_a_form_error(fleet, operator, form, status, says):
    response = operator.post("/t/acme/stations/register", form)
    assert response.status_code == status and says in response.content.decode()
    assert "12zz" not in response.content.decode()  # a key is never written back into the page
    assert Station.objects.filter(tenant=fleet[0]).count() == 1


# --- importing a CSV file -------------------------------------------------------------------

def csv(text: str | bytes, name="fleet.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def test_a_file_with_a_bad_line_writes_nothing_and_names_the_line(fleet, operator):
    text = "identity,key\nNEW-1," + "ab" * 20 + "\nbad/one,\nNEW-1," + "cd" * 20 + "\n"
    response = operator.post("/t/acme/stations/import", {"file": csv(text), "master_key": "ef" * 20})
    assert response.status_code == 400
    shown = response.content.decode()
    assert "Nothing imported" in shown and "line 3:" in shown and "line 4: NEW-1 appears twice" in shown
    assert "ab" * 20 not in shown and "ef" * 20 not in shown
    assert not Station.objects.filter(identity__startswith="NEW").exists()
    assert not AuditEvent.objects.filter(action="station.registered", actor="operator").exists()


def test_a_file_that_is_no_csv_is_a_form_error(fleet, operator):
    response = operator.post("/t/acme/stations/import", {"file": csv("identity;key\nX;1\n")})
    assert response.status_code == 400 and "separated by &#x27;;&#x27;" in response.content.decode()
    assert operator.post("/t/acme/stations/import", {}).status_code == 400
    latin = operator.post("/t/acme/stations/import", {"file": csv(b"identity\nNEW-\xe9\n")})
    assert latin.status_code == 400 and "not UTF-8 at line 2" in latin.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_good_file_is_imported_in_the_background_and_reaches_100_percent(fleet, operator):
    rows = "".join(f"BULK-{n:05},{n:040x}\n" for n in range(1, 10_001))
    response = operator.post("/t/acme/stations/import", {"file": csv("identity,key\n" + rows),
                                                         "keys_are_random": "yes"})
    assert response.status_code == 302 and response["Location"].startswith("/t/acme/station-imports/")
    job_url = response["Location"]
    # The request answered once the file was checked: the import goes on behind it.
    assert 'hx-trigger="every 1s"' in page(operator, job_url)
    deadline = time.monotonic() + 300
    while True:
        live = operator.get(job_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-live").content.decode()
        if "data-testid=\"import-summary\"" in live or time.monotonic() > deadline:
            break
        assert 'hx-trigger="every 1s"' in live  # still polling while it runs
        time.sleep(0.2)
    assert "100 %" in live and "Imported 10000 stations (10000 with their keys" in live
    assert 'hx-trigger' not in live  # finished: the page stops asking
    assert Station.objects.filter(tenant=fleet[0], identity__startswith="BULK-").count() == 10_000
    assert AuditEvent.objects.filter(action="station.registered", actor="operator").count() == 10_000
    stranger = signed_in("stranger", (fleet[1], Role.ADMIN))
    assert stranger.get(job_url.replace("/t/acme/", "/t/other/")).status_code == 404


# --- the dashboard's chart of refused handshakes -------------------------------------------

def decided(tenant, identity, outcome, method, at, count=1):
    """Audit events as the handshake writes them (`auth_audit.write`, coalesced `count`)."""
    target = Station.objects.get(tenant=tenant, identity=identity)
    decision = auth_audit.Decision(tenant.pk, target.pk, method, outcome, "wrong credentials", "192.0.2.7")
    auth_audit.write({decision: auth_audit._Seen(count, at, at)})


def test_the_failures_chart_counts_the_tenants_refused_handshakes_per_hour(fleet, operator):
    acme, other = fleet
    if timezone.now().minute == 59 and timezone.now().second >= 55:
        time.sleep(6)  # the page reads the clock again: not across the hour
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    decided(acme, "ACME-1", "challenged", "basic", now, count=3)  # three coalesced decisions
    decided(acme, "ACME-1", "malformed", "digest", now)
    decided(acme, "ACME-1", "challenged", "none", hour_ago, count=2)
    decided(acme, "ACME-1", "accepted", "basic", now, count=5)  # let in: not a failure
    decided(acme, "ACME-1", "challenged", "basic", now - timedelta(hours=30))  # outside the window
    decided(other, "OTHER-1", "challenged", "basic", now, count=7)  # another tenant's

    failures = posture.summary(acme)["auth_failures"]
    by_hour = dict(failures["by_hour"])
    assert len(failures["by_hour"]) == 24 and failures["by_hour"][-1][0] == f"{now:%H}:00"
    assert by_hour[f"{now:%H}:00"] == 4 and by_hour[f"{hour_ago:%H}:00"] == 2 and sum(by_hour.values()) == 6
    assert failures["by_kind"] == [("challenged · basic", 3), ("challenged · none", 2), ("malformed · digest", 1)]

    shown = page(operator, "/t/acme/")
    assert f"<td>{now:%H}:00</td><td>4</td>" in shown and "<td>challenged · basic</td><td>3</td>" in shown
    assert "Refused handshakes" in shown and 'data-chart="auth-failures-hourly-data"' in shown


JOB_ID = "0123456789abcdef0123456789abcdef"  # a uuid4().hex, as import_jobs.start makes


def test_an_import_raced_by_a_registration_writes_nothing_and_says_so(fleet):
    checked = station_import.check_file(fleet[0], "identity,key\nNEW-1," + "ab" * 20 + "\nNEW-2," + "cd" * 20,
                                        None, keys_are_random=True, skip_existing=False)
    make_station(fleet[0], "NEW-2", key=bytes(range(3, 23)), origin="generated")  # after the check
    job = import_jobs.Job(fleet[0], JOB_ID, total=station_import.work_of(checked), actor="operator")
    job.run(checked, None, True)  # what the thread runs
    shown = import_jobs.status(fleet[0], JOB_ID)
    assert shown["state"] == "failed" and "created meanwhile" in shown["error"]
    assert not Station.objects.filter(identity="NEW-1").exists()
    assert import_jobs.status(fleet[1], JOB_ID) is None  # another tenant's id is no job
