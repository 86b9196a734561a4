"""Who may open which portal page and take which action: every page and action of the
portal, for every role, and tenant isolation (a stranger gets 404, never a hint)."""
import pytest
from django.test import Client

from csms.models import AuditEvent, CredentialChange, RegistrationStatus, Station
from tenants.models import Role
from tests.factories import make_station, make_tenant
from tests.portal.people import PASSWORD, signed_in

pytestmark = pytest.mark.django_db

PAGES = ["/t/acme/", "/t/acme/stations/", "/t/acme/stations/ACME-1/"]
ACTIONS = [("/t/acme/stations/ACME-1/rotate", {}),
           ("/t/acme/stations/ACME-1/registration", {"registration": "Pending"}),
           ("/t/acme/stations/ACME-1/reset", {"type": "Soft", "confirmed": "yes"}),
           ("/t/acme/stations/ACME-1/disconnect", {"confirmed": "yes"})]


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    # These tests sign in dozens of users; what they test is who may do what, not argon2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fleet():
    acme, other = make_tenant("acme", name="Acme Charging"), make_tenant("other", name="Other Power")
    make_station(acme, "ACME-1", key=bytes(range(20)), origin="generated", vendor="VendorA")
    make_station(other, "OTHER-1", key=bytes(range(1, 21)), origin="generated", vendor="VendorB")
    return acme, other



def test_signed_out_users_are_sent_to_sign_in(client, fleet):
    for url in ["/", *PAGES]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for url, form in ACTIONS:
        response = client.post(url, form)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert CredentialChange.objects.count() == 0


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
def test_every_staff_role_sees_every_page_of_its_tenant(fleet, role):
    client = signed_in("staff", (fleet[0], role))
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "OTHER-1" not in response.content.decode() and "Other Power" not in response.content.decode()


def test_a_viewer_is_refused_every_action_and_sees_no_action_button(fleet):
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    for url, form in ACTIONS:
        assert client.post(url, form).status_code == 403, url
    assert "Rotate key now" not in client.get("/t/acme/stations/ACME-1/").content.decode()
    assert CredentialChange.objects.count() == 0
    assert Station.objects.get(identity="ACME-1").registration_status == RegistrationStatus.ACCEPTED


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
def test_operators_and_admins_may_act(fleet, role):
    client = signed_in("operator", (fleet[0], role))
    for url, form in ACTIONS:
        assert client.post(url, form).status_code == 302, url
    assert CredentialChange.objects.filter(station__identity="ACME-1", requested_by="operator").count() == 1
    assert Station.objects.get(identity="ACME-1").registration_status == RegistrationStatus.PENDING
    assert AuditEvent.objects.filter(action="station.registration_changed", actor="operator").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.DRIVER])
def test_a_member_of_another_tenant_gets_404_for_every_page_and_action(fleet, role):
    client = signed_in("stranger", (fleet[1], role))
    for url in PAGES:
        assert client.get(url).status_code == 404, url
    for url, form in ACTIONS:
        assert client.post(url, form).status_code == 404, url
    assert CredentialChange.objects.count() == 0


def test_another_tenants_station_is_404_under_ones_own_tenant(fleet):
    client = signed_in("operator", (fleet[0], Role.OPERATOR))
    assert client.get("/t/acme/stations/OTHER-1/").status_code == 404
    assert client.post("/t/acme/stations/OTHER-1/rotate").status_code == 404
    assert client.get("/t/nope/").status_code == 404  # an unknown tenant: the same answer
    assert CredentialChange.objects.count() == 0


def test_actions_need_post_and_a_csrf_token(fleet):
    client = signed_in("operator", (fleet[0], Role.OPERATOR))
    assert client.get("/t/acme/stations/ACME-1/rotate").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="operator", password=PASSWORD)
    assert strict.post("/t/acme/stations/ACME-1/rotate").status_code == 403
    assert CredentialChange.objects.count() == 0


def test_a_driver_gets_only_their_own_page(fleet):
    client = signed_in("driver", (fleet[0], Role.DRIVER))
    assert client.get("/")["Location"] == "/my/"
    for url in PAGES:
        assert client.get(url).status_code == 404, url


def test_home_leads_to_the_only_tenant_or_offers_a_choice(fleet):
    single = signed_in("single", (fleet[0], Role.VIEWER))
    assert single.get("/")["Location"] == "/t/acme/"
    several = signed_in("several", (fleet[0], Role.VIEWER), (fleet[1], Role.OPERATOR))
    chooser = several.get("/").content.decode()
    assert "Acme Charging" in chooser and "Other Power" in chooser
    several.get("/t/other/")
    assert several.get("/")["Location"] == "/t/other/"  # back to the tenant last opened
    switcher = several.get("/t/other/").content.decode()
    assert "Switch tenant" in switcher and 'href="/t/acme/"' in switcher


def test_destructive_actions_ask_first(fleet):
    client = signed_in("operator", (fleet[0], Role.OPERATOR))
    for url, form in [("/t/acme/stations/ACME-1/reset", {"type": "Soft"}),
                      ("/t/acme/stations/ACME-1/reset", {}),  # a form without its field asks too
                      ("/t/acme/stations/ACME-1/registration", {"registration": "Rejected"}),
                      ("/t/acme/stations/ACME-1/rotate", {"compromised": "yes"})]:
        asked = client.post(url, form)
        assert asked.status_code == 200 and "Yes, go ahead" in asked.content.decode(), url
    assert Station.objects.get(identity="ACME-1").registration_status == RegistrationStatus.ACCEPTED
    assert CredentialChange.objects.count() == 0
    assert client.post("/t/acme/stations/ACME-1/registration",
                       {"registration": "Rejected", "confirmed": "yes"}).status_code == 302
    assert Station.objects.get(identity="ACME-1").registration_status == RegistrationStatus.REJECTED
