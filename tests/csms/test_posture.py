"""The dashboard's figures (csms/posture.py) and the page that shows them."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.utils import timezone

from csms import posture
from csms.models import CredentialChange, KeyOrigin, RegistrationStatus, Station, StationCredential
from tenants.models import Membership, Role
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


def station(tenant, identity, *, origin=KeyOrigin.GENERATED, age_days=0, **fields):
    made = make_station(tenant, identity, key=identity.encode().ljust(20, b"-")[:20], origin=origin,
                        needs_unique_key=origin == KeyOrigin.MASTER, **fields)
    StationCredential.objects.filter(station=made).update(current_since=timezone.now() - timedelta(days=age_days))
    return made


def test_figures_count_the_tenants_own_stations_only():
    acme, other = make_tenant("acme"), make_tenant("other")
    station(acme, "A1", connected=True, ocpp_version="2.0.1", last_auth_method="basic")
    station(acme, "A2", connected=True, ocpp_version="1.6", last_auth_method="digest", age_days=100)
    station(acme, "A3", origin=KeyOrigin.MASTER, age_days=400, registration_status=RegistrationStatus.PENDING)
    failed = station(acme, "A4", last_auth_method="basic", age_days=40)
    CredentialChange.objects.create(tenant=acme, station=failed, trigger="demand", state="failed")
    CredentialChange.objects.create(tenant=acme, station=failed, trigger="demand", state="queued")
    station(other, "B1", connected=True, ocpp_version="1.6", last_auth_method="basic")

    figures = posture.summary(acme)
    assert figures["connections"] == {"total": 4, "connected": 2, "by_version": [("1.6", 1), ("2.0.1", 1)]}
    assert figures["auth_methods"] == [("basic", 2), ("digest", 1), ("never connected", 1)]
    assert figures["key_ages"] == [("under 30 days", 1), ("30–90 days", 1), ("90–365 days", 1),
                                   ("over a year", 1), ("no key", 0)]
    assert figures["key_risks"] == {"on_series_key": 1, "on_basic": 2}
    assert figures["rotations"] == {"in_progress": 1, "failed": 1, "succeeded": 0}
    assert figures["onboarding"] == {"held_since": None, "waiting": 1, "pending": 1}


def test_the_dashboard_shows_them_and_its_live_part_alone(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    acme = make_tenant("acme", name="Acme Charging")
    station(acme, "A1", connected=True, ocpp_version="2.0.1", last_auth_method="basic")
    user = get_user_model().objects.create_user("viewer", password="pw-dashboard-1")
    Membership.objects.create(user=user, tenant=acme, role=Role.VIEWER)
    client.force_login(user)
    page = client.get("/t/acme/").content.decode()
    assert "of 1 stations connected" in page and 'id="dashboard-live"' in page
    assert "<td>2.0.1</td><td>1</td>" in page  # the chart's table: readable without the chart
    part = client.get("/t/acme/", headers={"HX-Request": "true", "HX-Target": "dashboard-live"}).content.decode()
    assert "of 1 stations connected" in part and "<html" not in part
    assert Station.objects.count() == 1
    # The charts' library and ours come from static/, nothing from a CDN.
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/chart.umd.min.js" in assets and "/static/js/charts.js" in assets
    assert all(a.startswith("/static/") and finders.find(a.removeprefix("/static/")) for a in assets), assets


def test_everyone_watching_a_dashboard_shares_its_figures_for_a_few_seconds(settings, django_assert_num_queries):
    settings.CSMS = {**settings.CSMS, "DASHBOARD_CACHE_SECONDS": 60}
    acme, other = make_tenant("acme"), make_tenant("other")
    station(acme, "A1")
    first = posture.shared_summary(acme)
    station(acme, "A2")
    with django_assert_num_queries(0):
        assert posture.shared_summary(acme) == first
    assert posture.shared_summary(other)["connections"]["total"] == 0  # each tenant its own
    settings.CSMS = {**settings.CSMS, "DASHBOARD_CACHE_SECONDS": 0}
    assert posture.shared_summary(acme)["connections"]["total"] == 2
    cache.delete_many([posture.cache_key(acme), posture.cache_key(other)])  # pks come back in later tests


def test_a_method_or_version_the_csms_no_longer_writes_is_counted_as_other():
    acme = make_tenant("acme")
    station(acme, "A1", connected=True, ocpp_version="2.0.1", last_auth_method="basic")
    station(acme, "A2", connected=True, ocpp_version="1.5", last_auth_method="kerberos")
    figures = posture.summary(acme)
    assert figures["auth_methods"] == [("basic", 1), ("other", 1)]
    assert figures["connections"]["by_version"] == [("2.0.1", 1), ("other", 1)]
