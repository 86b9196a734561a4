"""The station authentication page's short table of recent decisions: the latest 20 of
the station's `station.auth` events, newest first, with time and zone, method, outcome,
reason and source address; none of another station's; 404 for another tenant's."""
from datetime import timedelta

import pytest
from django.utils import timezone

from csms import auth_audit
from csms.models import AuditEvent, Station
from tenants.models import Role
from tests.portal import test_access
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
fleet, quick_hashes = test_access.fleet, test_access.quick_hashes
AUTH = "/t/acme/stations/ACME-1/auth"


def decision(station, n, outcome="challenged", method="basic", reason="wrong credentials"):
    at = timezone.now() - timedelta(minutes=100 - n)
    return AuditEvent(tenant=station.tenant, station=station, actor="station", action=auth_audit.ACTION,
                      outcome=outcome, at=at,
                      detail={"method": method, "reason": reason, "source": f"192.0.2.{n}", "count": 1,
                              "first": at.isoformat(), "last": at.isoformat()})


def rows_of(html: str) -> list[str]:
    table = html.split('data-testid="auth-decisions"', 1)[1].split("</table>", 1)[0]
    return table.split("<tbody>", 1)[1].split("</tr>")[:-1]


def test_the_latest_twenty_decisions_newest_first(fleet):
    acme1 = Station.objects.get(identity="ACME-1")
    AuditEvent.objects.bulk_create([decision(acme1, n) for n in range(25)]
                                   + [decision(acme1, 30, "accepted", "bearer", "")])
    viewer = signed_in("viewer", (fleet[0], Role.VIEWER))
    html = viewer.get(AUTH).content.decode()
    rows = rows_of(html)
    assert len(rows) == 20
    assert "bearer" in rows[0] and "accepted" in rows[0] and "192.0.2.30" in rows[0]
    assert "192.0.2.24" in rows[1] and "wrong credentials" in rows[1]
    assert "192.0.2.5" not in html.split('data-testid="auth-decisions"', 1)[1]  # the 21st newest is left out
    assert "<time datetime=" in rows[0] and timezone.localtime().strftime("%Z") in rows[0]  # with its zone


def test_no_decisions_yet_and_another_tenants_station(fleet):
    operator = signed_in("operator", (fleet[0], Role.OPERATOR))
    other = Station.objects.get(identity="OTHER-1")
    AuditEvent.objects.bulk_create([decision(other, 1)])
    assert "No handshake recorded yet." in operator.get(AUTH).content.decode()
    assert operator.get("/t/acme/stations/OTHER-1/auth").status_code == 404
