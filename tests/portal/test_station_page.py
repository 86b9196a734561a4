"""What a station's page shows (issue 12): last boot data, credential metadata (never a
secret), rotation history, calls, and its connection history."""
import pytest
from django.utils import timezone

from csms import connection_log
from csms.models import CredentialChange, StationConnection
from csms.protocol import recent
from tenants.models import Role
from tests.factories import make_station, make_tenant
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
KEY = bytes(range(20))


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


def connect(station, seq, source, *, method="basic", user_agent="Fw/1", closed=(1000, "closed by the station")):
    connection_log.opened(station.pk, station.tenant_id, seq, f"n.{seq}", method=method, source=source,
                          user_agent=user_agent)
    if closed:
        connection_log.closed(station.pk, seq, *closed, recent.Ring().snapshot())


def history_of(page: str) -> str:
    return page[page.index('id="h-connections"'):page.index('id="h-connectors"')]


def test_the_connection_history_shows_each_connection_newest_first_and_how_it_closed():
    acme, other = make_tenant("acme"), make_tenant("other")
    station = make_station(acme, "CP-1", key=KEY)
    elsewhere = make_station(other, "CP-1", key=KEY)
    connect(station, 1, "10.0.0.7", user_agent="Old-Fw/1.0")
    connect(station, 2, "10.0.0.8", method="digest", closed=(4000, "replaced by a newer connection"))
    connect(station, 3, "10.0.0.9", closed=None)  # its server stopped before it could say
    connect(elsewhere, 1, "198.51.100.1")
    client = signed_in("viewer", (acme, Role.VIEWER))
    for headers in ({}, {"HX-Request": "true", "HX-Target": "station-live"}):
        history = history_of(client.get("/t/acme/stations/CP-1/", headers=headers).content.decode())
        assert history.index("10.0.0.9") < history.index("10.0.0.8") < history.index("10.0.0.7")
        assert "4000 replaced by a newer connection" in history and "1000 closed by the station" in history
        assert "digest" in history and "Old-Fw/1.0" in history and "not recorded" in history
        assert "198.51.100.1" not in history
    assert signed_in("stranger", (other, Role.ADMIN)).get("/t/acme/stations/CP-1/").status_code == 404


def test_the_history_keeps_the_last_20_connections_and_the_frames_of_the_newest_two():
    acme = make_tenant("acme")
    station = make_station(acme, "CP-1", key=KEY)
    for seq in range(1, 23):
        connect(station, seq, f"10.0.1.{seq}", closed=None)
        ring = recent.Ring()
        ring.record(recent.IN, recent.CALL, f"Act{seq}", "m", 20)
        connection_log.closed(station.pk, seq, 1000, "", ring.snapshot())
    # Pruned at every fifth connection (connection_log.PRUNE_EVERY): after the 20th, to the
    # last 20; the 21st and 22nd added since.
    kept = StationConnection.objects.filter(station=station)
    assert sorted(kept.values_list("seq", flat=True)) == list(range(1, 23))
    assert sorted(kept.filter(messages_at__isnull=False).values_list("seq", flat=True)) == [19, 20, 21, 22]
    page = signed_in("viewer", (acme, Role.VIEWER)).get("/t/acme/stations/CP-1/").content.decode()
    history = history_of(page)
    assert history.count('data-testid="connection"') == 20
    assert "10.0.1.3<" in history and "10.0.1.2<" not in history and "10.0.1.1<" not in history
    assert "Act22" in page and "Act21" in page and "Act20" not in page
    for seq in range(23, 26):
        connect(station, seq, f"10.0.1.{seq}", closed=None)
    assert sorted(kept.values_list("seq", flat=True)) == list(range(6, 26))  # the 25th pruned
    assert sorted(kept.filter(messages_at__isnull=False).values_list("seq", flat=True)) == []


def test_the_user_agent_is_shown_escaped_and_wraps():
    acme = make_tenant("acme")
    agent = "<script>alert(1)</script>/" + "x" * 150
    make_station(acme, "CP-1", key=KEY, last_user_agent=agent)
    page = signed_in("viewer", (acme, Role.VIEWER)).get("/t/acme/stations/CP-1/").content.decode()
    assert '<dd class="wrap" data-testid="user-agent">&lt;script&gt;alert(1)&lt;/script&gt;/xxx' in page
    assert "<script>alert(1)" not in page
