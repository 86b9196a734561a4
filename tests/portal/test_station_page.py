"""What a station's page shows (issue 12): last boot data, credential metadata (never a
secret), rotation history, calls, and its connection history."""
from datetime import timedelta

import pytest
from django.utils import timezone

from csms import auth_audit
from csms.models import AuditEvent, CredentialChange
from tenants.models import Role
from tests.factories import make_station, make_tenant
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
KEY = bytes(range(20))


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def handshake(station, outcome, method, source, *, count=1, minutes_ago=0):
    when = timezone.now() - timedelta(minutes=minutes_ago)
    decision = auth_audit.Decision(station.tenant_id, station.pk, method, outcome, "", source)
    auth_audit.event(decision, auth_audit._Seen(count, when, when)).save()


def test_the_page_shows_boot_data_key_metadata_and_rotations_but_no_secret():
    acme = make_tenant("acme")
    station = make_station(acme, "CP-1", key=KEY, origin="generated", vendor="Alfen", model="Eve",
                           firmware_version="6.1.0", last_heartbeat_at=timezone.now())
    CredentialChange.objects.create(tenant=acme, station=station, trigger="demand", state="failed",
                                    outcome="Rejected")
    page = signed_in("viewer", (acme, Role.VIEWER)).get("/t/acme/stations/CP-1/").content.decode()
    assert all(fact in page for fact in ("Alfen", "Eve", "6.1.0", "Rotation history", "Rejected", "Last Heartbeat"))
    assert KEY.hex() not in page.lower() and "argon2" not in page
    assert page.count("<time ") == page.count(" UTC</time>") > 0  # every time carries its zone


def test_the_connection_history_lists_the_handshakes_that_let_it_in_newest_first():
    acme, other = make_tenant("acme"), make_tenant("other")
    station = make_station(acme, "CP-1", key=KEY)
    elsewhere = make_station(other, "CP-1", key=KEY)
    handshake(station, "accepted", "basic", "10.0.0.7", count=3, minutes_ago=30)
    handshake(station, "accepted", "digest", "10.0.0.8")
    handshake(station, "no_subprotocol", "digest", "10.0.0.9", minutes_ago=10)
    handshake(station, "challenged", "basic", "192.0.2.66")  # refused: on the authentication page
    handshake(elsewhere, "accepted", "totp", "198.51.100.1")
    client = signed_in("viewer", (acme, Role.VIEWER))
    for headers in ({}, {"HX-Request": "true", "HX-Target": "station-live"}):
        page = client.get("/t/acme/stations/CP-1/", headers=headers).content.decode()
        history = page[page.index("Connection history"):page.index('id="h-connectors"')]
        assert [a in history for a in ("10.0.0.8", "10.0.0.9", "10.0.0.7")] == [True] * 3
        assert history.index("10.0.0.8") < history.index("10.0.0.9") < history.index("10.0.0.7")
        assert "no OCPP version in common" in history and "<td>3</td>" in history
        assert "192.0.2.66" not in history and "198.51.100.1" not in page
    assert AuditEvent.objects.filter(action=auth_audit.ACTION).count() == 5
